-- recover.lua: jobs whose lease expired (their worker died or stalled) go
-- through retry-or-fail with an error of type "lost". Gated so that one
-- worker of the fleet sweeps a queue per interval.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  running zset
-- KEYS[3]  active hash
-- KEYS[4]  failed index
-- KEYS[5]  cancelled index
-- KEYS[6]  gate key (a string with a TTL)
-- KEYS[7], KEYS[8]  schedules hash, pending schedules zset
-- KEYS[8+i]  ready:<task i>  (i = 1..T)
-- KEYS[9+T], KEYS[10+T], KEYS[11+T]  unique hash, done zset (waiters; also
--          the channel), unique_exp zset
-- KEYS[12+T]  retrying hash (task -> number of its jobs with status retrying)
-- KEYS[13+T..]  optional: created index (App(index_created=True)), events stream (given = events on: "lost" per job), handoff list (given = hand-offs are swept); told apart by name
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  gate_ms: the sweep runs only if no sweep ran in the last gate_ms
--          (0 = always run)
-- ARGV[3]  limit: most expired leases handled per call
-- ARGV[4]  wake channel
-- ARGV[5..8]  retention: failed max age ms, max count; cancelled max age ms,
--             max count (0 = no limit)
-- ARGV[9]  T, the number of tasks
-- ARGV[9+i]  name of task i
--
-- Hand-offs nobody took: an entry of the handoff list (enqueue_plain.lua)
-- still there HANDOFF_STALE_MS after its claim, or whose lease ended, had no
-- worker blocked on the list (its registration outlived its worker). It is
-- removed, and its job, if still held under the hand-off's token, goes back
-- to its ready set with its attempt given back, as a released job does
-- (finish.lua code 6); a job cancelled meanwhile is ended by the lease sweep
-- below. An entry is popped or removed atomically: a popped one never
-- comes back here, so a job handed off runs once.
--
-- A schedule's job that ends here (failed or cancelled) frees its schedule,
-- which becomes pending; a sweep also returns the pending schedules, so the
-- sweeping worker plans their next jobs (plan.lua).
--
-- Returns {now_ms, swept, requeued, failed, skipped, pending}
--   swept 0 when the gate was closed (nothing else done);
--   requeued: lost jobs put back in their ready set (attempts left);
--   failed: lost jobs on their last attempt, now failed;
--   skipped: expired jobs left alone because their task was not passed;
--   pending: ids of pending schedules (at most `limit`), oldest first.
-- @include common
-- @include schedule_common

local jobs, running, active = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms(ARGV[1])
local gate_ms = tonumber(ARGV[2])
if gate_ms > 0 and not redis.call('SET', KEYS[6], '1', 'NX', 'PX', gate_ms) then
  return {now, 0, 0, 0, 0, {}}
end
local limit = tonumber(ARGV[3])
local ntasks = tonumber(ARGV[9])
local unique, done, unique_exp = KEYS[9 + ntasks], KEYS[10 + ntasks], KEYS[11 + ntasks]
local retrying = KEYS[12 + ntasks]
local opt = optional_keys(13 + ntasks)
local created, events, handoff = opt.created, opt.events, opt.handoff
local HANDOFF_STALE_MS = 1000
local failed_ids = {}
local ready_of = {}
for i = 1, ntasks do
  ready_of[ARGV[9 + i]] = KEYS[8 + i]
end

local requeued, failed, skipped, cancelled = 0, 0, 0, 0

if handoff then
  for _, entry in ipairs(redis.call('LRANGE', handoff, 0, limit - 1)) do
    local a = string.find(entry, '\n', 1, true)
    local b = string.find(entry, '\n', a + 1, true)
    local id = string.sub(entry, 1, a - 1)
    local handed = cjson.decode(string.sub(entry, a + 1, b - 1))
    local lease = tonumber(redis.call('ZSCORE', running, id))
    local raw = redis.call('HGET', jobs, id)
    local st = raw and cjson.decode(raw)
    local held = st and lease and st.c == handed.c
    if (now - handed.st >= HANDOFF_STALE_MS or not lease or lease < now)
        and not (held and not ready_of[st.t]) then
      redis.call('LREM', handoff, 1, entry)
      if held and st.s == 'running' then
        redis.call('ZREM', running, id)
        redis.call('HINCRBY', active, st.t, -1)
        st.a = st.a - 1
        st.s = st.a == 0 and 'scheduled' or 'retrying'
        st.w, st.st = nil, nil
        if st.a > 0 then
          redis.call('HINCRBY', retrying, st.t, 1)
        end
        redis.call('ZADD', ready_of[st.t], ready_score(st.p, st.due), id)
        redis.call('HSET', jobs, id, cjson.encode(st))
        requeued = requeued + 1
      elseif held then
        -- cancelled while handed off: its lease ends now, the sweep below ends it
        redis.call('ZADD', running, now - 1, id)
      end
    end
  end
end
local expired = redis.call('ZRANGEBYSCORE', running, '-inf', now - 1, 'LIMIT', 0, limit)
for _, id in ipairs(expired) do
  local raw = redis.call('HGET', jobs, id)
  local st = raw and cjson.decode(raw)
  if not st then
    redis.call('ZREM', running, id)
  elseif st.s ~= 'running' and st.s ~= 'cancelled' then
    -- not held by anyone (cannot happen while the invariants hold): untrack
    redis.call('ZREM', running, id)
  elseif st.s == 'running' and not ready_of[st.t] then
    skipped = skipped + 1
  else
    redis.call('ZREM', running, id)
    redis.call('HINCRBY', active, st.t, -1)
    if st.s == 'cancelled' then
      redis.call('ZADD', KEYS[5], st.ft or now, id)
      cancelled = cancelled + 1
      free_schedule(KEYS[7], KEYS[8], id, st, now)
    else
      local msg = 'lease expired: worker ' .. tostring(st.w) .. ' stopped renewing it'
      append_error(jobs, id, cjson.encode({attempt = st.a, type = 'lost', message = msg,
        worker = st.w}), now, st.st)
      if st.a >= st.m then
        st.s = 'failed'
        st.ft = now
        redis.call('ZADD', KEYS[4], now, id)
        failed = failed + 1
        free_schedule(KEYS[7], KEYS[8], id, st, now)
        failed_ids[#failed_ids + 1] = id
        release_unique(unique, unique_exp, id, st, tonumber(ARGV[5]))
      else
        st.s = 'retrying'
        st.due = now
        redis.call('HINCRBY', retrying, st.t, 1)
        redis.call('ZADD', ready_of[st.t], ready_score(st.p, now), id)
        requeued = requeued + 1
      end
      redis.call('HSET', jobs, id, cjson.encode(st))
      emit_event(events, 'lost', id, st, now, {'s', st.s, 'w', tostring(st.w)})
    end
  end
end
notify_done(done, failed_ids)
if failed > 0 then
  trim_terminal(KEYS[4], jobs, now, tonumber(ARGV[5]), tonumber(ARGV[6]), 2 * failed + 8, created)
end
if cancelled > 0 then
  trim_terminal(KEYS[5], jobs, now, tonumber(ARGV[7]), tonumber(ARGV[8]), 2 * cancelled + 8, created)
end
if requeued > 0 then
  redis.call('PUBLISH', ARGV[4], '1')
end
local pending = redis.call('ZRANGEBYSCORE', KEYS[8], '-inf', now, 'LIMIT', 0, limit)
return {now, 1, requeued, failed, skipped, pending}
