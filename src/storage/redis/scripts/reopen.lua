-- After an outage: pushes a trip made locally, only if the shared generation has not moved.
if c.g == generation and c.st ~= 'opened' then
  c.st = 'opened'
  c.g = c.g + 1
  c.f = math.max(c.f, c.th)
  c.o = now
  c.l = {}
  save(c)
end
return reply(before, c)
