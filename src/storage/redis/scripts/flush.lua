-- Hands over a process's window counts (no call outcome): they are merged, and a closed circuit
-- whose window reaches a rate opens (core/machine.ts checkRates). Publishes only a trip.
if c.st == 'closed' and mergeCounts(c) then
  if exceedsRates(c) then open(c, 1) end
  save(c)
elseif not c.created then
  touch(c)
end
return reply(before, c)
