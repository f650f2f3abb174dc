-- Closes a notification group to newcomers and returns its members, in one step: an alert that comes after it
-- opens the next group rather than joining this one after its members were read (and being dropped with them).
-- KEYS[1]: the group's open marker; KEYS[2]: its member set. ARGV[1]: when the group opened (the marker's value
-- while this group is the open one; a later group's marker is left alone).

if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('SMEMBERS', KEYS[2])
