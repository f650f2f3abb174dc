-- Adds a member to the open notification group of a group key, opening the group when none is open; an event
-- that joined a group before (a replay after a replica died before acknowledging it) gets that group again.
-- KEYS[1]: the group's open marker (expires just before the group is flushed).
-- KEYS[2]: the event's join record: which group it joined, kept a day.
-- KEYS[3]: the member set of the group the caller expects to join, `<prefix>:<ARGV[4]>`: every key a script
--          touches is declared, as Redis asks (a cluster routes by them).
-- ARGV: member JSON, now (ms), how long the group stays open (ms), when the expected group started.
-- Returns { started, joined }: joined is 0 when the open group is another than the expected one (it opened or
-- closed meanwhile): nothing was added, and the caller asks again with that group's set.

local joined = redis.call('GET', KEYS[2])
if joined then
  return { joined, 1 }
end
local opened = redis.call('GET', KEYS[1])
if not opened then
  opened = ARGV[2]
  redis.call('SET', KEYS[1], opened, 'PX', ARGV[3])
end
if opened ~= ARGV[4] then
  return { opened, 0 }
end
redis.call('SADD', KEYS[3], ARGV[1])
-- Kept as long as the join record and the flush job: with every replica down for over an hour, an hour's expiry let
-- the flush find the group gone, its firings and resolutions sent to no one.
redis.call('PEXPIRE', KEYS[3], 86400000)
redis.call('SET', KEYS[2], opened, 'PX', 86400000)
return { opened, 1 }
