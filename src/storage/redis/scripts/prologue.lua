-- Shared prologue of every purgatory script (prepended when the scripts are loaded). The fleet
-- protocol these scripts implement (incarnations, tokens, leases, windows) is
-- docs/fleet-protocol.md; each rule mirrors src/core/machine.ts and src/core/window.ts.
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
-- Hash fields: fmt (layout '3'), i (incarnation), c (config JSON), st g f (state, generation,
-- failures), o r n (openedAt, retryAt, openings), s (isolated since), l (probe leases
-- 'token:expiry,...'), w (window buckets 'start:calls:failures:slow,...'), v (version: Redis
-- time in µs of the last write, at least the previous + 1).
local key = KEYS[1]
local channel = ARGV[1]
local keyTtl = tonumber(ARGV[2])
local tokenI = ARGV[4]
local tokenG = tonumber(ARGV[5])
local source = ARGV[6]
local publish = ARGV[8]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local nowUs = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local function corrupt(why)
  error({ err = 'PURGATORY_CORRUPT ' .. key .. ': ' .. why })
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
  redis.call('HSET', key, 'fmt', '3', 'i', c.i, 'c', c.cfg, 'st', c.st, 'g', num(c.g), 'f', num(c.f),
    'o', num(c.o), 'r', num(c.r), 'n', num(c.n), 's', num(c.s), 'l', leases(c), 'w', buckets(c.w), 'v', num(c.v))
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
              st = 'closed', g = 0, f = 0, o = 0, r = 0, n = 0, s = 0, l = {}, w = {}, v = 0, created = true }
  redis.call('DEL', key)
  save(c)
  return c
end

local STATES = { closed = true, opened = true, ['half-opened'] = true, isolated = true, disabled = true }

local function load()
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'none' then return create() end
  if kind ~= 'hash' then corrupt('expected a hash, found a ' .. kind) end
  local h = redis.call('HMGET', key, 'fmt', 'i', 'c', 'st', 'g', 'f', 'o', 'r', 'n', 's', 'l', 'w', 'v')
  if h[1] == '1' or h[1] == '2' then return create() end
  if h[1] ~= '3' then corrupt('unknown layout ' .. tostring(h[1])) end
  local c = { i = h[2], cfg = h[3], k = decodeConfig(h[3]), st = h[4], g = tonumber(h[5]), f = tonumber(h[6]),
              o = tonumber(h[7]), r = tonumber(h[8]), n = tonumber(h[9]), s = tonumber(h[10]), l = {},
              w = parseBuckets(h[12]), v = tonumber(h[13]) }
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
end

-- The reply: { now, created, config, config before ('' when the same), window totals (as they
-- decided), state before, state after }.
local function reply(before, c)
  local out = { num(now), c.created and '1' or '0', c.cfg, c.cfg ~= heard.cfg and heard.cfg or '', c.counted or totals(c) }
  for _, x in ipairs(before) do table.insert(out, x) end
  for _, x in ipairs(snapshot(c)) do table.insert(out, x) end
  return out
end

local c = load()
local before = snapshot(c)
heard = { g = c.g, f = c.f, cfg = c.cfg }
