-- Records the channels a firing alert was sent to, so its resolution goes to the same ones.
-- KEYS[1]: state; ARGV: alertId, channels JSON. Returns 1, or 0 when the state holds another alert by now.

if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then redis.call('HSET', KEYS[1], 'notified', ARGV[2]) return 1 end
return 0
