-- tasks.lua: the names of every task ever enqueued on a queue.
--
-- KEYS[1]  tasks set
--
-- Returns {now_ms, name...}
-- @include common

local out = {now_ms('')}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  out[#out + 1] = name
end
return out
