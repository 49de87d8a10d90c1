-- update.lua: change a waiting job (scheduled, queued or retrying): its
-- arguments, priority, time, tags or max attempts (rexecutor's update_job,
-- which rtask refuses for running and finished jobs). The job moves to its
-- new place in line.
--
-- KEYS[1]  jobs hash
-- KEYS[2], KEYS[3]  scheduled:<task>, ready:<task>
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  wake channel
-- ARGV[3]  task name (KEYS[2..3] are its keys)
-- ARGV[4]  id
-- ARGV[5]  changes JSON: {p: priority, delay: ms from now (due = now +
--          delay), tg: [tags], m: max attempts}, each optional
-- ARGV[6]  '1' to replace the payload with ARGV[7], else '0'
-- ARGV[7]  payload (opaque bytes)
--
-- Returns {now_ms, code, status}: code 1 updated; 0 not waiting (status is
-- the job's, nothing changed); -1 no such job; -4 another task's job;
-- -8 max attempts below the attempts already used (nothing changed).
-- @include common
-- @include manage

local jobs = KEYS[1]
local now = now_ms(ARGV[1])
local id = ARGV[4]
local raw = redis.call('HGET', jobs, id)
if not raw then
  return {now, -1, ''}
end
local st = cjson.decode(raw)
if st.t ~= ARGV[3] then
  return {now, -4, st.s}
end
if not WAITING[st.s] then
  return {now, 0, st.s}
end
local change = cjson.decode(ARGV[5])
if change.m and change.m < st.a then
  return {now, -8, st.s}
end
st.p = change.p or st.p
st.m = change.m or st.m
if change.tg then
  st.tg = #change.tg > 0 and change.tg or nil
end
if change.delay then
  st.due = now + change.delay
end
if ARGV[6] == '1' then
  redis.call('HSET', jobs, id .. ':p', ARGV[7])
end
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
if st.due > now then
  redis.call('ZADD', KEYS[2], st.due, id)
else
  redis.call('ZADD', KEYS[3], ready_score(st.p, st.due), id)
  redis.call('PUBLISH', ARGV[2], '1')
end
redis.call('HSET', jobs, id, cjson.encode(st))
return {now, 1, st.s}
