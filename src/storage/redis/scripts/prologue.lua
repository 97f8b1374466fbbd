-- Shared prologue of every purgatory script (prepended when the scripts are loaded). The fleet
-- protocol these scripts implement (incarnations, tokens, leases, windows) is
-- docs/fleet-protocol.md; each rule mirrors src/core/machine.ts and src/core/window.ts.
-- Past 400 lines because a Redis script is one text: every rule the scripts share (decoding,
-- leases, windows, the quorum's reporters and backers) is prepended to each, so it lives here.
-- KEYS[1]: the circuit hash.
-- ARGV[1]: the circuit's channel       ARGV[2]: key ttl in ms (0: none)
-- ARGV[3]: config JSON of a circuit this script creates (and the new config for `configure`):
--          {"th":5,"ttl":30000,"hm":1,"fr":{"r":0.5,"m":20,"w":60000},"sc":{"d":2000,"r":0.8},
--           "bo":{"m":2,"x":300000,"j":0.1}} (times in ms; fr, sc, bo optional)
-- ARGV[4]: the caller's token: incarnation ('' when the caller never heard of the circuit)
-- ARGV[5]: the caller's token: generation (-1: none)
-- ARGV[6]: the caller's instance id     ARGV[7]: the circuit name (for the message)
-- ARGV[8]: 'SPUBLISH' (sharded pub/sub, Redis 7+) or 'PUBLISH'
-- ARGV[9]: window counts the caller hands over: 'start:calls:failures:slow,...' ('' for none)
-- ARGV[10]: the script's own argument (success: '1' for a slow call; failure: the least time
--           in ms an opening it makes lasts; control: the action)
-- ARGV[11]: the caller's process name when the script carries its calls ('' otherwise): with a
--           quorum, it counts as an active caller, and as a reporter of the failures it carries
-- ARGV[12]: ms the caller counts as an active caller from now
-- ARGV[13]: the caller's own opening (with a quorum): '' nothing to say, '-1' closed again, else
--           the ms it stays opened for itself from now ('+ms': opened by the failure this script
--           carries, unless that failure opens the circuit for the fleet)
-- ARGV[14]: the incarnation the caller knew ('' if none): a key missing for a caller that knew
--           one was lost, not new
-- ARGV[15]: '1': the circuit must exist (an operator's action never creates one): a missing key is
--           the error PURGATORY_NO_CIRCUIT, and nothing is written
-- ARGV[16]: the version the caller last saw of ARGV[14]'s incarnation ('' if none): a key of that
--           incarnation with an older version lost writes (a failover's asynchronous replication)
-- Hash fields: fmt (layout '3'), i (incarnation), c (config JSON), st g f (state, generation,
-- failures), o r n (openedAt, retryAt, openings), s (isolated since), l (probe leases
-- 'token:expiry,...'), w (window buckets 'start:calls:failures:slow,...'), v (version: Redis
-- time in µs of the last write, at least the previous + 1), fs (the version of the failure that
-- started the current streak, 0 for none), ct (when this incarnation replaced a lost one, ms; 0
-- for a new circuit), gt (when the generation last moved: a transition or a probe, ms; 0 for none).
-- With a quorum ("q" in the config), three sorted sets in the circuit's slot, by process name:
-- KEYS[2] the active callers (score: until when, ms), KEYS[3] the reporters (score: the version of
-- the process's latest failure), KEYS[4] the processes open for themselves (score: until when, ms).
local key = KEYS[1]
local channel = ARGV[1]
local keyTtl = tonumber(ARGV[2])
local tokenI = ARGV[4]
local tokenG = tonumber(ARGV[5])
local source = ARGV[6]
local publish = ARGV[8]
local member = ARGV[11] or ''
-- The most callers, reporters and processes open for themselves kept per circuit (core/quorum.ts).
local QUORUM_CAP = 1000
-- For this long after an incarnation replaces a lost one (FLUSHALL, a restart without data), its
-- callers are not all known yet (each process that called lately says so again within a flush
-- interval of hearing of it): a fleet-wide opening needs `processes` reporters, however few
-- callers are known.
local CALLERS_GRACE_MS = 2000
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local nowUs = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local function corrupt(why)
  -- A string at level 0 (not a table): Redis 6 prints only strings ('ERR PURGATORY_CORRUPT ...').
  error('PURGATORY_CORRUPT ' .. key .. ': ' .. why, 0)
end

-- Numbers travel as strings: a Lua number in a reply would be truncated to an integer.
local function num(x)
  return string.format('%.17g', x)
end

local function decodeConfig(text)
  local ok, k = pcall(cjson.decode, text or '')
  if not ok or type(k) ~= 'table' or not (tonumber(k.th) and tonumber(k.ttl) and tonumber(k.hm)) then
    corrupt('unreadable config ' .. tostring(text))
  end
  return k
end

local function leases(c)
  local out = {}
  for i, lease in ipairs(c.l) do out[i] = num(lease[1]) .. ':' .. num(lease[2]) end
  return table.concat(out, ',')
end

local function buckets(list)
  local out = {}
  for i, b in ipairs(list) do out[i] = num(b[1]) .. ':' .. num(b[2]) .. ':' .. num(b[3]) .. ':' .. num(b[4]) end
  return table.concat(out, ',')
end

local function parseBuckets(text)
  local out = {}
  for a, b, d, e in string.gmatch(text or '', '([^:,]+):([^:,]+):([^:,]+):([^,]+)') do
    local bucket = { tonumber(a), tonumber(b), tonumber(d), tonumber(e) }
    if not (bucket[1] and bucket[2] and bucket[3] and bucket[4]) then corrupt('a window bucket is not a number') end
    table.insert(out, bucket)
  end
  return out
end

-- The state as replies and messages carry it.
local function snapshot(c)
  return { c.i, c.st, num(c.g), num(c.f), num(c.o), num(c.r), num(c.n), num(c.s), leases(c), num(c.v) }
end

-- What the replicas heard last: the state as loaded (nil for a key this script creates).
local heard = nil
-- Set by a script whose write replicas need whatever it changed.
local news = false

-- Writes the state, and publishes it when a replica needs it: a new incarnation, a transition or
-- a probe (the generation moved), a failure count that became zero or non-zero (so that the next
-- success anywhere resets it), or a new config. A count going from 2 to 3 is not news, nor are
-- window counts.
local function save(c)
  c.v = math.max(c.v + 1, nowUs)
  if heard and heard.g ~= c.g then c.gt = now end
  redis.call('HSET', key, 'fmt', '3', 'i', c.i, 'c', c.cfg, 'st', c.st, 'g', num(c.g), 'f', num(c.f),
    'o', num(c.o), 'r', num(c.r), 'n', num(c.n), 's', num(c.s), 'l', leases(c), 'w', buckets(c.w), 'v', num(c.v),
    'fs', num(c.fs), 'ct', num(c.ct), 'gt', num(c.gt))
  if keyTtl > 0 then redis.call('PEXPIRE', key, keyTtl) end
  if not news and heard and heard.g == c.g and (heard.f == 0) == (c.f == 0) and heard.cfg == c.cfg then return end
  -- Message: config|incarnation|state|generation|failures|openedAt|retryAt|openings|since|leases|
  -- version|source|name (the name last: it may hold '|'; the config JSON holds none).
  local fields = { c.cfg }
  for _, x in ipairs(snapshot(c)) do table.insert(fields, x) end
  table.insert(fields, source)
  table.insert(fields, ARGV[7])
  redis.call(publish, channel, table.concat(fields, '|'))
end

local function touch(c)
  if keyTtl > 0 then redis.call('PEXPIRE', key, keyTtl) end
end

-- A missing key (a new circuit, or one lost to a restart, FLUSHALL or keyTtl) becomes a new
-- incarnation, closed, written and published at once, so that every replica adopts it. An older
-- layout (purgatory 0.1's fmt 1, fmt 2) is replaced the same way.
local function create()
  local c = { i = clock[1] .. string.format('%06d', tonumber(clock[2])) .. '-' .. source,
              cfg = ARGV[3], k = decodeConfig(ARGV[3]),
              st = 'closed', g = 0, f = 0, o = 0, r = 0, n = 0, s = 0, l = {}, w = {}, v = 0, fs = 0,
              ct = (ARGV[14] or '') ~= '' and now or 0, gt = 0, created = true }
  -- The reporters of a lost incarnation's failures are not its successor's.
  redis.call('DEL', key, KEYS[3])
  save(c)
  return c
end

local STATES = { closed = true, opened = true, ['half-opened'] = true, isolated = true, disabled = true }

local function load()
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'none' and ARGV[15] == '1' then error('PURGATORY_NO_CIRCUIT ' .. key, 0) end
  if kind == 'none' then return create() end
  if kind ~= 'hash' then corrupt('expected a hash, found a ' .. kind) end
  local h = redis.call('HMGET', key, 'fmt', 'i', 'c', 'st', 'g', 'f', 'o', 'r', 'n', 's', 'l', 'w', 'v', 'fs', 'ct', 'gt')
  if h[1] == '1' or h[1] == '2' then return create() end
  if h[1] ~= '3' then corrupt('unknown layout ' .. tostring(h[1])) end
  -- A key that went back in time (writes a caller saw were lost, as when a replica that missed
  -- them became the master) is treated as a lost one: a new incarnation, closed, published, which
  -- every replica adopts at once, so that none stays on a state Redis no longer holds.
  local seen = tonumber(ARGV[16] or '')
  if seen and (ARGV[14] or '') ~= '' and h[2] == ARGV[14] and (tonumber(h[13]) or 0) < seen then return create() end
  local c = { i = h[2], cfg = h[3], k = decodeConfig(h[3]), st = h[4], g = tonumber(h[5]), f = tonumber(h[6]),
              o = tonumber(h[7]), r = tonumber(h[8]), n = tonumber(h[9]), s = tonumber(h[10]), l = {},
              w = parseBuckets(h[12]), v = tonumber(h[13]), fs = tonumber(h[14]) or 0, ct = tonumber(h[15]) or 0,
              gt = tonumber(h[16]) or 0 }
  if not c.i or c.i == '' then corrupt('no incarnation') end
  if not (c.g and c.f and c.o and c.r and c.n and c.s and c.v) then corrupt('a field is not a number') end
  if not STATES[c.st] then corrupt('unknown state ' .. tostring(c.st)) end
  for token, expiry in string.gmatch(h[11] or '', '([^:,]+):([^,]+)') do
    local lease = { tonumber(token), tonumber(expiry) }
    if not (lease[1] and lease[2]) then corrupt('a probe lease is not a number') end
    table.insert(c.l, lease)
  end
  return c
end

local function liveLeases(c)
  local live = {}
  for _, lease in ipairs(c.l) do
    if lease[2] > now then table.insert(live, lease) end
  end
  return live
end

-- Whether the caller's token may decide (core/machine.ts): in this incarnation, the current
-- generation of a closed or disabled circuit, or a probe whose lease is live. A caller that never
-- heard of the circuit (a synchronous caller before its registration reply) holds a placeholder,
-- which counts only while the circuit is closed.
local function holds(c)
  if tokenI == '' then
    if c.st == 'closed' then tokenG = c.g end
    return c.st == 'closed'
  end
  if tokenI ~= c.i then return false end
  if c.st == 'closed' or c.st == 'disabled' then return c.g == tokenG end
  if c.st == 'half-opened' then
    for _, lease in ipairs(c.l) do
      if lease[1] == tokenG and lease[2] > now then return true end
    end
  end
  return false
end

-- The window of the config, if a rate rule is configured (core/window.ts windowOf).
local function windowOf(c)
  local fr, sc = c.k.fr, c.k.sc
  if type(fr) ~= 'table' and type(sc) ~= 'table' then return nil end
  if type(fr) == 'table' then return { ms = tonumber(fr.w), min = tonumber(fr.m) } end
  return { ms = 60000, min = 20 }
end

-- Adds the caller's counts to the window, keeping the live buckets only (core/window.ts).
-- Returns whether the circuit has a window and the caller handed counts over.
local function mergeCounts(c)
  local of = windowOf(c)
  if not of or ARGV[9] == '' then return false end
  local width = of.ms / 10
  local oldest = math.floor(now / width) * width - 9 * width
  local byStart = {}
  local kept = {}
  for _, b in ipairs(c.w) do
    if b[1] >= oldest then byStart[b[1]] = b; table.insert(kept, b) end
  end
  for _, b in ipairs(parseBuckets(ARGV[9])) do
    if b[3] > 0 or b[4] > 0 then c.badHanded = true end
    if b[1] >= oldest then
      local mine = byStart[b[1]]
      if mine then
        mine[2] = mine[2] + b[2]; mine[3] = mine[3] + b[3]; mine[4] = mine[4] + b[4]
      else
        byStart[b[1]] = b
        table.insert(kept, b)
      end
    end
  end
  table.sort(kept, function(x, y) return x[1] < y[1] end)
  c.w = kept
  return true
end

-- The counts of the live buckets: calls, failures, slow calls (core/window.ts countsOf).
local function liveCounts(c, of)
  local width = of.ms / 10
  local oldest = math.floor(now / width) * width - 9 * width
  local calls, fails, slow = 0, 0, 0
  for _, b in ipairs(c.w) do
    if b[1] >= oldest then calls = calls + b[2]; fails = fails + b[3]; slow = slow + b[4] end
  end
  return calls, fails, slow
end

-- Whether the window reaches a rate of the config (core/window.ts exceedsRates).
local function exceedsRates(c)
  local of = windowOf(c)
  if not of then return false end
  local calls, fails, slow = liveCounts(c, of)
  if calls < of.min or calls == 0 then return false end
  local fr, sc = c.k.fr, c.k.sc
  return (type(fr) == 'table' and fails / calls >= tonumber(fr.r)) or (type(sc) == 'table' and slow / calls >= tonumber(sc.r))
end

-- The totals of the live window ('calls:failures:slow'), '' without a rate rule.
local function totals(c)
  local of = windowOf(c)
  if not of then return '' end
  local calls, fails, slow = liveCounts(c, of)
  return num(calls) .. ':' .. num(fails) .. ':' .. num(slow)
end

-- The open time of the n-th opening since the last close (core/machine.ts openTtlMs).
local function openTtl(c, n, openedAt, g)
  local base = tonumber(c.k.ttl)
  local bo = c.k.bo
  if type(bo) ~= 'table' then return base end
  local grown = math.min(base * tonumber(bo.m) ^ math.max(0, n - 1), tonumber(bo.x))
  local u = ((g * 2654435761 + math.floor(openedAt)) % 4294967296) / 4294967296
  return math.floor(grown * (1 + tonumber(bo.j) * (2 * u - 1)) * 1000 + 0.5) / 1000
end

-- --- quorum (core/quorum.ts) ---------------------------------------------------------------

-- The config's quorum, if it asks for more than one process.
local function quorumOf(c)
  local q = c.k.q
  if type(q) ~= 'table' then return nil end
  return q
end

-- Keeps a sorted set's key at least `ms` longer.
local function keepFor(k, ms)
  if ms > 0 and redis.call('PTTL', k) < ms then redis.call('PEXPIRE', k, math.ceil(ms)) end
end

-- Adds `m` to a sorted set with `score`, dropping the lowest score past the cap.
local function put(k, score, m)
  redis.call('ZADD', k, num(score), m)
  if redis.call('ZCARD', k) > QUORUM_CAP then redis.call('ZREMRANGEBYRANK', k, 0, 0) end
end

-- The caller calls the circuit: an active caller for ARGV[12] ms more.
local function present(c)
  if member == '' or not quorumOf(c) then return end
  local horizon = tonumber(ARGV[12]) or 0
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', num(now))
  put(KEYS[2], now + horizon, member)
  keepFor(KEYS[2], horizon)
end

-- A failure of the caller counted on a closed circuit: it reports this streak (and window). The
-- failure that starts a streak dates it (`fs`), with the version this script writes.
local function report(c)
  if not quorumOf(c) then return end
  local stamp = math.max(c.v + 1, nowUs)
  -- (A quorum configured in the middle of a streak starts counting its reporters here.)
  if c.f == 1 or c.fs == 0 then c.fs = stamp end
  if member == '' then return end
  put(KEYS[3], stamp, member)
  if keyTtl > 0 then redis.call('PEXPIRE', KEYS[3], keyTtl) end
end

-- Slow calls (or failures counted while Redis was away) of the caller, handed over: it reports
-- the window, not a streak. While a streak runs, it is dated just before the streak began, so
-- that it backs the window but not the streak (a streak older than the window then leaves it out
-- of both: the quorum errs on the side of not opening); a later report the caller already made
-- (a failure of the streak) is kept.
local function reportWindow(c)
  if member == '' or not quorumOf(c) then return end
  local at = math.max(c.v + 1, nowUs)
  if c.fs > 0 then at = math.min(at, c.fs - 1) end
  local held = tonumber(redis.call('ZSCORE', KEYS[3], member))
  if held and held >= at then return end
  put(KEYS[3], at, member)
  if keyTtl > 0 then redis.call('PEXPIRE', KEYS[3], keyTtl) end
end

-- The streak ended (a success reset the count): its reporters leave, those of the window stay.
local function endStreak(c)
  c.fs = 0
  if not quorumOf(c) then return end
  local of = windowOf(c)
  if of then
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. num(nowUs - of.ms * 1000))
  else
    redis.call('DEL', KEYS[3])
  end
end

-- The caller's own opening (ARGV[13]). One made by the failure this script carries ('+ms') is
-- dropped when that failure opened the circuit for the fleet (`fleetOpened`): the fleet's circuit
-- speaks for the process.
local function ownOpening(c, fleetOpened)
  local own = ARGV[13] or ''
  if member == '' or own == '' or not quorumOf(c) then return end
  local tentative = string.sub(own, 1, 1) == '+'
  local ms = tonumber(tentative and string.sub(own, 2) or own)
  if own == '-1' or not ms or (tentative and fleetOpened) then
    redis.call('ZREM', KEYS[4], member)
    return
  end
  -- Opened for ms, then a probe of its own for one ttl.
  local until_ = ms + tonumber(c.k.ttl)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', num(now))
  put(KEYS[4], now + until_, member)
  keepFor(KEYS[4], until_)
end

-- The distinct processes behind failures since `lowest` (a version): reporters, and the processes
-- open for themselves (`locals`), each counted once.
local function backers(lowest, locals)
  local n = redis.call('ZCOUNT', KEYS[3], num(lowest), '+inf')
  for _, m in ipairs(locals) do
    local at = tonumber(redis.call('ZSCORE', KEYS[3], m))
    if not (at and at >= lowest) then n = n + 1 end
  end
  return n
end

-- core/quorum.ts effectiveQuorum: max(processes, ceil(fraction * callers)), within 1..callers.
local function quorumNeed(q, callers)
  local share = 0
  local fraction = tonumber(q.f)
  if fraction then share = math.ceil(math.floor(fraction * callers * 1e6 + 0.5) / 1e6) end
  return math.max(1, math.min(math.max(tonumber(q.p), share), callers))
end

-- Whether enough processes back a trip by the streak (`streak`) or the window (`rate`): always
-- without a quorum. Keeps what it counted for the reply (`c.quorum`).
local function backed(c, streak, rate)
  local q = quorumOf(c)
  if not q then return true end
  local callers = redis.call('ZCOUNT', KEYS[2], '(' .. num(now), '+inf')
  if now - c.ct < CALLERS_GRACE_MS then callers = math.max(callers, tonumber(q.p)) end
  local need = quorumNeed(q, callers)
  local locals = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. num(now), '+inf')
  local of = windowOf(c)
  local bystreak = (c.f > 0 and c.fs > 0) and backers(c.fs, locals) or #locals
  local bywindow = of and backers(nowUs - of.ms * 1000, locals) or #locals
  local met = (streak and bystreak >= need) or (rate and bywindow >= need) or false
  local counted
  if streak and rate then counted = math.max(bystreak, bywindow)
  elseif streak then counted = bystreak
  elseif rate then counted = bywindow
  else
    -- Nothing trips: how things stand, for the reply.
    counted = math.max(bystreak, bywindow)
    met = counted >= need
  end
  c.quorum = num(callers) .. ':' .. num(counted) .. ':' .. num(need) .. ':' .. (met and '1' or '0')
  return met
end

-- Opens the circuit at `now` for its n-th opening since the last close, for at least minOpen ms.
local function open(c, n, minOpen)
  -- The counts that decided, for the reply: the window starts afresh.
  c.counted = totals(c)
  c.st = 'opened'
  c.g = c.g + 1
  c.o = now
  c.n = n
  c.r = now + math.max(openTtl(c, n, now, c.g), minOpen or 0)
  c.l = {}
  c.w = {}
  -- The evidence was used: the next streak or window starts with no reporter.
  c.fs = 0
  if quorumOf(c) then redis.call('DEL', KEYS[3]) end
end

-- A change of state by hand or by a probe: no streak, no reporter.
local function forgetReporters(c)
  c.fs = 0
  if quorumOf(c) then redis.call('DEL', KEYS[3]) end
end

-- The reply: { now, created, config, config before ('' when the same), window totals (as they
-- decided), state before, state after, quorum ('callers:reporters:need:met' as decided or as it
-- stands, '' without a quorum) }.
local function reply(before, c)
  local out = { num(now), c.created and '1' or '0', c.cfg, c.cfg ~= heard.cfg and heard.cfg or '', c.counted or totals(c) }
  for _, x in ipairs(before) do table.insert(out, x) end
  for _, x in ipairs(snapshot(c)) do table.insert(out, x) end
  if quorumOf(c) and not c.quorum then backed(c, false, false) end
  table.insert(out, c.quorum or '')
  return out
end

local c = load()
local before = snapshot(c)
heard = { g = c.g, f = c.f, cfg = c.cfg }
