-- cancel.lua: cancel one job. A waiting job leaves its queue and is cancelled
-- at once; a running job is marked cancelled and stays in `running` (holding
-- its slot) until its worker acknowledges or its lease expires, so the task's
-- cap holds; its worker learns of it at the next heartbeat.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  cancelled index
-- KEYS[3]  scheduled:<task>
-- KEYS[4]  ready:<task>
-- KEYS[5], KEYS[6]  schedules hash, pending schedules zset (a schedule whose
--          waiting job is cancelled becomes pending: its next job is planned)
-- KEYS[7], KEYS[8], KEYS[9]  unique hash, done zset (waiters; also the
--          channel), unique_exp zset
-- KEYS[10]  retrying hash (task -> number of its jobs with status retrying)
-- KEYS[11..]  optional: created index (App(index_created=True)), events stream (given = events on: "cancelled"); told apart by name
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
-- @include schedule_common

local jobs = KEYS[1]
local opt = optional_keys(11)
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
local code = cancel_job(jobs, KEYS[2], KEYS[3], KEYS[4], id, st, ARGV[4], now,
  tonumber(ARGV[5]), tonumber(ARGV[6]), opt.events, opt.created, KEYS[10])
if code == 1 then
  free_schedule(KEYS[5], KEYS[6], id, st, now)
end
if code ~= 0 then
  release_unique(KEYS[7], KEYS[9], id, st, tonumber(ARGV[5]))
  notify_done(KEYS[8], {id})
end
return {now, code}
