-- Adds the channels an alert was sent to to those recorded for it: apart (KEYS[1], kept ARGV[3] seconds) and in its
-- state (KEYS[2]) while that still holds the alert; its resolution goes to all of them. Added, not replaced: a
-- re-notification after the rule's channels changed (Slack to email) left Slack without the resolution.
-- ARGV: alertId, channels JSON, seconds kept. Returns 1, or 0 when the state holds another alert by now.

local function union(recorded)
  local seen, out = {}, {}
  for _, list in ipairs({ cjson.decode(recorded or '[]'), cjson.decode(ARGV[2]) }) do
    for _, channel in ipairs(list) do
      if not seen[channel] then seen[channel] = true; out[#out + 1] = channel end
    end
  end
  -- cjson writes an empty table as {}.
  if #out == 0 then return '[]' end
  return cjson.encode(out)
end

redis.call('SET', KEYS[1], union(redis.call('GET', KEYS[1]) or nil), 'EX', ARGV[3])
if redis.call('HGET', KEYS[2], 'id') == ARGV[1] then
  redis.call('HSET', KEYS[2], 'notified', union(redis.call('HGET', KEYS[2], 'notified') or nil))
  return 1
end
return 0
