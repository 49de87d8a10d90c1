-- park.lua: a worker stands ready for direct hand-offs (enqueue_plain.lua),
-- or stops standing ready. The worker then blocks on the queue's handoff
-- list (BLPOP) for at most the time it registered; it registers again each
-- time it blocks again, so a registration outlives its worker by live_ms at
-- most, and an enqueue in that window leaves an entry nobody pops, which
-- recover.lua hands back.
--
-- KEYS[i]  parked:<task i>: one per task the worker may take by hand-off
--          (zset: member "<lease_ms>|<worker id>", score = registered until, ms)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  member: "<lease_ms>|<worker id>" (the lease a hand-off gets)
-- ARGV[3]  live_ms: how long the registration holds (> 0); 0 = leave
--
-- Registrations whose time passed are removed on the way.
--
-- Returns now_ms.
-- @include core

local now = now_ms(ARGV[1])
local member, live = ARGV[2], tonumber(ARGV[3])
for _, parked in ipairs(KEYS) do
  if live > 0 then
    redis.call('ZREMRANGEBYSCORE', parked, '-inf', now - 1)
    redis.call('ZADD', parked, now + live, member)
  else
    redis.call('ZREM', parked, member)
  end
end
return now
