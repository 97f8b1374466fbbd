-- Shared prologue of every purgatory script (prepended when the scripts are loaded). The fleet
-- protocol these scripts implement (incarnations, tokens, leases) is docs/fleet-protocol.md.
-- KEYS[1]: the circuit hash.
-- ARGV[1]: the circuit's channel     ARGV[2]: key ttl in ms (0: none)
-- ARGV[3..5]: threshold, ttl (ms), halfOpenMaxCalls of a circuit this script creates
-- ARGV[6]: the caller's token: incarnation ('' when the caller never heard of the circuit)
-- ARGV[7]: the caller's token: generation (-1: none)
-- ARGV[8]: the caller's instance id   ARGV[9]: the circuit name (for the message)
-- ARGV[10]: 'SPUBLISH' (sharded pub/sub, Redis 7+) or 'PUBLISH'.
-- Hash fields: fmt (layout '2'), i (incarnation), th ttl hm (config), st g f o (state,
-- generation, failures, openedAt), l (probe leases 'token:expiry,...'), v (version: Redis time
-- in µs of the last write, at least the previous + 1).
local key = KEYS[1]
local channel = ARGV[1]
local keyTtl = tonumber(ARGV[2])
local tokenI = ARGV[6]
local tokenG = tonumber(ARGV[7])
local source = ARGV[8]
local publish = ARGV[10]
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

local function leases(c)
  local out = {}
  for i, lease in ipairs(c.l) do out[i] = num(lease[1]) .. ':' .. num(lease[2]) end
  return table.concat(out, ',')
end

local function snapshot(c)
  return { c.i, c.st, num(c.g), num(c.f), num(c.o), leases(c), num(c.v) }
end

-- What the replicas heard last: the state as loaded (nil for a key this script creates).
local heard = nil

-- Writes the state, and publishes it when a replica needs it: a new incarnation, a transition or
-- a probe (the generation moved), or a failure count that became zero or non-zero (so that the
-- next success anywhere resets it). A count going from 2 to 3 is not news.
local function save(c)
  c.v = math.max(c.v + 1, nowUs)
  redis.call('HSET', key, 'fmt', '2', 'i', c.i, 'th', num(c.th), 'ttl', num(c.ttl), 'hm', num(c.hm),
    'st', c.st, 'g', num(c.g), 'f', num(c.f), 'o', num(c.o), 'l', leases(c), 'v', num(c.v))
  if keyTtl > 0 then redis.call('PEXPIRE', key, keyTtl) end
  if heard and heard.g == c.g and (heard.f == 0) == (c.f == 0) then return end
  -- Message: incarnation|generation|state|failures|openedAt|leases|version|source|name
  -- (the name last: it may hold '|').
  redis.call(publish, channel, table.concat({ c.i, num(c.g), c.st, num(c.f), num(c.o), leases(c),
    num(c.v), source, ARGV[9] }, '|'))
end

local function touch(c)
  if keyTtl > 0 then redis.call('PEXPIRE', key, keyTtl) end
end

-- A missing key (a new circuit, or one lost to a restart, FLUSHALL or keyTtl) becomes a new
-- incarnation, closed, written and published at once, so that every replica adopts it.
-- The layout of purgatory 0.1 (fmt 1) has no incarnation: it is replaced the same way.
local function create()
  local c = { i = clock[1] .. string.format('%06d', tonumber(clock[2])) .. '-' .. source,
              th = tonumber(ARGV[3]), ttl = tonumber(ARGV[4]), hm = tonumber(ARGV[5]),
              st = 'closed', g = 0, f = 0, o = 0, l = {}, v = 0, created = true }
  redis.call('DEL', key)
  save(c)
  return c
end

local function load()
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'none' then return create() end
  if kind ~= 'hash' then corrupt('expected a hash, found a ' .. kind) end
  local h = redis.call('HMGET', key, 'fmt', 'i', 'th', 'ttl', 'hm', 'st', 'g', 'f', 'o', 'l', 'v')
  if h[1] == '1' then return create() end
  if h[1] ~= '2' then corrupt('unknown layout ' .. tostring(h[1])) end
  local c = { i = h[2], th = tonumber(h[3]), ttl = tonumber(h[4]), hm = tonumber(h[5]), st = h[6],
              g = tonumber(h[7]), f = tonumber(h[8]), o = tonumber(h[9]), l = {}, v = tonumber(h[11]) }
  if not c.i or c.i == '' then corrupt('no incarnation') end
  if not (c.th and c.ttl and c.hm and c.g and c.f and c.o and c.v) then corrupt('a field is not a number') end
  if c.st ~= 'closed' and c.st ~= 'opened' and c.st ~= 'half-opened' then
    corrupt('unknown state ' .. tostring(c.st))
  end
  for token, expiry in string.gmatch(h[10] or '', '([^:,]+):([^,]+)') do
    local lease = { tonumber(token), tonumber(expiry) }
    if not (lease[1] and lease[2]) then corrupt('a probe lease is not a number') end
    table.insert(c.l, lease)
  end
  return c
end

-- The reply: { now, config..., created, state before, state after }.
local function reply(before, c)
  local out = { num(now), num(c.th), num(c.ttl), num(c.hm), c.created and '1' or '0' }
  for _, x in ipairs(before) do table.insert(out, x) end
  for _, x in ipairs(snapshot(c)) do table.insert(out, x) end
  return out
end

local function liveLeases(c)
  local live = {}
  for _, lease in ipairs(c.l) do
    if lease[2] > now then table.insert(live, lease) end
  end
  return live
end

-- Whether the caller's token may decide (core/machine.ts): in this incarnation, the current
-- generation of a closed circuit, or a probe whose lease is live. A caller that never heard of
-- the circuit (a synchronous caller before its registration reply) holds a placeholder, which
-- counts only while the circuit is closed.
local function holds(c)
  if tokenI == '' then
    if c.st == 'closed' then tokenG = c.g end
    return c.st == 'closed'
  end
  if tokenI ~= c.i then return false end
  if c.st == 'closed' then return c.g == tokenG end
  if c.st == 'half-opened' then
    for _, lease in ipairs(c.l) do
      if lease[1] == tokenG and lease[2] > now then return true end
    end
  end
  return false
end

local c = load()
local before = snapshot(c)
heard = { g = c.g, f = c.f }
