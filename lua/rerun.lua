-- rerun.lua: make finished jobs of one task runnable again (rexecutor's
-- rerun): status scheduled (never ran) or retrying, max attempts raised by
-- one, due now (or after delay_ms), result dropped, errors kept.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  running zset
-- KEYS[3], KEYS[4], KEYS[5]  succeeded, failed, cancelled indexes
-- KEYS[6]  unique hash
-- KEYS[7], KEYS[8]  scheduled:<task>, ready:<task>
-- KEYS[9]  retrying hash (task -> number of its jobs with status retrying)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  wake channel
-- ARGV[3]  task name (KEYS[7..8] are its keys)
-- ARGV[4]  delay_ms (>= 0)
-- ARGV[5..]  ids
--
-- Returns {now_ms, code_1, ..., code_n}: 1 rerun; 0 not finished (left
-- alone); -1 no such job; -4 the job belongs to another task; -5 cancelled
-- while running and still held by its worker.
-- @include common
-- @include manage

local jobs = KEYS[1]
local indexes = {succeeded = KEYS[3], failed = KEYS[4], cancelled = KEYS[5]}
local now = now_ms(ARGV[1])
local delay = tonumber(ARGV[4])
local out = {now}
local wake = false
for j = 5, #ARGV do
  local id = ARGV[j]
  local raw = redis.call('HGET', jobs, id)
  local code
  if not raw then
    code = -1
  else
    local st = cjson.decode(raw)
    if st.t ~= ARGV[3] then
      code = -4
    else
      code = rerun_job(jobs, KEYS[2], indexes, KEYS[6], KEYS[7], KEYS[8], id, st, now, delay,
        KEYS[9])
      wake = wake or (code == 1 and delay == 0)
    end
  end
  out[#out + 1] = code
end
if wake then
  redis.call('PUBLISH', ARGV[2], '1')
end
return out
