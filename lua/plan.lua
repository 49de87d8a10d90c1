-- plan.lua: create the next job of pending schedules (new after an outage,
-- freed by a cancel or a lost lease, or updated while their job ran). The
-- caller read each schedule (version, last tick) and computed its next tick;
-- the job is created only if neither changed and the schedule is still
-- pending, so any number of workers planning at once create it once.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  schedules hash
-- KEYS[3]  pending schedules zset
-- KEYS[3+2i-1], KEYS[3+2i]  scheduled:<task i>, ready:<task i>  (i = 1..T)
-- KEYS[4+2T..]  optional: created index (App(index_created=True)), events stream (given = events on: "enqueued"); told apart by name
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  wake channel
-- ARGV[3]  T, the number of tasks;  ARGV[3+i]  name of task i
-- then 5 fields per schedule: id, task index, version read, last tick read
--   ('' = none), next tick (ms; -1 stop the schedule; -2 nothing to plan)
--
-- Returns {now_ms, code_1, ...}: 1 job created; 3 stopped (no time left);
-- 4 nothing to plan (manual); 5 that tick's job exists already (the last
-- tick moved on; still pending); 0 not pending any more (has an active job,
-- stopped, deleted or not pending: left as it is); -2 changed since read
-- (read again); -4 the schedule belongs to another task than the one passed.
-- @include common
-- @include schedule_common

local jobs, schedules, pending = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms(ARGV[1])
local ntasks = tonumber(ARGV[3])
local opt = optional_keys(4 + 2 * ntasks)
local created, events = opt.created, opt.events
local out = {now}
local wake = false

for j = 4 + ntasks, #ARGV, 5 do
  local sid, i, tick = ARGV[j], tonumber(ARGV[j + 1]), tonumber(ARGV[j + 4])
  local raw = redis.call('HGET', schedules, sid)
  local rec = raw and cjson.decode(raw)
  local code
  if not rec or rec.x or rec.a or not redis.call('ZSCORE', pending, sid) then
    redis.call('ZREM', pending, sid)
    code = 0
  elseif rec.t ~= ARGV[3 + i] then
    code = -4
  elseif tostring(rec.v) ~= ARGV[j + 2] or (rec.lt and string.format('%d', rec.lt) or '') ~= ARGV[j + 3] then
    code = -2
  elseif tick >= 0 then
    local id, woke = create_tick_job(jobs, schedules, sid, rec, tick,
      KEYS[2 + 2 * i], KEYS[3 + 2 * i], now, events, created)
    wake = wake or woke
    if id then
      redis.call('ZREM', pending, sid)
      code = 1
    else
      code = 5
    end
  else
    redis.call('ZREM', pending, sid)
    if tick == -1 then
      rec.x, rec.xr = now, 'ended'
      code = 3
    else
      code = 4
    end
  end
  if code > 0 then
    redis.call('HSET', schedules, sid, cjson.encode(rec))
  end
  out[#out + 1] = code
end

if wake then
  redis.call('PUBLISH', ARGV[2], '1')
end
return out
