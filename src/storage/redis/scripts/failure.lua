-- A failure of the call holding the token (core/machine.ts recordFailure), with the window counts
-- the caller hands over (this failure included): a closed circuit opens at `threshold`
-- consecutive failures, or when its window reaches a rate, once enough processes back it (with a
-- quorum: the caller reports this streak); a failing probe opens it again for the next backoff
-- step; a disabled circuit counts it and never opens. An opening lasts at least ARGV[10] ms (a
-- dependency's Retry-After).
local minOpen = tonumber(ARGV[10]) or 0
local changed = false
present(c)
if c.st == 'closed' then changed = mergeCounts(c) end
if holds(c) then
  if c.st == 'closed' then
    c.f = c.f + 1
    report(c)
    local streak = c.f >= tonumber(c.k.th)
    local rate = exceedsRates(c)
    if (streak or rate) and backed(c, streak, rate) then open(c, 1, minOpen) end
    changed = true
  elseif c.st == 'half-opened' then
    c.f = c.f + 1
    open(c, c.n + 1, minOpen)
    changed = true
  elseif c.st == 'disabled' then
    c.f = c.f + 1
    changed = true
  end
end
ownOpening(c, before[2] == 'closed' and c.st == 'opened')
if changed then save(c) end
return reply(before, c)
