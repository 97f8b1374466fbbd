-- After an outage: opens the circuit for a trip this process decided locally, only if the shared
-- state has not moved since (same incarnation and generation as the caller's token, closed or
-- half-opened). Never a replay of the local history. A closed circuit with a quorum is never
-- opened on one process's word: its process opened for itself instead.
local lone = quorumOf(c) and c.st == 'closed'
if not lone and tokenI == c.i and c.g == tokenG and (c.st == 'closed' or c.st == 'half-opened') then
  c.f = math.max(c.f, tonumber(c.k.th))
  open(c, c.st == 'half-opened' and c.n + 1 or 1)
  save(c)
end
return reply(before, c)
