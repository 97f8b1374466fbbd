-- A success (or excluded error) of the call holding the token (core/machine.ts recordSuccess).
if holds(c) then
  if c.st == 'closed' and c.f > 0 then
    c.f = 0
    save(c)
  elseif c.st == 'half-opened' then
    c.st = 'closed'
    c.g = c.g + 1
    c.f = 0
    c.o = 0
    c.l = {}
    save(c)
  end
end
return reply(before, c)
