-- Adds a member to the open notification group of a group key, opening the group when none is open; an event
-- that joined a group before (a replay after a replica died before acknowledging it) gets that group again.
-- KEYS[1]: the group's open marker (expires just before the group is flushed).
-- KEYS[2]: the event's join record: which group it joined, kept a day.
-- ARGV: member set key prefix, member JSON, now (ms), how long the group stays open (ms).
-- Returns when the group it joined started; its members wait in the set `<prefix>:<started>`.

local joined = redis.call('GET', KEYS[2])
if joined then
  return joined
end
local opened = redis.call('GET', KEYS[1])
if not opened then
  opened = ARGV[3]
  redis.call('SET', KEYS[1], opened, 'PX', ARGV[4])
end
local set = ARGV[1] .. ':' .. opened
redis.call('SADD', set, ARGV[2])
redis.call('PEXPIRE', set, 3600000)
redis.call('SET', KEYS[2], opened, 'PX', 86400000)
return opened
