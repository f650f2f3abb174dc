-- Shared by the alert-state scripts (alert-state-scripts.ts puts it before each one): emits a transition to the
-- outbox and keeps the active set, the timers and the id index in step with the state hash.
-- KEYS (every script that includes it): state, window, active, outbox, timers, ids.
--
-- State hash fields: id, rule, severity, state, value, breach, since, firedAt, lastTs, lastSeen, keepUntil,
-- notifyDue, renotifyMs, seq, labels, channels, notified, summaryTpl, messageTpl, ackBy, ackAt, ackComment,
-- forMs, keepMs, nodataMs, type, staleMs.

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
  local idle = h.staleMs and h.staleMs ~= '' and tonumber(h.staleMs) or nil
  if h.state == 'resolved' or h.state == 'inactive' then
    redis.call('ZREM', KEYS[3], key)
    if h.id and h.id ~= '' then redis.call('HDEL', KEYS[6], h.id) end
    if not nodata then
      redis.call('ZREM', KEYS[5], key)
      redis.call('DEL', key)
      -- The newest sample's time stays while the series may still send: an older sample redelivered or out of order
      -- after the resolution started the alert again (a false fire and resolve).
      if idle and h.lastTs and h.lastTs ~= '' then
        redis.call('HSET', key, 'lastTs', h.lastTs)
        redis.call('PEXPIRE', key, idle)
      end
      return
    end
    -- A no-data rule keeps watching the group: an inactive record whose timer fires when data stops again.
    h.state = 'inactive'; h.id = ''
  end
  local flat = {}
  for k, v in pairs(h) do flat[#flat + 1] = k; flat[#flat + 1] = v end
  redis.call('HSET', key, unpack(flat))
  -- The record of a series that is not alerting (it never breached) lives while its samples come: one was kept for
  -- every series a rule ever matched, for good. An alert's record is kept until it ends.
  if idle and (not h.state or h.state == '') then redis.call('PEXPIRE', key, idle) else redis.call('PERSIST', key) end
  local due = nil
  local function consider(t) if t and t ~= '' then t = tonumber(t); if not due or t < due then due = t end end end
  -- A PromQL rule's `for` and `keep_firing_for` are judged by its evaluations, never by a sweep between two of them
  -- on the last result: as in Prometheus, a series back at the evaluation where keep_firing_for ends keeps firing.
  if h.state == 'pending' and h.forMs and h.type ~= 'promql' then consider(tonumber(h.since) + tonumber(h.forMs)) end
  if h.staleMs and h.staleMs ~= '' and (h.state == 'pending' or h.state == 'firing') then consider(tonumber(h.lastSeen) + tonumber(h.staleMs)) end
  if h.keepUntil and h.keepUntil ~= '' and h.type ~= 'promql' then consider(h.keepUntil) end
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

-- A rule of another type now (a threshold rule made a no-data one) evaluates other states: its alert ends first, as
-- the sweep ends it at its timer, and the new type starts from there. Left as it was, a pending alert stayed pending
-- under a no-data rule, its timer due for good, ahead of every other timer.
local function end_other_type(h, key, meta, now)
  if not h.type or h.type == '' or h.type == (meta.type or '') then return end
  if h.state == 'firing' then transition(h, key, 'resolved', now) elseif h.state == 'pending' then transition(h, key, 'inactive', now) end
  if h.id and h.id ~= '' then redis.call('HDEL', KEYS[6], h.id) end
  h.id = ''; h.breach = ''; h.keepUntil = ''
end

-- The rule's current definition, carried by every evaluation (a changed rule applies from its next evaluation).
local function apply_meta(h, meta, now)
  h.rule = meta.rule; h.severity = meta.severity; h.labels = meta.labels; h.channels = meta.channels
  h.summaryTpl = meta.summaryTpl; h.messageTpl = meta.messageTpl; h.renotifyMs = tostring(meta.renotifyMs)
  h.forMs = tostring(meta.forMs); h.keepMs = tostring(meta.keepMs); h.nodataMs = meta.nodataMs and tostring(meta.nodataMs) or ''
  h.type = meta.type or ''; h.staleMs = meta.staleMs and tostring(meta.staleMs) or ''; h.def = meta.def or ''
  h.lastSeen = tostring(now)
end
