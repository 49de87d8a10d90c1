-- cancel_many.lua: cancel the active jobs of one task that match a filter
-- (Ora's cancel_jobs): a bounded batch read from one of the task's sets.
-- Waiting jobs are cancelled at once; running ones are marked for their
-- worker, as cancel.lua does. The caller pages with `offset`: the next
-- offset is offset + read - removed (cancelled waiting jobs leave the set).
--
-- KEYS[1]  jobs hash
-- KEYS[2]  cancelled index
-- KEYS[3]  unique hash
-- KEYS[4]  done zset (waiters; also the channel)
-- KEYS[5]  the set read: scheduled:<task>, ready:<task> or running
-- KEYS[6], KEYS[7]  scheduled:<task>, ready:<task>
-- KEYS[8]  unique_exp zset
-- KEYS[9]  retrying hash (task -> number of its jobs with status retrying)
-- KEYS[10]  optional: created index (App(index_created=True))
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  task name
-- ARGV[3]  statuses JSON list (public statuses: scheduled, queued,
--          retrying, running)
-- ARGV[4]  tags JSON list (the job must have all of them; [] = any)
-- ARGV[5]  reason
-- ARGV[6], ARGV[7]  offset (rank), limit
-- ARGV[8], ARGV[9]  cancelled retention: max age ms, max count
--
-- Returns {now_ms, read, removed, cancelled ids..., '', requested ids...}
-- where `removed` counts jobs that left the set read.
-- @include common
-- @include manage

local jobs = KEYS[1]
local now = now_ms(ARGV[1])
local statuses, tags = set_of(ARGV[3]), cjson.decode(ARGV[4])
local offset, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
local ids = redis.call('ZRANGE', KEYS[5], offset, offset + limit - 1)
local cancelled, requested = {}, {}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', jobs, id)
  local st = raw and cjson.decode(raw)
  if st and st.t == ARGV[2] and (WAITING[st.s] or st.s == 'running')
      and statuses[public_status(st, now)] and has_tags(st, tags) then
    if st.s == 'running' then
      requested[#requested + 1] = id
    else
      if st.s == 'retrying' then
        redis.call('HINCRBY', KEYS[9], st.t, -1)
      end
      redis.call('ZREM', KEYS[6], id)
      redis.call('ZREM', KEYS[7], id)
      redis.call('ZADD', KEYS[2], now, id)
      cancelled[#cancelled + 1] = id
    end
    local worker = st.s == 'running' and st.w or nil
    append_error(jobs, id, cjson.encode({attempt = st.a, type = 'cancelled', message = ARGV[5],
      worker = worker}), now, worker and st.st)
    st.s = 'cancelled'
    st.ft = now
    redis.call('HSET', jobs, id, cjson.encode(st))
    release_unique(KEYS[3], KEYS[8], id, st, tonumber(ARGV[8]))
  end
end
if #cancelled > 0 then
  trim_terminal(KEYS[2], jobs, now, tonumber(ARGV[8]), tonumber(ARGV[9]), 2 * #cancelled + 8, KEYS[10])
end
local finished = {}
for _, id in ipairs(cancelled) do
  finished[#finished + 1] = id
end
for _, id in ipairs(requested) do
  finished[#finished + 1] = id
end
notify_done(KEYS[4], finished)
local removed = KEYS[5] == KEYS[6] or KEYS[5] == KEYS[7]
local out = {now, #ids, removed and #cancelled or 0}
for _, id in ipairs(cancelled) do
  out[#out + 1] = id
end
out[#out + 1] = ''
for _, id in ipairs(requested) do
  out[#out + 1] = id
end
return out
