/*
 * Alert state changes run as Lua scripts inside Redis, so each one is atomic: two replicas (or a replica
 * restarted after SIGKILL) evaluating the same rule and group can never both make the same transition, and
 * every transition is appended to the outbox stream in the same step, so none is lost or doubled.
 * (The alternative, a deterministic owner per series, needs membership and hand-over between replicas.)
 *
 * State hash fields: id, rule, severity, state, value, breach, since, firedAt, lastTs, lastSeen, keepUntil,
 * notifyDue, renotifyMs, seq, labels, channels, notified, summaryTpl, messageTpl, ackBy, ackAt, ackComment.
 */

/** Shared Lua: emit a transition to the outbox and keep the active set, timers and id index in step. */
const TRANSITION = `
-- Appends one event of the alert's life to the outbox, with everything the relay needs to record and notify it.
local function emit(h, key, kind, from, to, now)
  h.seq = tostring((tonumber(h.seq) or 0) + 1)
  redis.call('XADD', KEYS[4], '*', 'key', key, 'id', h.id, 'seq', h.seq, 'kind', kind, 'from', from, 'to', to,
    'at', tostring(now), 'value', tostring(h.value or 0), 'labels', h.labels or '{}', 'rule', h.rule or '', 'severity', h.severity or '',
    'channels', h.channels or '[]', 'notified', h.notified or '[]', 'since', h.since or '', 'firedAt', h.firedAt or '',
    'summaryTpl', h.summaryTpl or '', 'messageTpl', h.messageTpl or '', 'ackBy', h.ackBy or '', 'ackAt', h.ackAt or '', 'ackComment', h.ackComment or '')
end

local function transition(h, key, to, now, kind)
  local from = h.state or 'inactive'
  h.state = to
  emit(h, key, kind or to, from, to, now)
  if to == 'pending' or to == 'firing' then
    redis.call('ZADD', KEYS[3], tonumber(h.since), key)
    redis.call('HSET', KEYS[6], h.id, key)
  end
end

local function finish(h, key, now)
  local nodata = h.nodataMs and h.nodataMs ~= ''
  if h.state == 'resolved' or h.state == 'inactive' then
    redis.call('ZREM', KEYS[3], key)
    if h.id and h.id ~= '' then redis.call('HDEL', KEYS[6], h.id) end
    if not nodata then
      redis.call('ZREM', KEYS[5], key)
      redis.call('DEL', key)
      return
    end
    -- A no-data rule keeps watching the group: an inactive record whose timer fires when data stops again.
    h.state = 'inactive'; h.id = ''
  end
  local flat = {}
  for k, v in pairs(h) do flat[#flat + 1] = k; flat[#flat + 1] = v end
  redis.call('HSET', key, unpack(flat))
  local due = nil
  local function consider(t) if t and t ~= '' then t = tonumber(t); if not due or t < due then due = t end end end
  if h.state == 'pending' and h.forMs then consider(tonumber(h.since) + tonumber(h.forMs)) end
  if h.keepUntil and h.keepUntil ~= '' then consider(h.keepUntil) end
  if h.state == 'firing' and (not h.ackBy or h.ackBy == '') then consider(h.notifyDue) end
  if nodata and h.state ~= 'firing' then consider(tonumber(h.lastSeen) + tonumber(h.nodataMs)) end
  if due then redis.call('ZADD', KEYS[5], due, key) else redis.call('ZREM', KEYS[5], key) end
end

local function load(key)
  local raw = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  return h
end

local function compare(v, cmp, t)
  if cmp == '>' then return v > t elseif cmp == '>=' then return v >= t elseif cmp == '<' then return v < t
  elseif cmp == '<=' then return v <= t elseif cmp == '==' then return v == t else return v ~= t end
end

-- The condition holds (or stops holding) at 'now': pending/firing/resolved as the rule's for and keep_firing_for say.
local function step(h, key, breach, now)
  local state = h.state or 'inactive'
  local forMs = tonumber(h.forMs) or 0
  local keepMs = tonumber(h.keepMs) or 0
  if breach then
    h.breach = '1'
    h.keepUntil = ''
    if state == 'inactive' or state == 'resolved' then
      h.id = ARGV[1]
      h.since = tostring(now)
      h.notified = '[]'
      h.ackBy = ''; h.ackAt = ''; h.ackComment = ''
      if forMs <= 0 then
        h.firedAt = tostring(now); h.notifyDue = tostring(now + tonumber(h.renotifyMs)); transition(h, key, 'firing', now)
      else transition(h, key, 'pending', now) end
    elseif state == 'pending' and now - tonumber(h.since) >= forMs then
      h.firedAt = tostring(now); h.notifyDue = tostring(now + tonumber(h.renotifyMs)); transition(h, key, 'firing', now)
    end
  else
    h.breach = '0'
    if state == 'pending' then transition(h, key, 'inactive', now)
    elseif state == 'firing' then
      if keepMs > 0 and (not h.keepUntil or h.keepUntil == '') then h.keepUntil = tostring(now + keepMs)
      elseif keepMs <= 0 or now >= tonumber(h.keepUntil) then transition(h, key, 'resolved', now) end
    end
  end
end

-- The rule's current definition, carried by every evaluation (a changed rule applies from its next evaluation).
local function apply_meta(h, meta, now)
  h.rule = meta.rule; h.severity = meta.severity; h.labels = meta.labels; h.channels = meta.channels
  h.summaryTpl = meta.summaryTpl; h.messageTpl = meta.messageTpl; h.renotifyMs = tostring(meta.renotifyMs)
  h.forMs = tostring(meta.forMs); h.keepMs = tostring(meta.keepMs); h.nodataMs = meta.nodataMs and tostring(meta.nodataMs) or ''
  h.lastSeen = tostring(now)
end
`;

