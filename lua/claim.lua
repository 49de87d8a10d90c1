-- claim.lua: promote due scheduled jobs, then pop up to N ready jobs, fairly
-- across tasks and within each task's cluster-wide concurrency cap; mark them
-- running with a lease deadline and a fencing token; return their payloads.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  running zset (score = lease deadline, ms)
-- KEYS[3]  active hash (task -> number of running jobs)
-- KEYS[3+2i-1], KEYS[3+2i]  scheduled:<task i>, ready:<task i>  (i = 1..T)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  worker id
-- ARGV[3]  N, the most jobs to claim (>= 0)
-- ARGV[4]  lease_ms
-- ARGV[5]  promote limit: most scheduled jobs promoted per task per call;
--          negative (-limit): a lazy call, which promotes only when its
--          ready jobs come up short of N (a busy worker's claims skip the
--          scheduled sets; it makes an eager call at least every few ms)
-- ARGV[6]  rotation: index (0-based) of the task served first, for fairness
-- ARGV[7]  T, the number of tasks
-- ARGV[7+2i-1], ARGV[7+2i]  name and cap of task i (cap 0 = no cap)
-- KEYS[3+2T+i]  rate:<task i>  (rate log: zset of recent claims, score = ms)
-- ARGV[7+2T+2i-1], ARGV[7+2T+2i]  rate limit of task i: at most L claims in
--   any P ms (L = 0: no limit), cluster-wide, checked here so a limited job
--   stays ready (never claimed, never uses an attempt)
-- KEYS[4+3T]  retrying hash (task -> number of its jobs with status retrying)
-- KEYS[5+3T]  optional: events stream (given = events on: "started" per job)
--
-- Returns {now_ms, next_due_ms, id_1, state_1, payload_1, ..., id_k, ...}
--   next_due_ms: earliest due time left in the scheduled sets, or the time a
--   rate-limited task with ready jobs may claim again, if earlier; -1 if none
--   (or not read: a lazy call that got its N jobs without promoting).
--   state_k: the job's state JSON after the claim: "s" = "running", "a" the
--   attempt (1 for the first run), "c" the fencing token, "w" the worker.
-- @include common

local jobs, running, active = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms(ARGV[1])
local worker = ARGV[2]
local want = tonumber(ARGV[3])
local lease_until = now + tonumber(ARGV[4])
local promote_limit = tonumber(ARGV[5])
local lazy = promote_limit < 0
if lazy then
  promote_limit = -promote_limit
end
local rotation = tonumber(ARGV[6])
local ntasks = tonumber(ARGV[7])
local retrying = KEYS[4 + 3 * ntasks]
local events = KEYS[5 + 3 * ntasks]

-- 1. Promotion of due scheduled jobs of every task to its ready set. The
-- head of each set is read first: most calls find nothing due and stop
-- there. Returns the number of jobs promoted per task index (tasks with
-- none left out) and sets next_due.
local next_due = -1

