-- enqueue.lua: store one or many jobs of one queue; each goes to its task's
-- scheduled set (due later) or ready set (due now).
--
-- KEYS[1]  jobs hash
-- KEYS[2]  tasks set (every task name ever enqueued on this queue)
-- KEYS[2+2i-1], KEYS[2+2i]  scheduled:<task i>, ready:<task i>  (i = 1..T)
-- KEYS[3+2T]  optional: events stream (given = events on: "enqueued" per job)
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
--   1 = stored, 0 = a job with that id already exists, or came earlier in
--   this call (left untouched).
-- @include common

local jobs, tasks = KEYS[1], KEYS[2]
local now = now_ms(ARGV[1])
local channel = ARGV[2]
local ntasks = tonumber(ARGV[3])
local first = 4 + ntasks
local events = KEYS[3 + 2 * ntasks]
local out = {now}
local wake = false

for i = 1, ntasks do
  redis.call('SADD', tasks, ARGV[3 + i])
end

-- One HMGET tells which ids exist; the writes go out as one HSET and one
-- ZADD per set, so the cost per job is a few table operations.
local ids = {}
for j = first, #ARGV, 6 do
  ids[#ids + 1] = ARGV[j]
end
if #ids == 0 then
  return out
end
local existing = redis.call('HMGET', jobs, unpack(ids))

local writes, zadds, seen = {}, {}, {}
local ready_was_empty, earliest = {}, {}
for k, id in ipairs(ids) do
  local j = first + 6 * (k - 1)
  if existing[k] or seen[id] then
    out[k + 1] = 0
  else
    seen[id] = true
    local ti = tonumber(ARGV[j + 1])
    local due = now + tonumber(ARGV[j + 2])
    local scheduled, ready = KEYS[1 + 2 * ti], KEYS[2 + 2 * ti]
    if ready_was_empty[ti] == nil then
      ready_was_empty[ti] = redis.call('ZCARD', ready) == 0
      local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
      earliest[ti] = head[2] and tonumber(head[2]) or math.huge
    end
    writes[#writes + 1] = id
    writes[#writes + 1] = '{"ct":' .. now .. ',"due":' .. due .. ',' .. ARGV[j + 4]
    writes[#writes + 1] = id .. ':p'
    writes[#writes + 1] = ARGV[j + 5]
    if due > now then
      add_to(zadds, scheduled, due, id)
      if due < earliest[ti] then
        -- a new earliest due time: sleeping workers must shorten their wait
        earliest[ti] = due
        wake = true
      end
    else
      add_to(zadds, ready, ready_score(tonumber(ARGV[j + 3]), due), id)
      wake = wake or ready_was_empty[ti]
    end
    out[k + 1] = 1
    emit_event(events, 'enqueued', id, {t = ARGV[3 + ti], a = 0}, now, {'due', due})
  end
end
call_chunked('HSET', {jobs}, writes)
flush_zadds(zadds)

if wake then
  redis.call('PUBLISH', channel, '1')
end
return out
