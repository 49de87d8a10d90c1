-- core.lua: the helpers of every script, lean ones included: the ready score
-- and the clock. Not a script of its own: common.lua includes it, and a script
-- that needs only these says `-- @include core` (enqueue_plain.lua, park.lua:
-- each helper defined is a cost per call).

-- Ready score: priority first, then due time. Ties are broken by member order,
-- and generated ids are time-ordered, so equal scores run in creation order.
-- priority is in [-1000, 1000] and due - EPOCH < 2^42 ms (year 2159), so the
-- score stays an exact integer below 2^53.
local PRIO_SHIFT = 4398046511104
local EPOCH_MS = 1577836800000

local function ready_score(priority, due_ms)
  return priority * PRIO_SHIFT + (due_ms - EPOCH_MS)
end

-- The Redis server's clock, unless the caller passes an explicit now (tests).
local function now_ms(arg)
  if arg ~= nil and arg ~= '' then
    return tonumber(arg)
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
