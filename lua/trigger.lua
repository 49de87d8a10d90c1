-- trigger.lua: run a schedule now, keeping the one-active-job rule. With no
-- active job, or one waiting for a future tick that never ran, a job for the
-- tick "now" is created (it takes the waiting job's place: when it ends, the
-- next tick is planned from now, so no tick is lost); a job already due or
-- waiting for a retry is made due now; a running one is left alone.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  schedules hash
-- KEYS[3]  pending schedules zset
-- KEYS[4], KEYS[5]  scheduled:<task>, ready:<task> of the schedule's task
-- KEYS[6..]  optional: created index (App(index_created=True)), events stream (given = events on: "enqueued"); told apart by name
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  wake channel
-- ARGV[3]  schedule id
-- ARGV[4]  task name the caller expects (KEYS[4..5] are its keys)
--
-- Returns {now_ms, code, job id}: 1 a new job, due now; 2 the active job
-- (due already, or retrying) is due now; 3 its job is running (nothing
-- done); -1 no such schedule; -4 the schedule belongs to another task; -5
-- it is stopped.
-- @include common
-- @include schedule_common

local jobs, schedules, pending = KEYS[1], KEYS[2], KEYS[3]
local opt = optional_keys(6)
local now = now_ms(ARGV[1])
local sid = ARGV[3]
local raw = redis.call('HGET', schedules, sid)
if not raw then
  return {now, -1, ''}
end
local rec = cjson.decode(raw)
if rec.t ~= ARGV[4] then
  return {now, -4, ''}
elseif rec.x then
  return {now, -5, ''}
end

local st = rec.a and redis.call('HGET', jobs, rec.a)
if st then
  local id = rec.a
  st = cjson.decode(st)
  if st.s ~= 'scheduled' and st.s ~= 'retrying' then
    return {now, 3, id}
  elseif st.due <= now then
    return {now, 2, id}
  elseif st.s == 'retrying' then
    redis.call('ZREM', KEYS[4], id)
    st.due = now
    if place_job(KEYS[4], KEYS[5], id, st.p, now, now) then
      redis.call('PUBLISH', ARGV[2], '1')
    end
    redis.call('HSET', jobs, id, cjson.encode(st))
    return {now, 2, id}
  end
  if redis.call('HEXISTS', jobs, tick_job_id(sid, now)) == 1 then
    return {now, 3, tick_job_id(sid, now)}  -- this very ms ran already
  end
  -- a future tick's job that never ran: the run now takes its place
  drop_unrun_job(jobs, KEYS[4], KEYS[5], id, opt.created)
  rec.a = nil
end

local id = create_tick_job(jobs, schedules, sid, rec, now, KEYS[4], KEYS[5], now, opt.events, opt.created)
if not id then  -- a job of this very ms exists: it is the one that ran now
  return {now, 3, tick_job_id(sid, now)}
end
redis.call('ZREM', pending, sid)
redis.call('HSET', schedules, sid, cjson.encode(rec))
redis.call('PUBLISH', ARGV[2], '1')
return {now, 1, id}
