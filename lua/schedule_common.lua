-- schedule_common.lua: helpers of the scripts that create or free a
-- schedule's job. Included after common (`-- @include schedule_common`).
--
-- A schedule `<sid>` lives in the queue's `schedules` hash:
--   <sid>    record JSON {"t": task, "p": priority of its jobs,
--            "h": definition hash, "v": version, "a": active job id, "lt": last tick ms, "x": stopped ms,
--            "xr": stop reason, "ct": created ms, "ut": updated ms}
--   <sid>:d  definition JSON (read by Python only)
--   <sid>:b  state body of its jobs (a job's state JSON without "{")
--   <sid>:p  payload of its jobs
-- Invariants: a schedule has at most one active job (`a`), and every
-- unfinished job created for it is that job; a schedule is in `pending`
-- exactly when it is neither stopped nor holding an active job, and its
-- next job has not been planned yet.

-- The job of tick `tick` of schedule `sid` is `<sid>:<tick>`: the same tick
-- can never make two jobs.
local function tick_job_id(sid, tick)
  return sid .. ':' .. string.format('%d', tick)
end

-- Puts job `id` (priority `prio`, due `due`) in its task's scheduled or
-- ready set. Returns true when sleeping workers must be woken: the job is
-- ready and the ready set was empty, or it is due before every other
-- scheduled job.
local function place_job(scheduled, ready, id, prio, due, now)
  if due > now then
    local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
    redis.call('ZADD', scheduled, due, id)
    return not head[2] or due < tonumber(head[2])
  end
  local was_empty = redis.call('ZCARD', ready) == 0
  redis.call('ZADD', ready, ready_score(prio, due), id)
  return was_empty
end

-- Deletes job `id`, waiting in `scheduled` or `ready` and never run, with
-- its record (a schedule's job replaced by a newer one); `created` is the
-- created-time index (nil when off).
local function drop_unrun_job(jobs, scheduled, ready, id, created)
  redis.call('ZREM', scheduled, id)
  redis.call('ZREM', ready, id)
  delete_jobs(jobs, nil, {id}, created)
end

-- Creates the job of `tick` for schedule `sid` (record `rec`, updated in
-- place; the caller writes it back) from the stored template. Returns the
-- new id and whether to wake workers; nil when that tick's job already
-- exists (the tick fired before: `lt` moves on, nothing is created).
-- `stream`: the events stream (nil: events off); `created`: the created
-- index, where every new job goes (nil: off).
local function create_tick_job(jobs, schedules, sid, rec, tick, scheduled, ready, now, stream,
    created)
  local id = tick_job_id(sid, tick)
  rec.lt = tick
  if redis.call('HEXISTS', jobs, id) == 1 then
    return nil, false
  end
  local tpl = redis.call('HMGET', schedules, sid .. ':b', sid .. ':p')
  redis.call('HSET', jobs,
    id, '{"ct":' .. now .. ',"due":' .. tick .. ',"sc":"' .. sid .. '","tk":' .. tick
      .. ',"sv":' .. rec.v .. ',' .. tpl[1],
    id .. ':p', tpl[2])
  if created then
    redis.call('ZADD', created, now, id)
  end
  rec.a = id
  emit_event(stream, 'enqueued', id, {t = rec.t, a = 0}, now, {'due', tick})
  return id, place_job(scheduled, ready, id, rec.p or 0, tick, now)
end

-- Job `id` (state `st`) stopped being active. If it was its schedule's
-- active job, the schedule is freed and, unless stopped, becomes pending:
-- any worker then plans its next job (plan.lua).
local function free_schedule(schedules, pending, id, st, now)
  if not st.sc then
    return
  end
  local raw = redis.call('HGET', schedules, st.sc)
  if not raw then
    return
  end
  local rec = cjson.decode(raw)
  if rec.a ~= id then
    return
  end
  rec.a = nil
  redis.call('HSET', schedules, st.sc, cjson.encode(rec))
  if not rec.x then
    redis.call('ZADD', pending, now, st.sc)
  end
end