local function promote()
  local promoted = {}
  next_due = -1
  for i = 1, ntasks do
    local scheduled, ready = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
    local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
    if head[2] and tonumber(head[2]) <= now then
      local due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'WITHSCORES', 'LIMIT', 0, promote_limit)
      local ids = {}
      for k = 1, #due, 2 do
        ids[#ids + 1] = due[k]
      end
      local states = redis.call('HMGET', jobs, unpack(ids))
      local adds = {}
      for k = 1, #ids do
        if states[k] then
          local priority = cjson.decode(states[k]).p
          adds[#adds + 1] = ready_score(priority, tonumber(due[2 * k]))
          adds[#adds + 1] = ids[k]
        end
      end
      call_chunked('ZREM', {scheduled}, ids)
      call_chunked('ZADD', {ready}, adds)
      if #adds > 0 then
        promoted[i] = #adds / 2
      end
      head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
    end
    if head[2] then
      local t = tonumber(head[2])
      if next_due < 0 or t < next_due then
        next_due = t
      end
    end
  end
  return promoted
end

-- An eager call promotes first; a lazy one only when its passes come up
-- short (then it promotes and asks the tasks that got jobs again).
if not lazy then
  promote()
end

-- Rate limits: a sliding log per limited task (the claims of the last P ms),
-- pruned when the task is first looked at. room[i] is how many more claims
-- the limit allows now.
local room, rate_adds = {}, {}

local function rate_room(i)
  local limit = tonumber(ARGV[6 + 2 * ntasks + 2 * i])
  if limit <= 0 then
    return math.huge
  end
  if room[i] == nil then
    local log = KEYS[3 + 2 * ntasks + i]
    local period = tonumber(ARGV[7 + 2 * ntasks + 2 * i])
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - period)
    room[i] = limit - redis.call('ZCARD', log)
  end
  return room[i]
end

-- Logs the claim of job `id` under fencing token `token` in task i's rate
-- log (member "<id>:<token>"), if the task has a limit. The member is built
-- only then: this runs once per job claimed.
local function rate_log(i, id, token)
  if room[i] ~= nil then
    add_to(rate_adds, KEYS[3 + 2 * ntasks + i], now, id .. ':' .. token)
  end
end

local function rate_used(i, count)
  if room[i] ~= nil then
    room[i] = room[i] - count
  end
end

-- The record of a job just claimed: its fields s, a, c, w and st appended to
-- the stored JSON (later keys override earlier ones, in cjson and orjson alike),
-- which costs a fraction of re-encoding it. A record that already carries such
-- a tail (a claim not followed by a rewrite; or metadata that looks like one)
-- is re-encoded whole, so a record grows by one tail at most.
local tail_head = ',"s":"running","a":'
local tail_rest = ',"w":' .. cjson.encode(worker) .. ',"st":' .. now .. '}'

local function claimed_record(raw, st)
  if string.find(raw, tail_head, 1, true) then
    st.s, st.w, st.st = 'running', worker, now
    return cjson.encode(st)
  end
  return string.sub(raw, 1, -2) .. tail_head .. st.a .. ',"c":' .. st.c .. tail_rest
end

-- A record as an enqueue wrote it, untouched since, is claimed without a
-- decode: its first keys are "ct", "due", then the client's state body in its
-- fixed order (rtask/_protocol/_enqueue.py, state_body: t, s, a, m, p, c), so
-- the pattern, anchored at the record's start, reads top-level keys; and no
-- key "s" comes after them, because every tail a script appends to a record
-- begins with `,"s":"` (this script's, enqueue_plain.lua's hand-off, finish's
-- first success). Then it is waiting (not retrying), with attempt 0 and token
-- 0. Anything else (rewritten by cjson, metadata with such a text) takes the
-- decode: a false "not fresh" costs time, never a wrong state.
local FRESH = '^{"ct":%d+,"due":%d+,"t":"[^"\\]*","s":"scheduled","a":0,"m":%d+,"p":%-?%d+,"c":0,'
local fresh_tail = tail_head .. '1,"c":1' .. tail_rest

local function fresh(raw)
  local _, e = string.find(raw, FRESH)
  return e ~= nil and not string.find(raw, ',"s":"', e, true)
end

-- 2. Pop ready jobs: each pass offers every task still in play an equal
-- share of what is still wanted, the share counted when the task's turn
-- comes (what is wanted over the tasks of the pass not served yet), so what
-- a task earlier in the pass could not give goes to the tasks after it. A
-- task that gives less than its share (at its cap, held by its rate limit,
-- or out of ready jobs) leaves play, so it never blocks the others, and the
-- next pass shares what is left among the rest. When one task has jobs and
-- the tasks out of jobs come first (the worker orders them so), one pass
-- claims everything with a single pop of that task.
local out = {now, next_due}
local leases, records = {}, {}
local left = want

-- Jobs of task i claimed (popped, until their records are read) and
-- retrying jobs of task i claimed by this call: written with one HINCRBY each
-- after the passes.
local claimed_of, retried_of = {}, {}

-- How many more jobs of task i its cap and its rate limit allow now.
local function room_for(i)
  local cap = tonumber(ARGV[7 + 2 * i])
  local allowed = rate_room(i)
  if cap > 0 then
    local busy = tonumber(redis.call('HGET', active, ARGV[6 + 2 * i]) or '0')
    allowed = math.min(allowed, cap - busy - (claimed_of[i] or 0))
  end
  return allowed
end

-- Popped members waiting for their records (one HMGET for all, after the
-- passes): ids and the task index of each.
local popped_ids, popped_task = {}, {}

-- Pops up to `allowed` ready jobs of task i, counted as claimed until their
-- records are read; returns how many members it popped.
local function take(i, allowed)
  local popped = redis.call('ZPOPMIN', KEYS[3 + 2 * i], allowed)
  local count = #popped / 2
  for k = 1, #popped, 2 do
    popped_ids[#popped_ids + 1] = popped[k]
    popped_task[#popped_task + 1] = i
  end
  if count > 0 then
    claimed_of[i] = (claimed_of[i] or 0) + count
    left = left - count
    rate_used(i, count)
  end
  return count
end

-- Reads the records of the popped members and marks them running; returns
-- how many had no record (deleted meanwhile: dropped, and given back to
-- what is wanted and to their task's room).
local function resolve()
  if #popped_ids == 0 then
    return 0
  end
  local fields = {}
  for k, id in ipairs(popped_ids) do
    fields[2 * k - 1] = id
    fields[2 * k] = id .. ':p'
  end
  local values = redis.call('HMGET', jobs, unpack(fields))
  local missing = 0
  for k, id in ipairs(popped_ids) do
    local i = popped_task[k]
    local raw = values[2 * k - 1]
    if raw then
      local enc, token
      if not events and fresh(raw) then  -- (an event needs the decoded state)
        enc, token = string.sub(raw, 1, -2) .. fresh_tail, 1
      else
        local st = cjson.decode(raw)
        if st.s == 'retrying' then
          retried_of[i] = (retried_of[i] or 0) + 1
        end
        st.a = st.a + 1
        st.c = st.c + 1
        enc, token = claimed_record(raw, st), st.c
        if events then  -- (its extra fields are a table per job: built only when on)
          emit_event(events, 'started', id, st, now, {'w', worker})
        end
      end
      records[#records + 1] = id
      records[#records + 1] = enc
      leases[#leases + 1] = lease_until
      leases[#leases + 1] = id
      out[#out + 1] = id
      out[#out + 1] = enc
      out[#out + 1] = values[2 * k]
      rate_log(i, id, token)
    else
      missing = missing + 1
      claimed_of[i] = claimed_of[i] - 1
      left = left + 1
      rate_used(i, -1)
    end
  end
  popped_ids, popped_task = {}, {}
  return missing
end

local out_of_play, in_play = {}, ntasks

local function passes()
  repeat
    while left > 0 and in_play > 0 do
      local unserved = in_play
      for n = 0, ntasks - 1 do
        local i = (rotation + n) % ntasks + 1
        if left > 0 and not out_of_play[i] then
          local allowed = math.min(math.ceil(left / unserved), left, room_for(i))
          unserved = unserved - 1
          -- a task that gives less than asked can give nothing more this call
          if allowed <= 0 or take(i, allowed) < allowed then
            out_of_play[i], in_play = true, in_play - 1
          end
        end
      end
    end
    -- members without a record were popped for nothing: the tasks still in
    -- play are asked again for what they left wanted
  until resolve() == 0 or left <= 0 or in_play == 0
end

passes()
if lazy and left > 0 then
  -- every task is out of play: those that just got due jobs come back
  for i in pairs(promote()) do
    out_of_play[i], in_play = nil, in_play + 1
  end
  passes()
end

for i, got in pairs(claimed_of) do
  if got > 0 then
    redis.call('HINCRBY', active, ARGV[6 + 2 * i], got)
  end
end
for i, retried in pairs(retried_of) do
  if retried > 0 then
    redis.call('HINCRBY', retrying, ARGV[6 + 2 * i], -retried)
  end
end
if #records > 0 then
  call_chunked('HSET', {jobs}, records)
  call_chunked('ZADD', {running}, leases)
end
flush_zadds(rate_adds)

-- 3. A task held back by its rate limit with jobs still ready: the worker
-- claims again when the oldest claim of its log leaves the window.
for i, left_room in pairs(room) do
  local log = KEYS[3 + 2 * ntasks + i]
  local period = tonumber(ARGV[7 + 2 * ntasks + 2 * i])
  if rate_adds[log] then
    redis.call('PEXPIRE', log, period)
  end
  if left_room <= 0 and redis.call('ZCARD', KEYS[3 + 2 * i]) > 0 then
    local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
    local reopen = oldest[2] and tonumber(oldest[2]) + period or now
    if next_due < 0 or reopen < next_due then
      next_due = reopen
    end
  end
end
out[2] = next_due
return out
