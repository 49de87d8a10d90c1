-- park.lua: a worker stands ready for direct hand-offs (enqueue_plain.lua),
-- or stops standing ready. The worker then blocks on the queue's handoff
-- list (BLPOP) for at most the time it registered; it registers again each
-- time it blocks again, so a registration outlives its worker by live_ms at
-- most, and an enqueue in that window leaves an entry nobody pops, which
-- recover.lua hands back.
--
-- KEYS[1]  handoff list
-- KEYS[1+i]  parked:<task i>: one per task the worker may take by hand-off
--          (zset: member "<lease_ms>|<worker id>", score = registered until, ms)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  member: "<lease_ms>|<worker id>" (the lease a hand-off gets)
-- ARGV[3]  live_ms: how long the registration holds (> 0); 0 = leave
--
-- Registrations whose time passed are removed on the way. A worker does
-- not register while an entry waits in the handoff list: the pop that
-- follows takes it, and one registration must stand for one pop to come
-- (else two enqueues could hand off to one free slot).
--
-- Leaving takes the place of the pop the registration stood for: if an
-- enqueue took the registration (it is gone from a parked set), the entry
-- it pushed is popped here, so that it does not wait for recover.lua. The
-- worker still holds the slot it kept for it (any entry may go to any
-- parked worker: each stands for one free slot).
--
-- Returns {now_ms, 1 if registered (or left), 0 if not[, entry popped]}.
-- @include core

local now = now_ms(ARGV[1])
local member, live = ARGV[2], tonumber(ARGV[3])
if live > 0 and redis.call('LLEN', KEYS[1]) > 0 then
  return {now, 0}
end
local taken = false
for k = 2, #KEYS do
  if live > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now - 1)
    redis.call('ZADD', KEYS[k], now + live, member)
  elseif redis.call('ZREM', KEYS[k], member) == 0 then
    taken = true
  end
end
if taken then
  local entry = redis.call('LPOP', KEYS[1])
  if entry then
    return {now, 1, entry}
  end
end
return {now, 1}
