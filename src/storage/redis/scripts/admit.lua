-- Admission of a call on a circuit that is not closed (core/machine.ts admit): each probe gets a
-- token of its own (the next generation) and a lease of one ttl.
-- With a quorum, the caller is an active caller.
present(c)
local ttl = tonumber(c.k.ttl)
if c.st == 'opened' and now >= c.r then
  c.st = 'half-opened'
  c.g = c.g + 1
  c.l = { { c.g, now + ttl } }
  save(c)
elseif c.st == 'half-opened' and #liveLeases(c) < tonumber(c.k.hm) then
  c.g = c.g + 1
  c.l = liveLeases(c)
  table.insert(c.l, { c.g, now + ttl })
  save(c)
elseif not c.created then
  touch(c)
end
return reply(before, c)
