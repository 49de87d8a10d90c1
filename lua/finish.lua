-- finish.lua: record a batch of outcomes reported by one worker. Each outcome
-- applies only if the job is still running under the same fencing token, so a
-- worker whose lease was taken over can never overwrite the new owner's result.
-- Releases the task's concurrency slot and keeps the terminal indexes within
-- their retention.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  running zset
-- KEYS[3]  active hash
-- KEYS[4], KEYS[5], KEYS[6]  succeeded, failed, cancelled indexes (score = finished ms)
-- KEYS[6+2i-1], KEYS[6+2i]  scheduled:<task i>, ready:<task i>  (i = 1..T)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  wake channel
-- ARGV[3..8]  retention: succeeded max age ms, max count; failed max age ms,
--             max count; cancelled max age ms, max count (0 = no limit)
-- ARGV[9]  T, the number of tasks
-- ARGV[9+2i-1], ARGV[9+2i]  name and cap of task i (cap 0 = no cap)
-- then 5 fields per outcome: id, token, code, delay_ms, blob
--   code 1 succeeded  blob = encoded result ('' = none)
--   code 2 retry      blob = error JSON; waits delay_ms; fails for good when
--                     the attempt was the last one
--   code 3 failed     blob = error JSON; no more attempts
--   code 4 snoozed    waits delay_ms; gives its attempt back
--   code 5 cancelled  blob = error JSON (type "cancelled")
--   code 6 released   handed back unrun (shutdown): gives its attempt back,
--                     keeps its place in line
--
-- Returns {now_ms, result_1, ..., result_n} in outcome order:
--   1 applied; 2 the job had been cancelled meanwhile (outcome ignored, slot
--   released); -1 no such job; -2 lease lost (token or status mismatch);
--   -3 the outcome needs the task's keys and the task was not passed (the job
--   is left running; a client bug).
-- @include common

local jobs, running, active = KEYS[1], KEYS[2], KEYS[3]
local indexes = {succeeded = KEYS[4], failed = KEYS[5], cancelled = KEYS[6]}
local now = now_ms(ARGV[1])
local channel = ARGV[2]
local retention = {
  succeeded = {tonumber(ARGV[3]), tonumber(ARGV[4])},
  failed = {tonumber(ARGV[5]), tonumber(ARGV[6])},
  cancelled = {tonumber(ARGV[7]), tonumber(ARGV[8])},
}
local ntasks = tonumber(ARGV[9])
local task_index, caps = {}, {}
for i = 1, ntasks do
  task_index[ARGV[8 + 2 * i]] = i
  caps[i] = tonumber(ARGV[9 + 2 * i])
end
local first = 10 + 2 * ntasks

local out = {now}
local wake = false
local finished = {succeeded = 0, failed = 0, cancelled = 0}

local function release(task)
  local i = task_index[task]
  local before = tonumber(redis.call('HINCRBY', active, task, -1)) + 1
  -- a capped task with waiting jobs just got a free slot: wake a worker
  if i and caps[i] > 0 and before >= caps[i] and redis.call('ZCARD', KEYS[6 + 2 * i]) > 0 then
    wake = true
  end
end

local function terminal(id, st, status)
  st.s = status
  st.ft = now
  redis.call('ZADD', indexes[status], now, id)
  finished[status] = finished[status] + 1
end

local function wait_again(id, st, due)
  local i = task_index[st.t]
  st.due = due
  if put_waiting(KEYS[5 + 2 * i], KEYS[6 + 2 * i], id, st.p, due, now) then
    wake = true
  end
end

local function apply(id, st, code, delay, blob)
  if code == 1 then
    terminal(id, st, 'succeeded')
    if blob ~= '' then
      redis.call('HSET', jobs, id .. ':r', blob)
    end
  elseif code == 2 then
    append_error(jobs, id, blob, now)
    if st.a >= st.m then
      terminal(id, st, 'failed')
    else
      st.s = 'retrying'
      wait_again(id, st, now + delay)
    end
  elseif code == 3 then
    append_error(jobs, id, blob, now)
    terminal(id, st, 'failed')
  elseif code == 5 then
    append_error(jobs, id, blob, now)
    terminal(id, st, 'cancelled')
  else
    -- 4 snoozed, 6 released: the attempt is given back
    st.a = st.a - 1
    st.s = st.a == 0 and 'scheduled' or 'retrying'
    wait_again(id, st, code == 4 and now + delay or st.due)
  end
end

for j = first, #ARGV, 5 do
  local id = ARGV[j]
  local raw = redis.call('HGET', jobs, id)
  local result = -1
  if raw then
    local st = cjson.decode(raw)
    local code = tonumber(ARGV[j + 2])
    local owned = tostring(st.c) == ARGV[j + 1] and redis.call('ZSCORE', running, id)
    if not owned then
      result = -2
    elseif st.s == 'cancelled' then
      -- cancelled while running: the cancel is final, only the slot is released
      redis.call('ZREM', running, id)
      release(st.t)
      redis.call('ZADD', indexes.cancelled, st.ft or now, id)
      finished.cancelled = finished.cancelled + 1
      result = 2
    elseif st.s ~= 'running' then
      result = -2
    elseif (code == 2 or code == 4 or code == 6) and not task_index[st.t] then
      result = -3
    else
      redis.call('ZREM', running, id)
      release(st.t)
      apply(id, st, code, tonumber(ARGV[j + 3]), ARGV[j + 4])
      redis.call('HSET', jobs, id, cjson.encode(st))
      result = 1
    end
  end
  out[#out + 1] = result
end

-- Retention: remove at least as many old entries as this call added.
for status, added in pairs(finished) do
  if added > 0 then
    local keep = retention[status]
    trim_terminal(indexes[status], jobs, now, keep[1], keep[2], 2 * added + 8)
  end
end

if wake then
  redis.call('PUBLISH', channel, '1')
end
return out
