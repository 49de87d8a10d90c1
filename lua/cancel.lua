-- cancel.lua: cancel one job. A waiting job leaves its queue and is cancelled
-- at once; a running job is marked cancelled and stays in `running` (holding
-- its slot) until its worker acknowledges or its lease expires, so the task's
-- cap holds; its worker learns of it at the next heartbeat.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  cancelled index
-- KEYS[3]  scheduled:<task>
-- KEYS[4]  ready:<task>
-- KEYS[5], KEYS[6], KEYS[7]  unique hash, done zset (waiters; also the
--          channel), unique_exp zset
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  id
-- ARGV[3]  task name the caller expects (KEYS[3..4] are its keys)
-- ARGV[4]  reason (text)
-- ARGV[5], ARGV[6]  cancelled retention: max age ms, max count (0 = no limit)
--
-- Returns {now_ms, code}
--   1 cancelled (was waiting); 2 cancel requested (was running);
--   0 already finished (left untouched); -1 no such job;
--   -4 the job belongs to another task than ARGV[3] (nothing done).
-- @include common

local jobs = KEYS[1]
local now = now_ms(ARGV[1])
local id = ARGV[2]
local raw = redis.call('HGET', jobs, id)
if not raw then
  return {now, -1}
end
local st = cjson.decode(raw)
if st.t ~= ARGV[3] then
  return {now, -4}
end
local code
if st.s == 'scheduled' or st.s == 'retrying' then
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  redis.call('ZADD', KEYS[2], now, id)
  trim_terminal(KEYS[2], jobs, now, tonumber(ARGV[5]), tonumber(ARGV[6]), 8)
  code = 1
elseif st.s == 'running' then
  code = 2
else
  return {now, 0}
end
append_error(jobs, id, cjson.encode({attempt = st.a, type = 'cancelled', message = ARGV[4]}), now)
st.s = 'cancelled'
st.ft = now
redis.call('HSET', jobs, id, cjson.encode(st))
release_unique(KEYS[5], KEYS[7], id, st, tonumber(ARGV[5]))
notify_done(KEYS[6], {id})
return {now, code}
