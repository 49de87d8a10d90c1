-- common.lua: helpers shared by every script. Not a script of its own: the
-- loader (rtask/_scripts.py) prepends it where a script says `-- @include common`.
--
-- Invariants every script keeps (see lua/README.md for the key layout):
--   * an unfinished job is in exactly one of scheduled:<task>, ready:<task>, running;
--   * `active` holds, per task, the number of members of `running` of that task;
--   * a job's record lives in the queue's `jobs` hash under <id> (state JSON),
--     <id>:p (payload), <id>:r (result), <id>:e (errors JSON array),
--     <id>:g (progress JSON), <id>:l (job log JSON array) and <id>:x (runs
--     that succeeded before a rerun, JSON array).

-- @include core

-- Lua's unpack() is limited to a few thousand values: long argument lists
-- are sent in chunks. `head` holds the arguments before the list (e.g. the key).
local CHUNK = 6000

local function call_chunked(cmd, head, list)
  local n = #list
  local i = 1
  while i <= n do
    local j = math.min(i + CHUNK - 1, n)
    local args = {}
    for _, h in ipairs(head) do
      args[#args + 1] = h
    end
    for k = i, j do
      args[#args + 1] = list[k]
    end
    redis.call(cmd, unpack(args))
    i = j + 1
  end
end

-- Collects ZADD pairs per key, sent as one ZADD per key by flush_zadds.
local function add_to(batch, key, score, member)
  local list = batch[key]
  if not list then
    list = {}
    batch[key] = list
  end
  list[#list + 1] = score
  list[#list + 1] = member
end

local function flush_zadds(batch)
  for key, list in pairs(batch) do
    call_chunked('ZADD', {key}, list)
  end
end

-- The error list `old` (a JSON array, or false/nil for none) with one more
-- entry: a JSON object built by the client without `at`, stamped here with
-- the server time, and with `started` (ms, the run's claim time) when the
-- entry ends a run (nil: the job was waiting). Each entry is one execution
-- of the job's history (rtask/_history.py). Pure string work: no decode.
local function with_error(old, entry_json, now, started)
  local entry = '{"at":' .. now .. (started and (',"started":' .. started) or '') .. ','
    .. string.sub(entry_json, 2)
  if old then
    return string.sub(old, 1, -2) .. ',' .. entry .. ']'
  end
  return '[' .. entry .. ']'
end

-- Appends one error entry to a job's error list (see with_error).
local function append_error(jobs, id, entry_json, now, started)
  local key = id .. ':e'
  redis.call('HSET', jobs, key, with_error(redis.call('HGET', jobs, key), entry_json, now, started))
end

-- The optional keys a caller passes after a script's fixed keys (from
-- KEYS[first] on), told apart by name: `created`, the created-time index
-- (App(index_created=True)), and `events`, the events stream (App(events=True));
-- nil when not passed (off).
local function optional_keys(first)
  local out = {}
  for k = first, #KEYS do
    local key = KEYS[k]
    if string.sub(key, -9) == '}:created' then
      out.created = key
    elseif string.sub(key, -8) == '}:events' then
      out.events = key
    elseif string.sub(key, -9) == '}:handoff' then
      out.handoff = key
    end
  end
  return out
end

-- Removes every field of each job's record, the ids from `created` (the
-- queue's created-time index, nil when off: when on, every record is in it,
-- so every script that deletes passes it), and the ids from `index` if given.
local function delete_jobs(jobs, index, ids, created)
  if #ids == 0 then
    return
  end
  local fields = {}
  for _, id in ipairs(ids) do
    fields[#fields + 1] = id
    fields[#fields + 1] = id .. ':p'
    fields[#fields + 1] = id .. ':r'
    fields[#fields + 1] = id .. ':e'
    fields[#fields + 1] = id .. ':g'
    fields[#fields + 1] = id .. ':l'
    fields[#fields + 1] = id .. ':x'
  end
  call_chunked('HDEL', {jobs}, fields)
  if created then
    call_chunked('ZREM', {created}, ids)
  end
  if index then
    call_chunked('ZREM', {index}, ids)
  end
end

-- Keeps a terminal index (score = finished time) within its retention: drops
-- the oldest beyond max_count and entries older than max_age_ms (the oldest
-- first either way: the age query is skipped when the count's pops show that
-- none is left), at most `budget` per call, so the work per call is bounded and memory stays flat
-- as long as each call removes at least as many as it adds.
-- `created` is the created-time index (see delete_jobs).
local function trim_terminal(index, jobs, now, max_age_ms, max_count, budget, created)
  local removed = 0
  local young = false -- true once every entry left is known to be within max_age_ms
  if max_count > 0 then
    local excess = redis.call('ZCARD', index) - max_count
    if excess > 0 then
      local popped = redis.call('ZPOPMIN', index, math.min(excess, budget))
      local ids = {}
      for k = 1, #popped, 2 do
        ids[#ids + 1] = popped[k]
      end
      delete_jobs(jobs, nil, ids, created)
      removed = #ids
      -- the entries left are no older than the youngest one popped
      young = #popped > 0 and tonumber(popped[#popped]) > now - max_age_ms
    end
  end
  if max_age_ms > 0 and not young and removed < budget then
    local old = redis.call('ZRANGEBYSCORE', index, '-inf', now - max_age_ms, 'LIMIT', 0, budget - removed)
    delete_jobs(jobs, index, old, created)
  end
end

-- Lifecycle events. A script's caller turns them on by passing the queue's
-- `events` stream key after the script's other keys (`stream` is then that
-- key, else nil: off). One entry per transition, written by the script that
-- makes it, so an event exists if and only if its transition happened. The
-- stream is capped near EVENTS_MAXLEN entries (MAXLEN ~: trimmed by whole
-- nodes, O(1) amortised). `st` is the job's state after the transition;
-- `extra` an optional list of more field, value pairs.
local EVENTS_MAXLEN = 10000

local function emit_event(stream, kind, id, st, now, extra)
  if not stream then
    return
  end
  local args = {'XADD', stream, 'MAXLEN', '~', EVENTS_MAXLEN, '*',
    'e', kind, 'id', id, 't', st.t, 'a', st.a, 'at', now}
  if extra then
    for _, v in ipairs(extra) do
      args[#args + 1] = v
    end
  end
  redis.call(unpack(args))
end

-- Cancels job `id` (state `st`, of the task whose sets are `scheduled` and
-- `ready`): a waiting job leaves its queue and is cancelled at once (code 1);
-- a running job is marked cancelled and keeps its place in `running` (its
-- slot) until its worker acknowledges or its lease expires (code 2); a
-- finished job is left untouched (code 0). `cancelled` is the cancelled
-- index, trimmed to max age `keep_ms` and `keep_count`; `stream` the events
-- stream (nil: events off); `created` the created-time index; `retrying`
-- the retrying counts (see count_retrying).
local function cancel_job(jobs, cancelled, scheduled, ready, id, st, reason, now, keep_ms, keep_count,
    stream, created, retrying)
  local code
  if st.s == 'scheduled' or st.s == 'retrying' then
    if st.s == 'retrying' then
      redis.call('HINCRBY', retrying, st.t, -1)
    end
    redis.call('ZREM', scheduled, id)
    redis.call('ZREM', ready, id)
    redis.call('ZADD', cancelled, now, id)
    trim_terminal(cancelled, jobs, now, keep_ms, keep_count, 8, created)
    code = 1
  elseif st.s == 'running' then
    code = 2
  else
    return 0
  end
  -- a running job's entry ends its run: its worker and start (see with_error)
  local worker = code == 2 and st.w or nil
  append_error(jobs, id, cjson.encode({attempt = st.a, type = 'cancelled', message = reason,
    worker = worker}), now, worker and st.st)
  st.s = 'cancelled'
  st.ft = now
  redis.call('HSET', jobs, id, cjson.encode(st))
  emit_event(stream, 'cancelled', id, st, now, {'reason', reason})
  return code
end

-- Uniqueness (see lua/README.md, "Uniqueness"). A unique job's state holds
-- "u" (its identity: a field of the queue's `unique` hash, whose value is the
-- id of the job holding it), "uh" (how long the hold lasts after the job
-- finishes, ms; -1 = as long as the record exists) and "ue" (an absolute
-- expiry, ms, for idempotency keys; 0 = none).
--
-- Called where a job becomes finished: releases its identity unless the
-- hold outlives the run; a hold that does is indexed by its end in
-- `unique_exp` (ttl: its expiry, indexed at enqueue; after_finish: ft +
-- hold; while the record exists: ft + keep_ms, the retention age of its
-- status, 0 = not indexed), so an enqueue drops it then. Only the holder's own entry is touched (a newer job may have taken
-- the identity over).
local function release_unique(unique, unique_exp, id, st, keep_ms)
  if not st.u or redis.call('HGET', unique, st.u) ~= id then
    return
  end
  local hold, expires = st.uh or 0, st.ue or 0
  if hold == 0 and expires == 0 then
    redis.call('HDEL', unique, st.u)
  elseif expires > 0 then
    return -- indexed by its expiry since enqueue
  elseif hold > 0 then
    redis.call('ZADD', unique_exp, st.ft + hold, st.u)
  elseif keep_ms > 0 then
    redis.call('ZADD', unique_exp, st.ft + keep_ms, st.u)
  end
end

-- The status a caller sees: a scheduled job whose time has come is queued.
local function public_status(st, now)
  if st.s == 'scheduled' and st.due <= now then
    return 'queued'
  end
  return st.s
end

local FINISHED = {succeeded = true, failed = true, cancelled = true}

-- Whether the holder `st` of an identity still holds it at `now`.
local function holds_unique(st, now)
  if (st.ue or 0) > 0 and now >= st.ue then
    return false
  end
  if FINISHED[st.s] then
    local hold = st.uh or 0
    return hold < 0 or (hold > 0 and now <= (st.ft or now) + hold) or (st.ue or 0) > 0
  end
  return true
end

-- Tells waiters (job.result, app.wait) that jobs finished: the ids among
-- `ids` that a waiter registered in the `done` zset are published, space-
-- separated, on the channel named like that key, and unregistered. When
-- nobody waits this costs one EXISTS.
local function notify_done(done, ids)
  if #ids == 0 or redis.call('EXISTS', done) == 0 then
    return
  end
  local scores = redis.call('ZMSCORE', done, unpack(ids))
  local waited = {}
  for k, id in ipairs(ids) do
    if scores[k] then
      waited[#waited + 1] = id
    end
  end
  if #waited > 0 then
    redis.call('ZREM', done, unpack(waited))
    redis.call('PUBLISH', done, table.concat(waited, ' '))
  end
end
