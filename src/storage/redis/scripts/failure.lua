-- A failure of the call holding the token (core/machine.ts recordFailure).
if holds(c) then
  if c.st == 'closed' then
    c.f = c.f + 1
    if c.f >= c.th then
      c.st = 'opened'
      c.g = c.g + 1
      c.o = now
    end
    save(c)
  elseif c.st == 'half-opened' then
    c.st = 'opened'
    c.g = c.g + 1
    c.f = c.f + 1
    c.o = now
    c.l = {}
    save(c)
  end
end
return reply(before, c)
