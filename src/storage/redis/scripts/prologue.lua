-- Shared prologue of every purgatory script (prepended at load time).
-- KEYS[1]: the circuit hash.  ARGV[1]: pub/sub channel, ARGV[2]: key ttl in ms (0: none),
-- ARGV[3..5]: threshold, ttl (ms), halfOpenMaxCalls used if the circuit does not exist yet,
-- ARGV[6]: the generation the caller was admitted in (or -1), ARGV[7]: the caller's instance id,
-- ARGV[8]: the circuit name (for the pub/sub message).
-- A missing circuit (new, or expired after keyTtl) starts closed at the caller's generation, so a
-- replica that outlived its key is not mistaken for a stale one.
-- Hash fields: th ttl hm (config), st g f o l (state, generation, failures, openedAt, leases),
-- v (version: Redis time in µs of the last write, at least the previous + 1; orders messages),
-- fmt (layout version).
local key = KEYS[1]
local channel = ARGV[1]
local keyTtl = tonumber(ARGV[2])
local generation = tonumber(ARGV[6])
local source = ARGV[7]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local nowUs = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local function corrupt(why)
  error({ err = 'PURGATORY_CORRUPT ' .. key .. ': ' .. why })
end

local function load()
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'none' then
    return { th = tonumber(ARGV[3]), ttl = tonumber(ARGV[4]), hm = tonumber(ARGV[5]),
             st = 'closed', g = math.max(0, generation), f = 0, o = 0, l = {}, v = 0, new = true }
  end
  if kind ~= 'hash' then corrupt('expected a hash, found a ' .. kind) end
  local h = redis.call('HMGET', key, 'fmt', 'th', 'ttl', 'hm', 'st', 'g', 'f', 'o', 'l', 'v')
  if h[1] ~= '1' then corrupt('unknown layout ' .. tostring(h[1])) end
  local c = { th = tonumber(h[2]), ttl = tonumber(h[3]), hm = tonumber(h[4]), st = h[5],
              g = tonumber(h[6]), f = tonumber(h[7]), o = tonumber(h[8]), l = {}, v = tonumber(h[10]) }
  if not (c.th and c.ttl and c.hm and c.g and c.f and c.o and c.v) then corrupt('a field is not a number') end
  if c.st ~= 'closed' and c.st ~= 'opened' and c.st ~= 'half-opened' then
    corrupt('unknown state ' .. tostring(c.st))
  end
  for lease in string.gmatch(h[9] or '', '[^,]+') do
    local expiry = tonumber(lease)
    if not expiry then corrupt('a probe lease is not a number') end
    table.insert(c.l, expiry)
  end
  return c
end

-- Numbers travel as strings: a Lua number in a reply would be truncated to an integer.
local function num(x)
  return string.format('%.17g', x)
end

local function leases(c)
  local out = {}
  for i, expiry in ipairs(c.l) do out[i] = num(expiry) end
  return table.concat(out, ',')
end

local function snapshot(c)
  return { c.st, num(c.g), num(c.f), num(c.o), leases(c), num(c.v) }
end

local function save(c)
  c.v = math.max(c.v + 1, nowUs)
  redis.call('HSET', key, 'fmt', '1', 'th', num(c.th), 'ttl', num(c.ttl), 'hm', num(c.hm),
    'st', c.st, 'g', num(c.g), 'f', num(c.f), 'o', num(c.o), 'l', leases(c), 'v', num(c.v))
  if keyTtl > 0 then redis.call('PEXPIRE', key, keyTtl) end
  -- Message: generation|state|failures|openedAt|leases|version|source|name (name last: may hold '|').
  redis.call('PUBLISH', channel, table.concat({ num(c.g), c.st, num(c.f), num(c.o), leases(c),
    num(c.v), source, ARGV[8] }, '|'))
end

local function touch(c)
  if keyTtl > 0 and not c.new then redis.call('PEXPIRE', key, keyTtl) end
end

-- The reply: { now, config..., state before, state after }.
local function reply(before, c)
  local out = { num(now), num(c.th), num(c.ttl), num(c.hm) }
  for _, x in ipairs(before) do table.insert(out, x) end
  for _, x in ipairs(snapshot(c)) do table.insert(out, x) end
  return out
end

local function liveLeases(c)
  local live = {}
  for _, expiry in ipairs(c.l) do
    if expiry > now then table.insert(live, expiry) end
  end
  return live
end

local c = load()
local before = snapshot(c)
