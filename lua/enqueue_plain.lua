-- enqueue_plain.lua: the common enqueue, lean. Jobs of one task that share
-- their options (delay, priority, state body), with no uniqueness, no events
-- and no if_not_exists; each is stored exactly as enqueue.lua stores it
-- (tests/lua/test_contract_enqueue_plain.py compares the two). The client
-- sends every other enqueue to enqueue.lua. It includes core.lua only: each
-- helper a script defines is a cost on every call.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  tasks set
-- KEYS[3]  scheduled:<task>
-- KEYS[4]  ready:<task>
-- KEYS[5]  parked:<task>  (workers standing ready for a hand-off, see below)
-- KEYS[6]  handoff list
-- KEYS[7]  running zset
-- KEYS[8]  active hash
-- KEYS[9]  optional: created index (App(index_created=True))
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  wake channel (published to when an idle worker may have work)
-- ARGV[3]  task name
-- ARGV[4]  delay_ms (>= 0)
-- ARGV[5]  priority (integer)
-- ARGV[6]  state body (the state JSON without its opening brace; the script
--          adds "ct" and "due", as enqueue.lua does)
-- then the n ids, then their n payloads (opaque bytes), in the same order
--
-- Returns, for one job, an integer: now_ms if it was stored, -now_ms if a job
-- with that id already exists (left untouched). An integer reply costs Redis
-- about 2 us less than a table (it checks a table for err/ok/... fields), an
-- eighth of a one-job call. For more jobs, {now_ms, codes}: `codes` is a
-- string of one character per job, in job order: '1' = stored; '0' = a job
-- with that id already exists, or came earlier in this call (left untouched).
--
-- Cost: one job is TIME, ZCARD or ZRANGE (is the set the job joins empty /
-- its head), HSETNX (writes the state unless the id exists: the existence
-- check and the write in one command), HSET (payload), ZADD. More jobs take
-- one HMGET, HSET and ZADD per SLICE jobs, and the per-job work is table
-- operations (the state and the scores are the same strings for all).
-- The tasks set is written only when the set the jobs join was empty: a
-- member of ready:<task> or scheduled:<task> has a record of that task (an
-- invariant of every script), so the task went into the tasks set when that
-- job was created, and no script removes a task from it. A call that stores
-- nothing writes nothing.
-- @include core

local jobs, tasks, scheduled, ready = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local created = KEYS[9]
local now = now_ms(ARGV[1])
local due = now + tonumber(ARGV[4])
local state = '{"ct":' .. now .. ',"due":' .. due .. ',' .. ARGV[6]
local n = (#ARGV - 6) / 2
-- Jobs per HMGET / HSET / ZADD: 4 values per job stay within unpack()'s limit.
local SLICE = 1000

-- Where the jobs go, with one score for all, formatted once (an exact
-- integer: below 2^53); read before any write whether that set was empty
-- and, for a delay, its earliest due time.
local set, score, was_empty, wake
if due > now then
  local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
  set, score = scheduled, due
  was_empty = head[1] == nil
  -- a new earliest due time: sleeping workers must shorten their wait
  wake = was_empty or due < tonumber(head[2])
else
  set, score = ready, ready_score(tonumber(ARGV[5]), due)
  was_empty = redis.call('ZCARD', ready) == 0
  wake = was_empty
end
score = string.format('%.17g', score)
local created_score = created and string.format('%.17g', now)

local stored, codes = 0, {}
if n == 1 then
  local id, payload = ARGV[7], ARGV[8]
  -- The hand-off (see the header): a worker parked for the task takes the
  -- job claimed, and it never joins the ready set (nor wakes anyone). A
  -- record that already looks claimed is left to claim.lua (it re-encodes).
  local member, record = nil, state
  if due <= now and was_empty then
    member = redis.call('ZRANGE', KEYS[5], now, '+inf', 'BYSCORE', 'LIMIT', 0, 1)[1]
  end
  local bar = member and not string.find(state, ',"s":"running","a":', 1, true)
    and string.find(member, '|', 1, true)
  if bar then
    record = string.sub(state, 1, -2) .. ',"s":"running","a":1,"c":1,"w":'
      .. cjson.encode(string.sub(member, bar + 1)) .. ',"st":' .. now .. '}'
  end
  if redis.call('HSETNX', jobs, id, record) == 0 then
    return -now
  end
  redis.call('HSET', jobs, id .. ':p', payload)
  if bar then
    redis.call('ZADD', KEYS[7], now + tonumber(string.sub(member, 1, bar - 1)), id)
    redis.call('HINCRBY', KEYS[8], ARGV[3], 1)
    redis.call('ZREM', KEYS[5], member)
    redis.call('RPUSH', KEYS[6], id .. '\n' .. record .. '\n' .. payload)
    wake = false
  else
    redis.call('ZADD', set, score, id)
  end
  if created then
    redis.call('ZADD', created, created_score, id)
  end
  stored = 1
else
  local seen = {}
  for first = 1, n, SLICE do
    local last = math.min(first + SLICE - 1, n)
    local existing = redis.call('HMGET', jobs, unpack(ARGV, 6 + first, 6 + last))
    local hset, zadd, cadd = {}, {}, {}
    local h, z = 0, 0
    for k = first, last do
      local id = ARGV[6 + k]
      if existing[k - first + 1] or seen[id] then
        codes[k] = '0'
      else
        seen[id] = true
        hset[h + 1], hset[h + 2], hset[h + 3], hset[h + 4] = id, state, id .. ':p', ARGV[6 + n + k]
        zadd[z + 1], zadd[z + 2] = score, id
        if created then
          cadd[z + 1], cadd[z + 2] = created_score, id
        end
        h, z = h + 4, z + 2
        codes[k] = '1'
      end
    end
    if h > 0 then
      redis.call('HSET', jobs, unpack(hset))
      redis.call('ZADD', set, unpack(zadd))
      if created then
        redis.call('ZADD', created, unpack(cadd))
      end
      stored = stored + z / 2
    end
  end
end

if stored > 0 then
  if was_empty then
    redis.call('SADD', tasks, ARGV[3])
  end
  if wake then
    redis.call('PUBLISH', ARGV[2], '1')
  end
end
if n == 1 then
  return now
end
return {now, table.concat(codes)}