/**
 * Evaluates one rule for one series or group with the samples of a batch.
 * KEYS: state, window, active, outbox, timers, ids.
 * ARGV: newAlertId, now, meta JSON {rule, severity, labels, channels, summaryTpl, messageTpl, renotifyMs, forMs, keepMs,
 *   type, agg, windowMs, cmp, threshold, nodataMs}, then (series, ts, value) triples.
 * Returns the state after the batch.
 */
export const EVALUATE_SCRIPT = `${TRANSITION}
local key = KEYS[1]
local now = tonumber(ARGV[2])
local meta = cjson.decode(ARGV[3])
local h = load(key)
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
`;

/**
 * Applies one evaluation of a rule whose condition the engine decides (a PromQL rule): the series of the group
 * was returned (breach '1', with its value) or not ('0'); the same states and timers as a threshold rule's.
 * KEYS as EVALUATE_SCRIPT (window unused); ARGV: newAlertId, now, meta JSON (as EVALUATE_SCRIPT's), breach, value.
 * Returns the state after it.
 */
export const CONDITION_SCRIPT = `${TRANSITION}
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
`;

/**
 * Runs the timers of one state key that are due: pending → firing after \`for\`, firing → resolved after
 * keep_firing_for, no data for the rule's duration → firing, and re-notification of an unacknowledged alert.
 * KEYS as EVALUATE_SCRIPT; ARGV: newAlertId, now, ruleExists ('1'|'0').
 */
export const SWEEP_SCRIPT = `${TRANSITION}
local key = KEYS[1]
local now = tonumber(ARGV[2])
local h = load(key)
if not h.state then redis.call('ZREM', KEYS[5], key); return 'gone' end
if ARGV[3] == '0' then
  -- The rule was deleted: its alerts end.
  if h.state == 'firing' then transition(h, key, 'resolved', now) elseif h.state == 'pending' then transition(h, key, 'inactive', now) else h.state = 'inactive' end
  finish(h, key, now)
  return 'removed'
end
if h.nodataMs and h.nodataMs ~= '' then
  if h.state ~= 'firing' and now - tonumber(h.lastSeen) >= tonumber(h.nodataMs) then
    h.id = ARGV[1]; h.since = h.lastSeen; h.firedAt = tostring(now); h.notified = '[]'; h.value = '0'
    h.ackBy = ''; h.ackAt = ''; h.ackComment = ''
    h.notifyDue = tostring(now + tonumber(h.renotifyMs))
    transition(h, key, 'firing', now)
  end
elseif h.state == 'pending' then
  step(h, key, h.breach == '1', now)
elseif h.state == 'firing' and h.keepUntil and h.keepUntil ~= '' and now >= tonumber(h.keepUntil) then
  transition(h, key, 'resolved', now)
end
if h.state == 'firing' and (not h.ackBy or h.ackBy == '') and h.notifyDue and h.notifyDue ~= '' and now >= tonumber(h.notifyDue) then
  h.notifyDue = tostring(now + tonumber(h.renotifyMs))
  emit(h, key, 'renotify', 'firing', 'firing', now)
end
finish(h, key, now)
return h.state
`;

/**
 * Acknowledges an active alert: stops its re-notification and records who and why.
 * KEYS as EVALUATE_SCRIPT (window unused); ARGV: alertId, now, by, comment. Returns the alert's state, or 'missing'.
 */
export const ACK_SCRIPT = `${TRANSITION}
local key = KEYS[1]
local now = tonumber(ARGV[2])
local h = load(key)
if h.id ~= ARGV[1] or (h.state ~= 'firing' and h.state ~= 'pending') then return 'missing' end
if h.ackBy and h.ackBy ~= '' then return 'already' end
h.ackBy = ARGV[3]; h.ackAt = tostring(now); h.ackComment = ARGV[4]
emit(h, key, 'acknowledged', h.state, h.state, now)
finish(h, key, now)
return h.state
`;

/** Records the channels a firing alert was sent to, so its resolution goes to the same ones. KEYS[1] state; ARGV id, channels JSON. */
export const MARK_NOTIFIED_SCRIPT = `
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then redis.call('HSET', KEYS[1], 'notified', ARGV[2]) return 1 end
return 0
`;
