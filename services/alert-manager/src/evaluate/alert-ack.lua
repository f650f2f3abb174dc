-- Acknowledges an active alert: stops its re-notification and records who and why.
-- KEYS as alert-evaluate.lua's (window unused); ARGV: alertId, now, by, comment.
-- Returns the alert's state, 'missing' (no active alert with that id) or 'already' (acknowledged before).
-- Runs after alert-transition.lua, whose functions (load, apply_meta, step, transition, emit, finish) it calls.

local key = KEYS[1]
local now = tonumber(ARGV[2])
local h = load(key)
if h.id ~= ARGV[1] or (h.state ~= 'firing' and h.state ~= 'pending') then return 'missing' end
if h.ackBy and h.ackBy ~= '' then return 'already' end
h.ackBy = ARGV[3]; h.ackAt = tostring(now); h.ackComment = ARGV[4]
emit(h, key, 'acknowledged', h.state, h.state, now)
finish(h, key, now)
return h.state
