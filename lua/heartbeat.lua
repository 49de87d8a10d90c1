-- heartbeat.lua: extend this worker's leases where the fencing token still
-- matches; report the jobs it lost and the jobs cancelled while running.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  running zset
-- KEYS[3]  workers zset (worker id -> last heartbeat ms)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  worker id
-- ARGV[3]  lease_ms; 0 = the worker is leaving: it is removed from `workers`
-- then pairs: id, token
--
-- Workers silent for an hour are dropped from `workers` (one that died
-- never says it is leaving). A held job whose record names another worker
-- (a hand-off popped by a worker other than the one registered, see
-- enqueue_plain.lua) is renamed to this one: the token's holder runs it.
--
-- Returns {now_ms, lost_ids, cancelled_ids}
--   lost: no longer running under this token (recovered after the lease
--   expired, or deleted); the worker must stop it and not report it.
--   cancelled: cancelled while running; the worker stops it and reports any
--   outcome (finish.lua then only releases the slot).
-- @include common

local jobs, running, workers = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms(ARGV[1])
local lease_until = now + tonumber(ARGV[3])
local FORGET_MS = 3600000
if tonumber(ARGV[3]) == 0 then
  redis.call('ZREM', workers, ARGV[2])
else
  redis.call('ZADD', workers, now, ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', workers, '-inf', now - FORGET_MS)

-- One HMGET and one ZMSCORE read every held job, as finish.lua does.
local ids, tokens = {}, {}
for j = 4, #ARGV, 2 do
  ids[#ids + 1] = ARGV[j]
  tokens[#tokens + 1] = ARGV[j + 1]
end
local lost, cancelled, extend, renamed = {}, {}, {}, {}
if #ids > 0 then
  local raws = redis.call('HMGET', jobs, unpack(ids))
  local leases = redis.call('ZMSCORE', running, unpack(ids))
  for k, id in ipairs(ids) do
    local st = raws[k] and cjson.decode(raws[k])
    if not st or tostring(st.c) ~= tokens[k] or not leases[k] then
      lost[#lost + 1] = id
    elseif st.s == 'cancelled' then
      cancelled[#cancelled + 1] = id
    else
      extend[#extend + 1] = lease_until
      extend[#extend + 1] = id
      if st.w ~= ARGV[2] and tonumber(ARGV[3]) > 0 then
        st.w = ARGV[2]
        renamed[#renamed + 1] = id
        renamed[#renamed + 1] = cjson.encode(st)
      end
    end
  end
end
call_chunked('ZADD', {running, 'XX'}, extend)
call_chunked('HSET', {jobs}, renamed)
return {now, lost, cancelled}
