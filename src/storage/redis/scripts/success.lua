-- A success (or excluded error) of the call holding the token (core/machine.ts recordSuccess), with
-- the window counts the caller hands over; a slow success (ARGV[10] '1') may trip the circuit by
-- the slow-call rate (core/machine.ts checkRates), once enough processes back it.
local changed = false
present(c)
if c.st == 'closed' then changed = mergeCounts(c) end
if holds(c) then
  if (c.st == 'closed' or c.st == 'disabled') and c.f > 0 then
    c.f = 0
    endStreak(c)
    changed = true
  elseif c.st == 'half-opened' then
    c.st = 'closed'
    c.g = c.g + 1
    c.f = 0
    c.o = 0
    c.r = 0
    c.n = 0
    c.l = {}
    c.w = {}
    forgetReporters(c)
    changed = true
  end
end
if ARGV[10] == '1' and c.st == 'closed' then
  reportWindow(c)
  if exceedsRates(c) and backed(c, false, true) then
    open(c, 1)
    changed = true
  end
end
ownOpening(c, false)
if changed then save(c) end
return reply(before, c)
