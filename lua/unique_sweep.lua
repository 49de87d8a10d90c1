-- unique_sweep.lua: drop identities of the unique hash whose holder no
-- longer holds them (deleted, or its hold after finishing ran out). A
-- bounded HSCAN step per call; the caller passes the cursor back until 0.
--
-- KEYS[1]  unique hash
-- KEYS[2]  jobs hash
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  cursor ('0' to start)
-- ARGV[3]  count hint per step
--
-- Returns {now_ms, next cursor, dropped}
-- @include common

local now = now_ms(ARGV[1])
local step = redis.call('HSCAN', KEYS[1], ARGV[2], 'COUNT', tonumber(ARGV[3]))
local entries, dropped = step[2], 0
for k = 1, #entries, 2 do
  local identity, holder = entries[k], entries[k + 1]
  local raw = redis.call('HGET', KEYS[2], holder)
  if not raw or not holds_unique(cjson.decode(raw), now) then
    redis.call('HDEL', KEYS[1], identity)
    dropped = dropped + 1
  end
end
return {now, step[1], dropped}
