-- manage.lua: helpers of the management scripts (rerun, retry_failed,
-- update, cancel_many, prune). Included after common.lua with
-- `-- @include manage`; not a script of its own.

local WAITING = {scheduled = true, retrying = true}

-- Most succeeded runs `<id>:x` keeps (the newest).
local MAX_KEPT_RUNS = 100

-- Keeps the record of a succeeded run that a rerun is about to overwrite
-- (its `st`, `w`, `ft`) in `<id>:x`, so the job's execution history still
-- shows it. Failed, lost and cancelled runs are in the error list already.
local function keep_run(jobs, id, st)
  local key = id .. ':x'
  local raw = redis.call('HGET', jobs, key)
  local runs = raw and cjson.decode(raw) or {}
  runs[#runs + 1] = {at = st.ft, started = st.st, attempt = st.a, worker = st.w,
    outcome = 'succeeded'}
  while #runs > MAX_KEPT_RUNS do
    table.remove(runs, 1)
  end
  redis.call('HSET', jobs, key, cjson.encode(runs))
end

-- Makes a finished job runnable again (rexecutor's rerun): one more allowed
-- attempt, due after delay_ms, out of its finished index, result dropped.
-- `sched` and `ready` are the job's task keys, `retrying` the retrying
-- counts. Returns 1 done, 0 not finished, -5 cancelled but still held by
-- its worker (try after it lets go).
local function rerun_job(jobs, running, indexes, unique, sched, ready, id, st, now, delay_ms, retrying)
  if not FINISHED[st.s] then
    return 0
  end
  if st.s == 'cancelled' and redis.call('ZSCORE', running, id) then
    return -5
  end
  redis.call('ZREM', indexes[st.s], id)
  redis.call('HDEL', jobs, id .. ':r')
  if st.s == 'succeeded' then
    keep_run(jobs, id, st)
  end
  st.m = st.m + 1
  st.s = st.a == 0 and 'scheduled' or 'retrying'
  if st.s == 'retrying' then
    redis.call('HINCRBY', retrying, st.t, 1)
  end
  st.due = now + delay_ms
  st.ft = nil
  if st.due > now then
    redis.call('ZADD', sched, st.due, id)
  else
    redis.call('ZADD', ready, ready_score(st.p, st.due), id)
  end
  if st.u and not redis.call('HGET', unique, st.u) then
    redis.call('HSET', unique, st.u, id) -- the identity is free: hold it again
  end
  redis.call('HSET', jobs, id, cjson.encode(st))
  return 1
end

-- Whether the job's tags include every tag of `wanted` (a list).
local function has_tags(st, wanted)
  if #wanted == 0 then
    return true
  end
  local mine = {}
  for _, t in ipairs(st.tg or {}) do
    mine[t] = true
  end
  for _, t in ipairs(wanted) do
    if not mine[t] then
      return false
    end
  end
  return true
end

-- A set (table name -> true) from a JSON list.
local function set_of(json)
  local out = {}
  for _, v in ipairs(cjson.decode(json)) do
    out[v] = true
  end
  return out
end

-- Deletes finished jobs (records and index entries) and the identities they
-- still hold; `created` is the created index.
local function forget_jobs(jobs, index, unique, ids, states, created)
  for k, id in ipairs(ids) do
    local st = states[k]
    if st and st.u and redis.call('HGET', unique, st.u) == id then
      redis.call('HDEL', unique, st.u)
    end
  end
  delete_jobs(jobs, index, ids, created)
end
