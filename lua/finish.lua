-- finish.lua: record a batch of outcomes reported by one worker. Each outcome
-- applies only if the job is still running under the same fencing token, so a
-- worker whose lease was taken over can never overwrite the new owner's result.
-- Releases the task's concurrency slot and keeps the terminal indexes within
-- their retention. A schedule's job that ends (succeeded, failed, cancelled)
-- creates its schedule's next job in the same call: the follow-up, at the
-- tick the worker computed, only if the job is still its schedule's active
-- job and the schedule's version did not change (else the schedule becomes
-- pending and plan.lua creates it). Commands are batched: the work per call is a few commands
-- plus the retention trim, whatever the number of outcomes.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  running zset
-- KEYS[3]  active hash
-- KEYS[4], KEYS[5], KEYS[6]  succeeded, failed, cancelled indexes (score = finished ms)
-- KEYS[7], KEYS[8]  schedules hash, pending schedules zset
-- KEYS[8+2i-1], KEYS[8+2i]  scheduled:<task i>, ready:<task i>  (i = 1..T)
-- KEYS[9+2T], KEYS[10+2T], KEYS[11+2T]  unique hash, done zset (waiters; also
--          the channel), unique_exp zset
-- KEYS[12+2T]  retrying hash (task -> number of its jobs with status retrying)
-- KEYS[13+2T], KEYS[14+2T]  throughput hashes of even and odd minutes
--          (task -> jobs finished, succeeded or failed, in that minute;
--          field "~minute" = the minute they count: a hash holding an older
--          minute is emptied before it counts the current one)
-- KEYS[15+2T..]  optional: created index (App(index_created=True)), events
--             stream (given = events on: one event per
--             applied outcome: succeeded, retrying, failed, cancelled,
--             snoozed, released)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  wake channel
-- ARGV[3..8]  retention: succeeded max age ms, max count; failed max age ms,
--             max count; cancelled max age ms, max count (0 = no limit)
-- ARGV[9]  T, the number of tasks
-- ARGV[9+2i-1], ARGV[9+2i]  name and cap of task i (cap 0 = no cap)
-- then 6 fields per outcome: id, token, code, delay_ms, blob, next
--   next: for a schedule's job, its schedule's next tick (ms), -1 stop the
--   schedule, -2 plan nothing (manual); '' = not computed (plan.lua will)
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
--   released); -1 no such job; -2 lease lost (token or status mismatch, or the
--   id repeated in this batch); -3 the outcome needs the task's keys and the
--   task was not passed (the job is left running; a client bug).
-- @include common
-- @include schedule_common

local jobs, running, active = KEYS[1], KEYS[2], KEYS[3]
local indexes = {succeeded = KEYS[4], failed = KEYS[5], cancelled = KEYS[6]}
local schedules, pending = KEYS[7], KEYS[8]
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
local unique, done, unique_exp = KEYS[9 + 2 * ntasks], KEYS[10 + 2 * ntasks], KEYS[11 + 2 * ntasks]
local retrying = KEYS[12 + 2 * ntasks]
local opt = optional_keys(15 + 2 * ntasks)
local created, events = opt.created, opt.events

