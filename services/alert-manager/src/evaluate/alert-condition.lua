-- Applies one evaluation of a rule whose condition the engine decides (a PromQL rule): the series of the group
-- was returned (breach '1', with its value) or not ('0'); the same states and timers as a threshold rule's.
-- KEYS as alert-evaluate.lua's (window unused); ARGV: newAlertId, now, meta JSON (as alert-evaluate.lua's), breach, value.
-- Returns the state after it.
-- Runs after alert-transition.lua, whose functions (load, apply_meta, step, transition, emit, finish) it calls.

local key = KEYS[1]
local now = tonumber(ARGV[2])
local h = load(key)
local breach = ARGV[4] == '1'
-- A group that is not active has nothing to end.
if not breach and not h.state then return 'inactive' end
apply_meta(h, cjson.decode(ARGV[3]), now)
if breach then h.value = ARGV[5] end
step(h, key, breach, now)
finish(h, key, now)
return h.state
