-- workers.lua: the live workers of one queue and how many jobs each holds,
-- read atomically. Changes nothing.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  running zset
-- KEYS[3]  workers zset (worker id -> last heartbeat ms)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  live_ms: a worker whose last heartbeat is at most this old is live
-- ARGV[3]  most workers returned (the most recent heartbeats first)
-- ARGV[4]  most members of running read (bounds the work of one call)
--
-- Returns {now_ms, running, scanned, workers, held}
--   running: members of the running zset; scanned: how many were read
--   (the first by lease deadline); workers: flat list id, last heartbeat ms,
--   ... of the live workers; held: flat list worker id, count, ... over the
--   scanned jobs (a job in running holds its slot even once cancelled).
-- @include common

local jobs, running, workers = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms(ARGV[1])
local live = redis.call('ZREVRANGEBYSCORE', workers, '+inf', now - tonumber(ARGV[2]),
  'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))

local ids = redis.call('ZRANGE', running, 0, tonumber(ARGV[4]) - 1)
local counts, order = {}, {}
-- HMGET in chunks: unpack() takes a few thousand values at most
local CHUNK_IDS = 1000
for first = 1, #ids, CHUNK_IDS do
  local part = {}
  for k = first, math.min(first + CHUNK_IDS - 1, #ids) do
    part[#part + 1] = ids[k]
  end
  local states = redis.call('HMGET', jobs, unpack(part))
  for k = 1, #part do
    if states[k] then
      local w = cjson.decode(states[k]).w
      if type(w) == 'string' then
        if not counts[w] then
          counts[w] = 0
          order[#order + 1] = w
        end
        counts[w] = counts[w] + 1
      end
    end
  end
end
local held = {}
for _, w in ipairs(order) do
  held[#held + 1] = w
  held[#held + 1] = counts[w]
end
return {now, redis.call('ZCARD', running), #ids, live, held}
