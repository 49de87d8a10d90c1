-- enqueue.lua: store one or many jobs of one queue; each goes to its task's
-- scheduled set (due later) or ready set (due now).
--
-- KEYS[1]  jobs hash
-- KEYS[2]  tasks set (every task name ever enqueued on this queue)
-- KEYS[2+2i-1], KEYS[2+2i]  scheduled:<task i>, ready:<task i>  (i = 1..T)
--
-- ARGV[1]  now_ms, or '' to use the server clock
-- ARGV[2]  wake channel (published to when an idle worker may have work)
-- ARGV[3]  T, the number of distinct tasks in KEYS
-- ARGV[3+i]  name of task i
-- then 6 fields per job:
--   id, task index i (1-based), delay_ms (>= 0), priority (integer),
--   state body (the state JSON without its opening brace; the script adds
--   "ct" and "due"), payload (opaque bytes)
--
-- Returns {now_ms, code_1, ..., code_n} in job order:
--   1 = stored, 0 = a job with that id already exists (left untouched).
-- @include common

local jobs, tasks = KEYS[1], KEYS[2]
local now = now_ms(ARGV[1])
local channel = ARGV[2]
local ntasks = tonumber(ARGV[3])
local first = 4 + ntasks
local out = {now}
local wake = false
local ready_was_empty = {}
local earliest = {}

for i = 1, ntasks do
  redis.call('SADD', tasks, ARGV[3 + i])
end

for j = first, #ARGV, 6 do
  local id = ARGV[j]
  local ti = tonumber(ARGV[j + 1])
  local due = now + tonumber(ARGV[j + 2])
  local priority = tonumber(ARGV[j + 3])
  if redis.call('HEXISTS', jobs, id) == 1 then
    out[#out + 1] = 0
  else
    local scheduled, ready = KEYS[1 + 2 * ti], KEYS[2 + 2 * ti]
    if ready_was_empty[ti] == nil then
      ready_was_empty[ti] = redis.call('ZCARD', ready) == 0
      local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
      earliest[ti] = head[2] and tonumber(head[2]) or math.huge
    end
    local state = '{"ct":' .. now .. ',"due":' .. due .. ',' .. ARGV[j + 4]
    redis.call('HSET', jobs, id, state, id .. ':p', ARGV[j + 5])
    if put_waiting(scheduled, ready, id, priority, due, now) then
      wake = wake or ready_was_empty[ti]
    elseif due < earliest[ti] then
      -- a new earliest due time: sleeping workers must shorten their wait
      earliest[ti] = due
      wake = true
    end
    out[#out + 1] = 1
  end
end

if wake then
  redis.call('PUBLISH', channel, '1')
end
return out
