-- read.lua: one job's record and the server time, read atomically.
--
-- KEYS[1]  jobs hash
-- ARGV[1]  id
-- ARGV[2]  optional: now_ms ('' or absent: the server clock)
--
-- Returns {now_ms, state JSON | false, result | false, errors JSON | false,
--          progress JSON | false, job log JSON | false, kept runs JSON | false}
-- @include common

local id = ARGV[1]
local fields = redis.call('HMGET', KEYS[1], id, id .. ':r', id .. ':e', id .. ':g', id .. ':l',
  id .. ':x')
return {now_ms(ARGV[2]), fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]}
