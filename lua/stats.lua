-- stats.lua: the counts of one queue for an operator's view, read atomically.
-- Changes nothing. Every read is O(1) or O(log n) (ZCARD, ZCOUNT, a few
-- ZRANGEBYSCORE ... LIMIT 0 1): no scan, whatever the queue's size.
--
-- KEYS[1]  tasks set
-- KEYS[2]  running zset
-- KEYS[3]  active hash (task -> number of its jobs in running)
-- KEYS[4]  succeeded index
-- KEYS[5]  failed index
-- KEYS[6]  cancelled index
-- KEYS[7]  workers zset (worker id -> last heartbeat ms)
-- KEYS[7+2i-1], KEYS[7+2i]  scheduled:<task i>, ready:<task i>  (i = 1..T)
-- KEYS[8+2T]  retrying hash (task -> number of its jobs with status retrying)
-- KEYS[9+2T], KEYS[10+2T]  throughput hashes of even and odd minutes (see
--          finish.lua)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  live_ms: a worker whose last heartbeat is at most this old is live
-- ARGV[3]  T, the number of tasks in KEYS
-- ARGV[3+i]  name of task i
--
-- Returns {now_ms, running, succeeded, failed, cancelled, live_workers,
--          members of the tasks set (list), active (flat list task, count, ...),
--          then 3 values per task i: scheduled, queued, oldest_due_ms,
--          then the retrying counts (flat list task, count, ...), then the
--          two throughput hashes (flat lists field, value, ...)}
--   scheduled: waiting jobs due later; queued: waiting jobs due now (the
--   ready set plus scheduled jobs already due but not promoted yet);
--   oldest_due_ms: the earliest due time among the queued jobs, -1 if none.
--   Tasks of the tasks set missing from ARGV are not counted: the caller
--   compares the set with its list and calls again with the missing ones.
-- @include common

-- The ready set orders by priority first, so its head is not the oldest job.
-- Each priority is one band of scores [p * 2^42, (p + 1) * 2^42) ordered by
-- due time: the oldest job is the oldest of the band heads, one ZRANGEBYSCORE
-- per priority present. Past BAND_LIMIT priorities, the oldest is among the
-- bands read (an age too small, never too large).
local BAND_LIMIT = 64

local function oldest_ready_due(ready)
  local oldest = -1
  local from = '-inf'
  for _ = 1, BAND_LIMIT do
    local head = redis.call('ZRANGEBYSCORE', ready, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if not head[2] then
      break
    end
    local score = tonumber(head[2])
    local band = math.floor(score / PRIO_SHIFT)
    local due = score - band * PRIO_SHIFT + EPOCH_MS
    if oldest < 0 or due < oldest then
      oldest = due
    end
    -- '%.0f': a Lua number would be sent as %.14g, inexact above 10^14
    from = string.format('%.0f', (band + 1) * PRIO_SHIFT)
  end
  return oldest
end

local now = now_ms(ARGV[1])
local ntasks = tonumber(ARGV[3])
local out = {
  now,
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[4]),
  redis.call('ZCARD', KEYS[5]),
  redis.call('ZCARD', KEYS[6]),
  redis.call('ZCOUNT', KEYS[7], now - tonumber(ARGV[2]), '+inf'),
  redis.call('SMEMBERS', KEYS[1]),
  redis.call('HGETALL', KEYS[3]),
}
for i = 1, ntasks do
  local scheduled, ready = KEYS[6 + 2 * i], KEYS[7 + 2 * i]
  local later = redis.call('ZCOUNT', scheduled, '(' .. now, '+inf')
  local due_unpromoted = redis.call('ZCARD', scheduled) - later
  local oldest = oldest_ready_due(ready)
  if due_unpromoted > 0 then
    local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
    local due = tonumber(head[2])
    if oldest < 0 or due < oldest then
      oldest = due
    end
  end
  out[#out + 1] = later
  out[#out + 1] = redis.call('ZCARD', ready) + due_unpromoted
  out[#out + 1] = oldest
end
out[#out + 1] = redis.call('HGETALL', KEYS[8 + 2 * ntasks])
out[#out + 1] = redis.call('HGETALL', KEYS[9 + 2 * ntasks])
out[#out + 1] = redis.call('HGETALL', KEYS[10 + 2 * ntasks])
return out
