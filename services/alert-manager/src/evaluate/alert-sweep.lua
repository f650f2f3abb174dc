-- Runs the timers of one state key that are due: pending -> firing after `for`, firing -> resolved after
-- keep_firing_for, no data for the rule's duration -> firing, a threshold rule's series silent for its staleMs -> its
-- alert ends, and re-notification of an unacknowledged alert.
-- KEYS as alert-evaluate.lua's; ARGV: newAlertId, now, the rule's type now ('' when it is gone), how far the intake
-- has come (at most now): silence is judged there, so a stalled or lagging intake resolves and fires nothing; and the
-- rule's group definition now (groupDefinition): a no-data record of another one is ended as a rule gone; and a no-data
-- rule's `for` now (ms, '' for other rules): a silent group is never evaluated, so its record held the old one; and
-- the definition as written before it had one order, which records of silent groups may still carry.
-- Returns the state after it, 'removed' (the rule was deleted, is of another type now, or makes its groups otherwise)
-- or 'gone' (no such state).
-- Runs after alert-transition.lua, whose functions (load, apply_meta, step, transition, emit, finish) it calls.

local key = KEYS[1]
local now = tonumber(ARGV[2])
local heard = tonumber(ARGV[4]) or now
local h = load(key)
if not h.state then redis.call('ZREM', KEYS[5], key); return 'gone' end
if ARGV[3] == '' or (h.type and h.type ~= '' and h.type ~= ARGV[3]) or (h.def and h.def ~= '' and h.def ~= (ARGV[5] or '') and h.def ~= (ARGV[7] or '')) then
  -- The rule was deleted, or is of another type now, which evaluates other states: its alerts end, and nothing of it
  -- is kept: a no-data rule's watch record would otherwise be rewritten with a timer already due, every sweep, ahead
  -- of every other timer.
  if h.state == 'firing' then transition(h, key, 'resolved', now) elseif h.state == 'pending' then transition(h, key, 'inactive', now) else h.state = 'inactive' end
  h.nodataMs = ''
  finish(h, key, now)
  return 'removed'
end
if h.nodataMs and h.nodataMs ~= '' then
  if ARGV[6] and ARGV[6] ~= '' then h.nodataMs = ARGV[6] end
  if h.state ~= 'firing' and heard - tonumber(h.lastSeen) >= tonumber(h.nodataMs) then
    h.id = ARGV[1]; h.since = h.lastSeen; h.firedAt = tostring(now); h.notified = '[]'; h.value = '0'
    h.ackBy = ''; h.ackAt = ''; h.ackComment = ''
    h.notifyDue = tostring(now + tonumber(h.renotifyMs))
    transition(h, key, 'firing', now)
  end
elseif h.staleMs and h.staleMs ~= '' and (h.state == 'pending' or h.state == 'firing') and heard - tonumber(h.lastSeen) >= tonumber(h.staleMs) then
  -- The series stopped reporting (a host shut down): nothing will judge the condition again, so the alert ends.
  transition(h, key, h.state == 'firing' and 'resolved' or 'inactive', now)
elseif h.state == 'pending' and h.type ~= 'promql' then
  step(h, key, h.breach == '1', now)
elseif h.state == 'firing' and h.type ~= 'promql' and h.keepUntil and h.keepUntil ~= '' and now >= tonumber(h.keepUntil) then
  transition(h, key, 'resolved', now)
end
if h.state == 'firing' and (not h.ackBy or h.ackBy == '') and h.notifyDue and h.notifyDue ~= '' and now >= tonumber(h.notifyDue) then
  h.notifyDue = tostring(now + tonumber(h.renotifyMs))
  emit(h, key, 'renotify', 'firing', 'firing', now)
end
finish(h, key, now)
-- Still due: silence the intake has not caught up with. Looked at again a little later, not every sweep ahead of
-- every other timer; by at most 5 s, as the intake may catch up at any moment (put off by its whole lag, a timer of a
-- replica just started, its clock at 0, went decades ahead and never fired).
local due = redis.call('ZSCORE', KEYS[5], key)
if due and tonumber(due) <= now and heard < now then redis.call('ZADD', KEYS[5], now + math.min(5000, math.max(1000, now - heard)), key) end
return h.state
