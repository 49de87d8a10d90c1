-- progress.lua: store what task code reported about running jobs: its
-- progress (the latest value wins) and lines of its job log (appended, the
-- newest `cap` kept). Each item applies only while the job is still running
-- under the same fencing token, so a worker that lost its lease cannot write
-- into the next run. The worker buffers these reports and sends them with
-- its heartbeat or just before the job's outcome (same round trip).
--
-- KEYS[1]  jobs hash
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  cap: most log entries kept per job
-- then 4 fields per item: id, token, progress JSON ('' = unchanged),
--   log entries (a JSON array of objects, '' = none)
--
-- Returns {now_ms, result_1, ..., result_n}: 1 stored; -1 no such job;
--   -2 not running under that token (lease lost, or finished).
-- @include common

local jobs = KEYS[1]
local now = now_ms(ARGV[1])
local cap = tonumber(ARGV[2])
local out = {now}
local writes = {}
for j = 3, #ARGV, 4 do
  local id, token, progress, lines = ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3]
  local raw = redis.call('HGET', jobs, id)
  local result = 1
  if not raw then
    result = -1
  else
    local st = cjson.decode(raw)
    if tostring(st.c) ~= token or st.s ~= 'running' then
      result = -2
    end
  end
  if result == 1 then
    if progress ~= '' then
      writes[#writes + 1] = id .. ':g'
      writes[#writes + 1] = progress
    end
    if lines ~= '' then
      local old = redis.call('HGET', jobs, id .. ':l')
      local log = old and cjson.decode(old) or {}
      for _, entry in ipairs(cjson.decode(lines)) do
        log[#log + 1] = entry
      end
      local kept = {}
      for k = math.max(1, #log - cap + 1), #log do
        kept[#kept + 1] = log[k]
      end
      writes[#writes + 1] = id .. ':l'
      writes[#writes + 1] = cjson.encode(kept)
    end
  end
  out[#out + 1] = result
end
if #writes > 0 then
  call_chunked('HSET', {jobs}, writes)
end
return out
