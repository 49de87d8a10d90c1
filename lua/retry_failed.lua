-- retry_failed.lua: rerun a bounded batch of the dead-letter (failed) set,
-- oldest first, optionally only jobs of some tasks finished in a time range.
-- Reruns follow rerun.lua's rules. The caller pages with `offset`: jobs
-- rerun leave the set, the ones skipped stay, so the next offset is
-- offset + skipped.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  running zset
-- KEYS[3]  failed index
-- KEYS[4]  unique hash
-- KEYS[4+2i-1], KEYS[4+2i]  scheduled:<task i>, ready:<task i>  (i = 1..T)
-- KEYS[5+2T]  retrying hash (task -> number of its jobs with status retrying)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  wake channel
-- ARGV[3], ARGV[4]  finished from, until (ms, inclusive; '-inf'/'+inf')
-- ARGV[5]  offset (jobs of the range skipped by earlier calls)
-- ARGV[6]  limit (most jobs read)
-- ARGV[7]  T; ARGV[7+i] name of task i (only jobs of these tasks are rerun)
--
-- Returns {now_ms, rerun, skipped, read}
-- @include common
-- @include manage

local jobs = KEYS[1]
local now = now_ms(ARGV[1])
local ntasks = tonumber(ARGV[7])
local task_index = {}
for i = 1, ntasks do
  task_index[ARGV[7 + i]] = i
end
local indexes = {failed = KEYS[3]}
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[3], ARGV[4], 'LIMIT', tonumber(ARGV[5]),
  tonumber(ARGV[6]))
local rerun, skipped = 0, 0
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', jobs, id)
  local st = raw and cjson.decode(raw)
  local i = st and task_index[st.t]
  if i and st.s == 'failed' and
      rerun_job(jobs, KEYS[2], indexes, KEYS[4], KEYS[3 + 2 * i], KEYS[4 + 2 * i], id, st, now, 0,
        KEYS[5 + 2 * ntasks]) == 1 then
    rerun = rerun + 1
  else
    skipped = skipped + 1
  end
end
if rerun > 0 then
  redis.call('PUBLISH', ARGV[2], '1')
end
return {now, rerun, skipped, #ids}
