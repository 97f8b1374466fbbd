-- Hands over what a process gathered without a call outcome to send: its window counts, merged
-- (a closed circuit whose window reaches a rate opens, core/machine.ts checkRates, once enough
-- processes back it), and with a quorum its presence as an active caller and its own opening.
-- Publishes only a trip.
present(c)
if c.st == 'closed' and mergeCounts(c) then
  if c.badHanded then reportWindow(c) end
  if exceedsRates(c) and backed(c, false, true) then open(c, 1) end
  save(c)
elseif not c.created then
  touch(c)
end
ownOpening(c, false)
return reply(before, c)
