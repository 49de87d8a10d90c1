-- read.lua: one job's record and the server time, read atomically.
--
-- KEYS[1]  jobs hash
-- ARGV[1]  id
--
-- Returns {now_ms, state JSON | false, result | false, errors JSON | false}
-- @include common

local id = ARGV[1]
local fields = redis.call('HMGET', KEYS[1], id, id .. ':r', id .. ':e')
return {now_ms(''), fields[1], fields[2], fields[3]}
