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
-- never says it is leaving).
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

local lost, cancelled, extend = {}, {}, {}
for j = 4, #ARGV, 2 do
  local id = ARGV[j]
  local raw = redis.call('HGET', jobs, id)
  local st = raw and cjson.decode(raw)
  if not st or tostring(st.c) ~= ARGV[j + 1] or not redis.call('ZSCORE', running, id) then
    lost[#lost + 1] = id
  elseif st.s == 'cancelled' then
    cancelled[#cancelled + 1] = id
  else
    extend[#extend + 1] = lease_until
    extend[#extend + 1] = id
  end
end
if #extend > 0 then
  redis.call('ZADD', running, 'XX', unpack(extend))
end
return {now, lost, cancelled}
