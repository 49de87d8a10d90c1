-- enqueue.lua: store one or many jobs of one queue; each goes to its task's
-- scheduled set (due later) or ready set (due now). Unique jobs are checked
-- against the holder of their identity and take it over in the same call.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  tasks set (every task name ever enqueued on this queue)
-- KEYS[2+2i-1], KEYS[2+2i]  scheduled:<task i>, ready:<task i>  (i = 1..T)
-- KEYS[3+2T]  unique hash (identity -> id of the job holding it)
-- KEYS[4+2T]  unique_exp zset (identity -> expiry ms, for identities with a ttl)
-- KEYS[5+2T..]  optional: created index (App(index_created=True)), events stream (given = events on: "enqueued" per job); told apart by name
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  wake channel (published to when an idle worker may have work)
-- ARGV[3]  if_not_exists: '1' = store nothing when any id already exists
-- ARGV[4]  T, the number of distinct tasks in KEYS
-- ARGV[4+i]  name of task i
-- then 7 fields per job:
--   id, task index i (1-based), delay_ms (>= 0), priority (integer),
--   state body (the state JSON without its opening brace; the script adds
--   "ct" and "due"), payload (opaque bytes), unique spec ('' = none; else
--   JSON {k: identity, s: [statuses that conflict], w: window ms (optional),
--   h: hold after finishing ms (-1 = while the record exists), e: ttl ms
--   (0 = none), r: [fields replaced on conflict], rs: [statuses replaced]})
--
-- Returns {now_ms, code_1, ..., code_n} in job order:
--   1 = stored; 0 = a job with that id already exists, or came earlier in
--   this call (left untouched); -7 = not stored: if_not_exists and another
--   id of the call exists; {2, id} = a duplicate of job `id`, which holds
--   the identity (nothing stored); {3, id} = a duplicate, and job `id` got
--   the replaced fields.
-- @include common

local jobs, tasks = KEYS[1], KEYS[2]
local now = now_ms(ARGV[1])
local channel = ARGV[2]
local ntasks = tonumber(ARGV[4])
local unique, unique_exp = KEYS[3 + 2 * ntasks], KEYS[4 + 2 * ntasks]
local first = 5 + ntasks
local opt = optional_keys(5 + 2 * ntasks)
local created, events = opt.created, opt.events
local out = {now}
local wake = false

for i = 1, ntasks do
  redis.call('SADD', tasks, ARGV[4 + i])
end

