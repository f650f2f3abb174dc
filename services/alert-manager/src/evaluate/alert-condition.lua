-- Applies one evaluation of a rule whose condition the engine decides (a PromQL rule): the series of the group
-- was returned (breach '1', with its value) or not ('0'); the same states and timers as a threshold rule's.
-- KEYS as alert-evaluate.lua's, with the rule's newest applied instant in place of the window; ARGV: newAlertId, now
-- (the evaluation's instant), meta JSON (as alert-evaluate.lua's), breach, value.
-- Returns the state after it.
-- Runs after alert-transition.lua, whose functions (load, end_other_type, apply_meta, step, transition, emit, finish) it calls.

local key = KEYS[1]
local now = tonumber(ARGV[2])
local h = load(key)
local breach = ARGV[4] == '1'
-- An evaluation that finished after a newer one of the rule (a slow engine, another replica) says nothing new.
local newest = tonumber(redis.call('GET', KEYS[2]) or '-1')
if now < newest then return h.state or 'inactive' end
if now > newest then redis.call('SET', KEYS[2], tostring(now), 'PX', 86400000) end
-- A group that is not active has nothing to end.
if not breach and not h.state then return 'inactive' end
local meta = cjson.decode(ARGV[3])
end_other_type(h, key, meta, now)
apply_meta(h, meta, now)
if breach then h.value = ARGV[5] end
step(h, key, breach, now)
finish(h, key, now)
return h.state