local ids = {}
for j = first, #ARGV, 6 do
  ids[#ids + 1] = ARGV[j]
end
local out = {now}
if #ids == 0 then
  return out
end

-- Read every record and (for outcomes that add one) error list at once. The
-- lease needs no read for a running job: a job whose status is "running"
-- is in `running` (an invariant of every script), so its token decides. A
-- cancelled job may have left `running` (recovered after its lease expired):
-- its lease is read (rare: one ZSCORE each).
local raws = redis.call('HMGET', jobs, unpack(ids))

-- The common outcome, read without a decode: the first success of a job
-- whose record is an enqueue's, untouched but for claim.lua's tail (see
-- claim.lua's FRESH): the prefix, anchored at the record's start, gives its
-- task; the first later key "s" begins the claim's tail, which ends the
-- record and holds the token; and none of "u" (unique), "sc" (a schedule's
-- job) or "ft" (finished before) is in it, since each asks for more than the
-- plain success below. Returns the task, or nil: then the decode decides
-- (also for a token that does not match), as for every other outcome.
local FRESH_TASK = '^{"ct":%d+,"due":%d+,"t":"([^"\\]*)","s":"scheduled","a":0,"m":%d+,"p":%-?%d+,"c":0,'
local CLAIMED_TAIL = '^,"s":"running","a":%d+,"c":(%d+),"w":"[^"\\]*","st":%d+}$'

local function plain_running(raw, token)
  local _, e, task = string.find(raw, FRESH_TASK)
  if not e then
    return nil
  end
  local tail = string.find(raw, ',"s":"', e, true)
  if not tail or string.match(raw, CLAIMED_TAIL, tail) ~= token
    or string.find(raw, '"u":', e, true) or string.find(raw, '"sc":', e, true)
    or string.find(raw, '"ft":', e, true) then
    return nil
  end
  return task
end

local states, codes, seen = {}, {}, {}
local plain = {}  -- outcome k -> task, for the plain first successes
local error_fields, error_of = {}, {}
for k, id in ipairs(ids) do
  local j = first + 6 * (k - 1)
  local code = tonumber(ARGV[j + 2])
  local result
  local task = code == 1 and not events and not seen[id] and raws[k] and plain_running(raws[k], ARGV[j + 1])
  if task then
    result, plain[k] = 1, task
  elseif not raws[k] then
    result = -1
  else
    local st = cjson.decode(raws[k])
    if seen[id] or tostring(st.c) ~= ARGV[j + 1] then
      result = -2
    elseif st.s == 'cancelled' then
      result = redis.call('ZSCORE', running, id) and 2 or -2
    elseif st.s ~= 'running' then
      result = -2
    elseif (code == 2 or code == 4 or code == 6) and not task_index[st.t] then
      result = -3
    else
      result = 1
      if code == 2 or code == 3 or code == 5 then
        error_fields[#error_fields + 1] = id .. ':e'
        error_of[id] = #error_fields
      end
    end
    states[k] = st
  end
  seen[id] = true
  out[k + 1] = result
  codes[k] = code
end
local old_errors = #error_fields > 0 and redis.call('HMGET', jobs, unpack(error_fields)) or {}

local writes, zadds, released, finished, finished_ids = {}, {}, {}, {}, {}
local ended = {}  -- schedules' jobs that ended: {id, st, next}
local done_count = {}  -- task -> jobs that succeeded or failed in this call
local wake = false
local retried = {}  -- task -> jobs that became retrying (one HINCRBY per task)

-- A job of `task` ends with `status` at `ft`: its index, the call's counts
-- and its waiters (the part of terminal() the fast path below shares).
local function ended_as(id, task, status, ft)
  add_to(zadds, indexes[status], ft, id)
  finished[status] = (finished[status] or 0) + 1
  finished_ids[#finished_ids + 1] = id
  if status ~= 'cancelled' then
    done_count[task] = (done_count[task] or 0) + 1
  end
end

-- A succeeded job's result, when it returned one.
local function store_result(id, blob)
  if blob ~= '' then
    writes[#writes + 1] = id .. ':r'
    writes[#writes + 1] = blob
  end
end

local function terminal(id, st, status, when, next)
  st.s = status
  st.ft = st.ft or when
  ended_as(id, st.t, status, st.ft)
  release_unique(unique, unique_exp, id, st, retention[status][1])
  if st.sc then
    ended[#ended + 1] = {id, st, next}
  end
end

local function wait_again(id, st, due)
  local i = task_index[st.t]
  st.due = due
  if due > now then
    add_to(zadds, KEYS[7 + 2 * i], due, id)
  else
    add_to(zadds, KEYS[8 + 2 * i], ready_score(st.p, due), id)
    wake = true
  end
end

local function add_error(id, blob, started)
  writes[#writes + 1] = id .. ':e'
  writes[#writes + 1] = with_error(old_errors[error_of[id]], blob, now, started)
end

local function apply(id, st, code, delay, blob, next)
  if code == 1 then
    terminal(id, st, 'succeeded', now, next)
    store_result(id, blob)
  elseif code == 2 then
    add_error(id, blob, st.st)
    if st.a >= st.m then
      terminal(id, st, 'failed', now, next)
    else
      st.s = 'retrying'
      retried[st.t] = (retried[st.t] or 0) + 1
      wait_again(id, st, now + delay)
    end
  elseif code == 3 then
    add_error(id, blob, st.st)
    terminal(id, st, 'failed', now, next)
  elseif code == 5 then
    add_error(id, blob, st.st)
    terminal(id, st, 'cancelled', now, next)
  else
    -- 4 snoozed, 6 released: the attempt is given back
    st.a = st.a - 1
    st.s = st.a == 0 and 'scheduled' or 'retrying'
    if st.a > 0 then
      retried[st.t] = (retried[st.t] or 0) + 1
    end
    wait_again(id, st, code == 4 and now + delay or st.due)
  end
end

local succeeded_tail = ',"s":"succeeded","ft":'
local gone = {}
for k, id in ipairs(ids) do
  local result, st, task = out[k + 1], states[k], plain[k]
  if task then
    -- terminal() and apply() for a first success of a job with no unique
    -- identity and no schedule (no event: events are off), without its state
    gone[#gone + 1] = id
    released[task] = (released[task] or 0) + 1
    ended_as(id, task, 'succeeded', now)
    store_result(id, ARGV[first + 6 * (k - 1) + 4])
    writes[#writes + 1] = id
    writes[#writes + 1] = string.sub(raws[k], 1, -2) .. succeeded_tail .. now .. '}'
  elseif result == 1 or result == 2 then
    gone[#gone + 1] = id
    released[st.t] = (released[st.t] or 0) + 1
    local j = first + 6 * (k - 1)
    if result == 2 then
      -- cancelled while running: the cancel is final, only the slot is released
      terminal(id, st, 'cancelled', now, ARGV[j + 5])
    else
      local code = codes[k]
      -- a first success: its two new fields are appended (see claim.lua's
      -- claimed_record), the rest of the record is unchanged
      local appended = code == 1 and st.ft == nil and not string.find(raws[k], succeeded_tail, 1, true)
      apply(id, st, code, tonumber(ARGV[j + 3]), ARGV[j + 4], ARGV[j + 5])
      local kind = code == 4 and 'snoozed' or code == 6 and 'released' or st.s
      emit_event(events, kind, id, st, now, st.ft == nil and {'due', st.due} or nil)
      writes[#writes + 1] = id
      if appended then
        writes[#writes + 1] = string.sub(raws[k], 1, -2) .. succeeded_tail .. now .. '}'
      else
        writes[#writes + 1] = cjson.encode(st)
      end
    end
  end
end

if #gone > 0 then
  call_chunked('ZREM', {running}, gone)
end
for task, count in pairs(released) do
  local after = tonumber(redis.call('HINCRBY', active, task, -count))
  local i = task_index[task]
  -- a capped task with waiting jobs just got free slots: wake a worker
  if i and caps[i] > 0 and after + count >= caps[i] and redis.call('ZCARD', KEYS[8 + 2 * i]) > 0 then
    wake = true
  end
end
if #writes > 0 then
  call_chunked('HSET', {jobs}, writes)
end
flush_zadds(zadds)
for task, count in pairs(retried) do
  redis.call('HINCRBY', retrying, task, count)
end

-- Follow-ups: the next job of each schedule whose job just ended.
for _, e in ipairs(ended) do
  local id, st, next = e[1], e[2], tonumber(e[3])
  local raw = redis.call('HGET', schedules, st.sc)
  local rec = raw and cjson.decode(raw)
  local i = task_index[st.t]
  if rec and rec.a == id and not rec.x and rec.v == st.sv and next and i then
    rec.a = nil
    if next >= 0 then
      local _, woke = create_tick_job(jobs, schedules, st.sc, rec, next,
        KEYS[7 + 2 * i], KEYS[8 + 2 * i], now, events, created)
      wake = wake or woke
      if not rec.a then  -- that tick fired before: plan.lua goes on from it
        redis.call('ZADD', pending, now, st.sc)
      end
    elseif next == -1 then
      rec.x, rec.xr = now, 'ended'
    end
    redis.call('HSET', schedules, st.sc, cjson.encode(rec))
  else
    free_schedule(schedules, pending, id, st, now)
  end
end

-- Throughput: count this call's finished jobs in the current minute's hash.
if next(done_count) then
  local minute = math.floor(now / 60000)
  local bucket = KEYS[13 + 2 * ntasks + minute % 2]
  if redis.call('HGET', bucket, '~minute') ~= tostring(minute) then
    local stale = redis.call('HKEYS', bucket)  -- once a minute: the last one's tasks
    if #stale > 0 then
      redis.call('HDEL', bucket, unpack(stale))
    end
    redis.call('HSET', bucket, '~minute', minute)
  end
  for task, n in pairs(done_count) do
    redis.call('HINCRBY', bucket, task, n)
  end
end

-- Retention: remove at least as many old entries as this call added.
for status, added in pairs(finished) do
  local keep = retention[status]
  trim_terminal(indexes[status], jobs, now, keep[1], keep[2], 2 * added + 8, created)
end

notify_done(done, finished_ids)
if wake then
  redis.call('PUBLISH', channel, '1')
end
return out
