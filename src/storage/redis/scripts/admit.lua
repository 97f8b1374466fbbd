-- Admission of a call on a circuit that is not closed (core/machine.ts admit).
if c.st == 'opened' and now >= c.o + c.ttl then
  c.st = 'half-opened'
  c.g = c.g + 1
  c.l = { now + c.ttl }
  save(c)
elseif c.st == 'half-opened' then
  local live = liveLeases(c)
  if #live < c.hm then
    table.insert(live, now + c.ttl)
    c.l = live
    save(c)
  else
    touch(c)
  end
else
  touch(c)
end
return reply(before, c)
