-- schedule.lua: add or update schedules of one queue, and create the first
-- job of each new one. A schedule is upserted by id: the same definition
-- (hash) leaves it untouched, a new one replaces the definition, bumps the
-- version and, if its active job has not run yet, replaces that job by the
-- new first tick's. A running active job is left alone: when it ends, the
-- version mismatch makes the schedule pending and plan.lua plans the next
-- job from the new definition. Updating reactivates a stopped schedule.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  tasks set
-- KEYS[3]  schedules hash (layout in schedule_common.lua)
-- KEYS[4]  pending schedules zset
-- KEYS[4+2i-1], KEYS[4+2i]  scheduled:<task i>, ready:<task i>  (i = 1..T)
-- KEYS[5+2T..]  optional: created index (App(index_created=True)), events stream (given = events on: "enqueued"); told apart by name
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  wake channel
-- ARGV[3]  mode: 'upsert', or 'new' (if not exists: existing ids untouched)
-- ARGV[4]  T, the number of tasks;  ARGV[4+i]  name of task i
-- then 8 fields per schedule: id, task index, priority, definition hash,
--   definition JSON, job state body, job payload, first tick (ms; -1 no
--   time left: stored stopped; -2 none to plan: manual)
--
-- Returns {now_ms, code_1, ...}: 1 created; 2 updated; 0 unchanged (or
-- exists, mode 'new'); -4 the id belongs to a schedule of another task.
-- @include common
-- @include schedule_common

local jobs, schedules, pending = KEYS[1], KEYS[3], KEYS[4]
local now = now_ms(ARGV[1])
local upsert = ARGV[3] == 'upsert'
local ntasks = tonumber(ARGV[4])
local first = 5 + ntasks
local opt = optional_keys(5 + 2 * ntasks)
local created, events = opt.created, opt.events
local out = {now}
local wake = false

-- The schedule's first job (or its stopped/idle state) from `tick`.
local function start(sid, rec, tick, i)
  redis.call('ZREM', pending, sid)
  if tick >= 0 then
    local _, woke = create_tick_job(jobs, schedules, sid, rec, tick,
      KEYS[3 + 2 * i], KEYS[4 + 2 * i], now, events, created)
    wake = wake or woke
    if not rec.a then  -- that tick fired before: plan.lua goes on from it
      redis.call('ZADD', pending, now, sid)
    end
  elseif tick == -1 then
    rec.x, rec.xr = now, 'ended'
  end
end

for j = first, #ARGV, 8 do
  local sid, i, hash = ARGV[j], tonumber(ARGV[j + 1]), ARGV[j + 3]
  local task = ARGV[4 + i]
  local tick = tonumber(ARGV[j + 7])
  local raw = redis.call('HGET', schedules, sid)
  local rec = raw and cjson.decode(raw)
  local code
  if rec and rec.t ~= task then
    code = -4
  elseif rec and (not upsert or rec.h == hash) then
    code = 0
  else
    if rec then
      rec.v, rec.ut, rec.x, rec.xr = rec.v + 1, now, nil, nil
      local st = rec.a and redis.call('HGET', jobs, rec.a)
      st = st and cjson.decode(st)
      if st and st.s == 'scheduled' then
        -- never run: replaced by the new definition's first job
        drop_unrun_job(jobs, KEYS[3 + 2 * i], KEYS[4 + 2 * i], rec.a, created)
        rec.a = nil
      elseif not st then
        rec.a = nil  -- gone (cannot happen while the invariants hold)
      end
      -- (a job cancelled while running stays active until its worker stops)
      code = 2
    else
      rec = {t = task, v = 1, ct = now, ut = now}
      code = 1
    end
    redis.call('SADD', KEYS[2], task)
    rec.h, rec.p = hash, tonumber(ARGV[j + 2])
    redis.call('HSET', schedules, sid .. ':d', ARGV[j + 4], sid .. ':b', ARGV[j + 5],
      sid .. ':p', ARGV[j + 6])
    if not rec.a then
      start(sid, rec, tick, i)
    end
    redis.call('HSET', schedules, sid, cjson.encode(rec))
  end
  out[#out + 1] = code
end

if wake then
  redis.call('PUBLISH', ARGV[2], '1')
end
return out
