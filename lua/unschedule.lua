-- unschedule.lua: stop a schedule: no more jobs are planned for it. With
-- cancel, its active job is cancelled too (a running one is told to stop at
-- its worker's next heartbeat), else it runs to its end.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  schedules hash
-- KEYS[3]  pending schedules zset
-- KEYS[4]  cancelled index
-- KEYS[5], KEYS[6]  scheduled:<task>, ready:<task> of the schedule's task
-- KEYS[7]  retrying hash (task -> number of its jobs with status retrying)
-- KEYS[8..]  optional: created index (App(index_created=True)), events stream (given = events on: "cancelled"); told apart by name
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  schedule id
-- ARGV[3]  task name the caller expects (KEYS[5..6] are its keys)
-- ARGV[4]  '1' to cancel the active job, '0' not to
-- ARGV[5]  reason (text)
-- ARGV[6], ARGV[7]  cancelled retention: max age ms, max count (0 = no limit)
--
-- Returns {now_ms, code, active job id or '', cancel code}
--   code 1 stopped; 0 was stopped already; -1 no such schedule; -4 the
--   schedule belongs to another task. cancel code as cancel.lua's (1
--   cancelled, 2 requested, 0 finished already), or '' when not asked.
-- @include common
-- @include schedule_common

local jobs, schedules = KEYS[1], KEYS[2]
local opt = optional_keys(8)
local now = now_ms(ARGV[1])
local sid = ARGV[2]
local raw = redis.call('HGET', schedules, sid)
if not raw then
  return {now, -1, '', ''}
end
local rec = cjson.decode(raw)
if rec.t ~= ARGV[3] then
  return {now, -4, '', ''}
end
local code = rec.x and 0 or 1
if not rec.x then
  rec.x, rec.xr = now, ARGV[5]
  redis.call('ZREM', KEYS[3], sid)
end
local active, cancelled = rec.a or '', ''
local st = rec.a and ARGV[4] == '1' and redis.call('HGET', jobs, rec.a)
if st then
  st = cjson.decode(st)
  cancelled = cancel_job(jobs, KEYS[4], KEYS[5], KEYS[6], rec.a, st, ARGV[5], now,
    tonumber(ARGV[6]), tonumber(ARGV[7]), opt.events, opt.created, KEYS[7])
  if cancelled == 1 then
    rec.a = nil  -- a running job frees the schedule when it ends
  end
end
redis.call('HSET', schedules, sid, cjson.encode(rec))
return {now, code, active, cancelled}
