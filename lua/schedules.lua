-- schedules.lua: read schedules of one queue, with their active job's state.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  schedules hash
--
-- ARGV  schedule ids to read; none = every schedule of the queue
--
-- Returns {now_ms, then 5 values per schedule found: id, record JSON,
--   definition JSON, payload, active job state JSON (or false)}
-- @include common

local jobs, schedules = KEYS[1], KEYS[2]
local ids = ARGV
if #ids == 0 then
  ids = {}
  for _, field in ipairs(redis.call('HKEYS', schedules)) do
    if string.sub(field, -2) == ':d' then
      ids[#ids + 1] = string.sub(field, 1, -3)
    end
  end
end
local out = {now_ms('')}
for _, sid in ipairs(ids) do
  local f = redis.call('HMGET', schedules, sid, sid .. ':d', sid .. ':p')
  if f[1] then
    local rec = cjson.decode(f[1])
    out[#out + 1] = sid
    out[#out + 1] = f[1]
    out[#out + 1] = f[2]
    out[#out + 1] = f[3]
    out[#out + 1] = rec.a and redis.call('HGET', jobs, rec.a) or false
  end
end
return out
