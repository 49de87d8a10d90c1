-- prune.lua: delete finished jobs of one status by a rule (rexecutor's
-- PruneSpec, Ora's delete_history), a bounded batch per call. Deletes the
-- records, their index entries and the identities they still hold.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  the finished index of the status (succeeded, failed or cancelled)
-- KEYS[3]  unique hash
-- KEYS[4]  optional: created index (App(index_created=True))
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  mode: 'before' (finished before ARGV[3] ms: delete the matching
--          jobs, oldest first) or 'count' (keep the ARGV[3] newest
--          matching jobs, delete the older ones)
-- ARGV[3]  cutoff ms ('before') or number to keep ('count')
-- ARGV[4]  tasks rule: 'all', 'only' or 'except'
-- ARGV[5]  tasks JSON list for 'only'/'except'
-- ARGV[6]  offset (rank in the order read: oldest first for 'before',
--          newest first for 'count')
-- ARGV[7]  limit (most jobs read)
-- ARGV[8]  kept so far ('count': matching jobs kept by earlier calls)
--
-- Returns {now_ms, read, deleted, kept}: the next offset is offset + read
-- - deleted; `kept` is the new total kept ('count').
-- @include common
-- @include manage

local jobs, index, unique = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms(ARGV[1])
local mode, cutoff = ARGV[2], tonumber(ARGV[3])
local rule, names = ARGV[4], set_of(ARGV[5])
local offset, limit, kept = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])

local ids
if mode == 'before' then
  ids = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. cutoff, 'LIMIT', offset, limit)
else
  ids = redis.call('ZREVRANGE', index, offset, offset + limit - 1)
end
if #ids == 0 then
  return {now, 0, 0, kept}
end
local raws = redis.call('HMGET', jobs, unpack(ids))
local doomed, states = {}, {}
for k, id in ipairs(ids) do
  local st = raws[k] and cjson.decode(raws[k])
  local match = true
  if st and rule == 'only' then
    match = names[st.t] == true
  elseif st and rule == 'except' then
    match = not names[st.t]
  end
  if match then
    if mode == 'count' and kept < cutoff then
      kept = kept + 1
    else
      doomed[#doomed + 1] = id
      states[#doomed] = st
    end
  end
end
forget_jobs(jobs, index, unique, doomed, states, KEYS[4])
return {now, #ids, #doomed, kept}
