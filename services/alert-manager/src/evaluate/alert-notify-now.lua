-- Makes a firing, unacknowledged alert's re-notification due now: a silence or an inhibition that stopped its
-- notification has lifted. The timer sweep then sends it down the notification path as a re-notification.
-- KEYS: state, timers. ARGV: now, alertId. Returns 1 when it was made due, 0 when the state holds another alert by
-- now, or the alert is no longer firing or was acknowledged.
local h = redis.call('HMGET', KEYS[1], 'state', 'ackBy', 'id')
if h[1] ~= 'firing' or (h[2] and h[2] ~= '') or h[3] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'notifyDue', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[1], KEYS[1])
return 1
