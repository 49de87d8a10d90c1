-- list.lua: one page of jobs read from one set (a task's scheduled or ready
-- set, running, or a finished index), in the set's order, filtered, paged by
-- the key (score, id) of the last job examined: a page starts right after
-- it, so pages are stable under ties and under jobs leaving the set.
-- Changes nothing. Examines at most `budget` members per call.
--
-- KEYS[1]  jobs hash
-- KEYS[2]  the set read
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  'asc' or 'desc'
-- ARGV[3], ARGV[4]  after score, after id ('' = from the start)
-- ARGV[5]  page size (most jobs returned)
-- ARGV[6]  budget (most members examined)
-- ARGV[7]  filter JSON {t: [tasks] (optional), s: [public statuses], g: [tags, all-of],
--          and optional: ga [tags, one-of], lb [[key, value], ...] labels, all
--          of them ([key] alone: the key is present), sc [schedule ids, one-of],
--          time ranges [from, to) in ms (0 = open): c created, d due, f finished}
-- ARGV[8]  optional: '1' = count only (no jobs returned; the page size is
--          ignored, the whole budget is examined)
--
-- Returns {now_ms, exhausted (1 = the set's end was reached), last score,
--          last id, then 5 values per job: id, state JSON, result, errors JSON,
--          kept runs JSON} (result, errors and runs false when absent); when
--          counting, {now_ms, exhausted, last score, last id, matches}.
-- @include common
-- @include manage

local jobs, set = KEYS[1], KEYS[2]
local now = now_ms(ARGV[1])
local desc = ARGV[2] == 'desc'
local n, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
local filter = cjson.decode(ARGV[7])
local tasks = filter.t and set_of(cjson.encode(filter.t))
local statuses = set_of(cjson.encode(filter.s))
local tags = filter.g or {}
local any_tags = filter.ga and set_of(cjson.encode(filter.ga))
local labels = filter.lb or {}
local schedule_ids = filter.sc and set_of(cjson.encode(filter.sc))
local counting = ARGV[8] == '1'
if counting then
  n = budget + 1
end

-- Whether `value` is in the range [from, to) (0 = open side); a job without
-- the time (never finished) is outside any finished range.
local function within(range, value)
  if not range then
    return true
  end
  if not value then
    return false
  end
  return (range[1] == 0 or value >= range[1]) and (range[2] == 0 or value < range[2])
end

-- Whether the job carries one of the tags of `wanted` (a set).
local function has_any_tag(st)
  for _, t in ipairs(st.tg or {}) do
    if any_tags[t] then
      return true
    end
  end
  return false
end

-- Whether every label filter holds: [key] the key is present, [key, value] equal.
local function has_labels(st)
  local mine = st.lb or {}
  for _, pair in ipairs(labels) do
    local value = mine[pair[1]]
    if value == nil or (pair[2] ~= nil and value ~= pair[2]) then
      return false
    end
  end
  return true
end

local function matches(st)
  return (not tasks or tasks[st.t]) and statuses[public_status(st, now)] and has_tags(st, tags)
    and (not any_tags or has_any_tag(st)) and has_labels(st)
    and (not schedule_ids or (st.sc and schedule_ids[st.sc]))
    and within(filter.c, st.ct) and within(filter.d, st.due) and within(filter.f, st.ft)
end

-- The rank where the page starts.
local start = 0
local last_score, last_id = ARGV[3], ARGV[4]
if last_score ~= '' then
  local s = tonumber(last_score)
  local here = redis.call('ZSCORE', set, last_id)
  if here and tonumber(here) == s then
    start = (desc and redis.call('ZREVRANK', set, last_id) or redis.call('ZRANK', set, last_id)) + 1
  else
    -- the last job left the set: count what sorts before its key
    if desc then
      start = redis.call('ZCOUNT', set, '(' .. s, '+inf')
    else
      start = redis.call('ZCOUNT', set, '-inf', '(' .. s)
    end
    -- ties sort by id (descending in a descending read): skip those before it
    while true do
      local probe = desc and redis.call('ZREVRANGE', set, start, start, 'WITHSCORES')
        or redis.call('ZRANGE', set, start, start, 'WITHSCORES')
      if #probe == 0 or tonumber(probe[2]) ~= s then
        break
      end
      if (desc and probe[1] < last_id) or (not desc and probe[1] > last_id) then
        break
      end
      start = start + 1
    end
  end
end

local out = {now, 0, last_score, last_id}
local found, examined = 0, 0
local CHUNK = 100
while found < n and examined < budget do
  local size = math.min(CHUNK, budget - examined)
  local members = desc and redis.call('ZREVRANGE', set, start, start + size - 1, 'WITHSCORES')
    or redis.call('ZRANGE', set, start, start + size - 1, 'WITHSCORES')
  if #members == 0 then
    out[2] = 1
    break
  end
  for k = 1, #members, 2 do
    local id = members[k]
    examined = examined + 1
    start = start + 1
    out[3], out[4] = members[k + 1], id
    local raw = redis.call('HGET', jobs, id)
    local st = raw and cjson.decode(raw)
    if st and matches(st) then
      found = found + 1
      if not counting then
        local more = redis.call('HMGET', jobs, id .. ':r', id .. ':e', id .. ':x')
        out[#out + 1] = id
        out[#out + 1] = raw
        out[#out + 1] = more[1]
        out[#out + 1] = more[2]
        out[#out + 1] = more[3]
      end
      if found >= n then
        break
      end
    end
  end
  if #members < 2 * size and found < n then
    out[2] = 1
    break
  end
end
if counting then
  out[5] = found
end
return out
