-- Evaluates one rule for one series or group with the samples of a batch.
-- KEYS: state, window, active, outbox, timers, ids.
-- ARGV: newAlertId, now, meta JSON {rule, severity, labels, channels, summaryTpl, messageTpl, renotifyMs, forMs, keepMs,
--   type, agg, windowMs, cmp, threshold, nodataMs}, then (series, ts, value) triples.
-- Returns the state after the batch.
-- Runs after alert-transition.lua, whose functions (load, end_other_type, apply_meta, step, transition, emit, finish) it calls.

local key = KEYS[1]
local now = tonumber(ARGV[2])
local meta = cjson.decode(ARGV[3])
local h = load(key)
end_other_type(h, key, meta, now)
apply_meta(h, meta, now)

if meta.type == 'nodata' then
  -- Data arrived: a firing no-data alert resolves, and the watch re-arms from now.
  if h.state == 'firing' then transition(h, key, 'resolved', now) end
  if not h.state then h.state = 'inactive' end
  finish(h, key, now)
  return h.state
end

local value = nil
if meta.agg == 'last' then
  local bestTs = tonumber(h.lastTs) or -1
  for i = 4, #ARGV, 3 do
    local ts = tonumber(ARGV[i + 1])
    if ts >= bestTs then bestTs = ts; value = tonumber(ARGV[i + 2]) end
  end
  if value == nil then return h.state or 'inactive' end
  h.lastTs = tostring(bestTs)
else
  for i = 4, #ARGV, 3 do
    redis.call('ZADD', KEYS[2], tonumber(ARGV[i + 1]), ARGV[i] .. '|' .. ARGV[i + 1] .. '|' .. ARGV[i + 2])
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. tostring(now - meta.windowMs))
  redis.call('PEXPIRE', KEYS[2], meta.windowMs * 2 + 60000)
  local members = redis.call('ZRANGE', KEYS[2], 0, -1)
  local n, sum, mn, mx = 0, 0, nil, nil
  local first, last = {}, {}
  for _, m in ipairs(members) do
    local s, ts, v = string.match(m, '^(.*)|([^|]+)|([^|]+)$')
    ts = tonumber(ts); v = tonumber(v)
    n = n + 1; sum = sum + v
    if not mn or v < mn then mn = v end
    if not mx or v > mx then mx = v end
    if not first[s] or ts < first[s][1] then first[s] = {ts, v} end
    if not last[s] or ts > last[s][1] then last[s] = {ts, v} end
  end
  if n == 0 then return h.state or 'inactive' end
  if meta.agg == 'avg' then value = sum / n elseif meta.agg == 'min' then value = mn elseif meta.agg == 'max' then value = mx
  elseif meta.agg == 'sum' then value = sum elseif meta.agg == 'count' then value = n
  else
    -- rate: per-second increase per series over the window, summed over the group; a drop is a counter reset.
    value = 0
    for s, f in pairs(first) do
      local l = last[s]
      if l[1] > f[1] then
        local inc = l[2] - f[2]
        if inc < 0 then inc = l[2] end
        value = value + inc / ((l[1] - f[1]) / 1000)
      end
    end
  end
end
h.value = tostring(value)
step(h, key, compare(value, meta.cmp, meta.threshold), now)
finish(h, key, now)
return h.state
