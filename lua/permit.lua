-- permit.lua: the concurrency permits of one capped task of a sharded queue.
-- They live in the queue's home shard (one slot): a zset of tokens, score =
-- expiry (ms). A worker holds one token per job of the task it claimed on any
-- shard, so the task's running jobs across all shards never outnumber its cap.
-- Tokens expire unless renewed (with the worker's heartbeat), so the permits
-- of a dead worker come back after one lease.
--
-- KEYS[1]  permits:<task> zset (token -> expiry ms)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  op: 'acquire', 'renew' or 'release'
-- ARGV[3]  cap (acquire; ignored otherwise)
-- ARGV[4]  ttl_ms: a granted or renewed token lives this long
-- ARGV[5..]  tokens (unique per worker: '<worker>:<n>')
--
-- Returns {now_ms, token...}:
--   acquire: the tokens granted, the first of those asked, as many as the cap
--            leaves room for (expired tokens are dropped first);
--   renew:   the tokens given that are no longer held (expired and dropped,
--            or never granted): their jobs must stop;
--   release: nothing.
-- @include common

local key = KEYS[1]
local now = now_ms(ARGV[1])
local op = ARGV[2]
local ttl = tonumber(ARGV[4])
local out = {now}

if op == 'release' then
  for i = 5, #ARGV, 500 do
    redis.call('ZREM', key, unpack(ARGV, i, math.min(i + 499, #ARGV)))
  end
  return out
end

redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local adds = {}
if op == 'acquire' then
  local room = tonumber(ARGV[3]) - redis.call('ZCARD', key)
  for i = 5, #ARGV do
    -- a token asked twice (a replayed call) is granted again, taking no room
    local held = redis.call('ZSCORE', key, ARGV[i])
    if held or room > 0 then
      if not held then
        room = room - 1
      end
      adds[#adds + 1] = now + ttl
      adds[#adds + 1] = ARGV[i]
      out[#out + 1] = ARGV[i]
    end
  end
elseif op == 'renew' then
  for i = 5, #ARGV do
    if redis.call('ZSCORE', key, ARGV[i]) then
      adds[#adds + 1] = now + ttl
      adds[#adds + 1] = ARGV[i]
    else
      out[#out + 1] = ARGV[i]
    end
  end
else
  return redis.error_reply('permit.lua: unknown op ' .. tostring(op))
end
if #adds > 0 then
  call_chunked('ZADD', {key}, adds)
  redis.call('PEXPIRE', key, ttl)
end
return out