-- One HMGET tells which ids exist; the writes go out as one HSET and one
-- ZADD per set, so the cost per job is a few table operations.
local ids = {}
for j = first, #ARGV, 7 do
  ids[#ids + 1] = ARGV[j]
end
if #ids == 0 then
  return out
end
local existing = redis.call('HMGET', jobs, unpack(ids))
if ARGV[3] == '1' then
  local seen = {}
  local any = false
  for k, id in ipairs(ids) do
    if existing[k] or seen[id] then
      any = true
    end
    seen[id] = true
  end
  if any then
    for k = 1, #ids do
      out[k + 1] = existing[k] and 0 or -7
    end
    return out
  end
end

local writes, zadds, seen = {}, {}, {}
-- Per task, read once before this call writes its sets: whether its ready
-- set was empty (read for its first job due now), and its earliest
-- scheduled due time (read for its first delayed job).
local ready_was_empty, earliest = {}, {}

local function place(id, ti, due, priority)
  local scheduled, ready = KEYS[1 + 2 * ti], KEYS[2 + 2 * ti]
  if due > now then
    if earliest[ti] == nil then
      local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
      earliest[ti] = head[2] and tonumber(head[2]) or math.huge
    end
    add_to(zadds, scheduled, due, id)
    if due < earliest[ti] then
      -- a new earliest due time: sleeping workers must shorten their wait
      earliest[ti] = due
      wake = true
    end
  else
    if ready_was_empty[ti] == nil then
      ready_was_empty[ti] = redis.call('ZCARD', ready) == 0
    end
    add_to(zadds, ready, ready_score(priority, due), id)
    wake = wake or ready_was_empty[ti]
  end
end

local unique_writes = {}
local pending = {} -- identities taken by earlier jobs of this call, not yet written

-- Sends the batched writes (so far) of this call.
local function flush()
  if #writes > 0 then
    call_chunked('HSET', {jobs}, writes)
  end
  if #unique_writes > 0 then
    call_chunked('HSET', {unique}, unique_writes)
  end
  flush_zadds(zadds)
  writes, unique_writes, zadds, pending = {}, {}, {}, {}
end

-- Identities with a ttl are indexed by expiry: each call that enqueues
-- unique jobs drops expired ones, more than it adds, so idempotency keys
-- never pile up.
local any_unique, ttl_added = false, 0
local function sweep_expired(budget)
  local expired = redis.call('ZRANGEBYSCORE', unique_exp, '-inf', now, 'LIMIT', 0, budget)
  for _, identity in ipairs(expired) do
    local holder = redis.call('HGET', unique, identity)
    local raw = holder and redis.call('HGET', jobs, holder)
    if holder and (not raw or not holds_unique(cjson.decode(raw), now)) then
      redis.call('HDEL', unique, identity)
    end
  end
  if #expired > 0 then
    redis.call('ZREM', unique_exp, unpack(expired))
  end
end

-- The holder of the identity of `spec` when it conflicts with a new job due
-- at `due`: its id and state, else nil.
local function conflicting(spec, due)
  if pending[spec.k] then
    flush() -- the holder came earlier in this call: read it like any other
  end
  local holder = redis.call('HGET', unique, spec.k)
  if not holder then
    return nil
  end
  local raw = redis.call('HGET', jobs, holder)
  local st = raw and cjson.decode(raw)
  if not st or not holds_unique(st, now) then
    return nil
  end
  local status = public_status(st, now)
  local match = false
  for _, s in ipairs(spec.s) do
    match = match or s == status
  end
  if not match or (spec.w and math.abs(st.due - due) > spec.w) then
    return nil
  end
  return holder, st
end

-- Overwrites the fields `spec.r` of the holder with the new job's (only when
-- its status is among `spec.rs`); true if it did.
local function replace(spec, holder, st, ti, due, body, payload)
  local status = public_status(st, now)
  local allowed = false
  for _, s in ipairs(spec.rs or {}) do
    allowed = allowed or s == status
  end
  if not allowed or st.t ~= ARGV[4 + ti] then
    return false
  end
  local new = cjson.decode('{' .. body)
  for _, field in ipairs(spec.r) do
    if field == 'args' then
      redis.call('HSET', jobs, holder .. ':p', payload)
    elseif field == 'due' then
      st.due = due
    elseif field == 'priority' then
      st.p = new.p
    elseif field == 'max_attempts' then
      st.m = math.max(new.m, st.a)
    elseif field == 'tags' then
      st.tg = new.tg
    end
  end
  if st.s == 'scheduled' or st.s == 'retrying' then
    flush() -- the holder's own ZADD may still be batched: write it before moving it
    redis.call('ZREM', KEYS[1 + 2 * ti], holder)
    redis.call('ZREM', KEYS[2 + 2 * ti], holder)
    place(holder, ti, st.due, st.p)
  end
  redis.call('HSET', jobs, holder, cjson.encode(st))
  return true
end

for k, id in ipairs(ids) do
  local j = first + 7 * (k - 1)
  if existing[k] or seen[id] then
    out[k + 1] = 0
  else
    local ti = tonumber(ARGV[j + 1])
    local due = now + tonumber(ARGV[j + 2])
    local body, extra = ARGV[j + 4], ''
    local spec = ARGV[j + 6] ~= '' and cjson.decode(ARGV[j + 6])
    local holder, hst
    if spec then
      any_unique = true
      holder, hst = conflicting(spec, due)
    end
    if holder then
      local replaced = spec.r and replace(spec, holder, hst, ti, due, body, ARGV[j + 5])
      out[k + 1] = {replaced and 3 or 2, holder}
    else
      seen[id] = true
      if spec then
        local expires = spec.e > 0 and now + spec.e or 0
        extra = '"u":' .. cjson.encode(spec.k) .. ',"uh":' .. spec.h .. ',"ue":' .. expires .. ','
        unique_writes[#unique_writes + 1] = spec.k
        unique_writes[#unique_writes + 1] = id
        if expires > 0 then
          redis.call('ZADD', unique_exp, expires, spec.k)
          ttl_added = ttl_added + 1
        end
        pending[spec.k] = true
      end
      writes[#writes + 1] = id
      writes[#writes + 1] = '{"ct":' .. now .. ',"due":' .. due .. ',' .. extra .. body
      writes[#writes + 1] = id .. ':p'
      writes[#writes + 1] = ARGV[j + 5]
      place(id, ti, due, tonumber(ARGV[j + 3]))
      if created then
        add_to(zadds, created, now, id)
      end
      out[k + 1] = 1
      if events then
        emit_event(events, 'enqueued', id, {t = ARGV[4 + ti], a = 0}, now, {'due', due})
      end
    end
  end
end
flush()
if any_unique then
  sweep_expired(2 * ttl_added + 8)
end

if wake then
  redis.call('PUBLISH', channel, '1')
end
return out
