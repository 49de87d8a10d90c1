-- wait.lua: register interest in jobs finishing, and read which already
-- finished, atomically (so no finish falls between the read and the
-- registration). finish.lua, cancel.lua and recover.lua publish the ids of
-- registered jobs on the channel named like the `done` key when they finish.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  done zset: job id -> when the longest waiter gives up (ms)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  ttl ms: how long this waiter waits (registered until now + ttl)
-- ARGV[3..]  ids
--
-- Returns {now_ms, status_1, ..., status_n}: the stored status, or '' for
-- no such job. Unfinished ids are registered until the deadline; expired
-- registrations are dropped.
-- @include common

local jobs, done = KEYS[1], KEYS[2]
local now = now_ms(ARGV[1])
redis.call('ZREMRANGEBYSCORE', done, '-inf', now - 1)
local ids = {}
for j = 3, #ARGV do
  ids[#ids + 1] = ARGV[j]
end
local out = {now}
if #ids == 0 then
  return out
end
local raws = redis.call('HMGET', jobs, unpack(ids))
local deadline = now + tonumber(ARGV[2])
for k, id in ipairs(ids) do
  local status = ''
  if raws[k] then
    status = cjson.decode(raws[k]).s
    if not FINISHED[status] then
      -- GT: a shorter waiter never cuts a longer one's registration
      redis.call('ZADD', done, 'GT', deadline, id)
    end
  end
  out[#out + 1] = status
end
return out
