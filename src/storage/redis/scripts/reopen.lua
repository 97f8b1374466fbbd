-- After an outage: opens the circuit for a trip this process decided locally, only if the shared
-- state has not moved since (same incarnation and generation as the caller's token). Never a
-- replay of the local history.
if tokenI == c.i and c.g == tokenG and c.st ~= 'opened' then
  c.st = 'opened'
  c.g = c.g + 1
  c.f = math.max(c.f, c.th)
  c.o = now
  c.l = {}
  save(c)
end
return reply(before, c)
