-- core.lua: the helpers of every script, lean ones included. Not a script of
-- its own: common.lua includes it, and a script that needs only these says
-- `-- @include core` (enqueue_plain.lua: each helper defined is a cost per call).

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

-- Lua's unpack() is limited to a few thousand values: long argument lists
-- are sent in chunks. `head` holds the arguments before the list (e.g. the key).
local CHUNK = 6000

local function call_chunked(cmd, head, list)
  local n = #list
  local i = 1
  while i <= n do
    local j = math.min(i + CHUNK - 1, n)
    local args = {}
    for _, h in ipairs(head) do
      args[#args + 1] = h
    end
    for k = i, j do
      args[#args + 1] = list[k]
    end
    redis.call(cmd, unpack(args))
    i = j + 1
  end
end
