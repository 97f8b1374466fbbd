-- After an outage: opens the circuit for a trip this process decided locally, only if the shared
-- state has not moved since: the same incarnation and generation as the caller's token (closed or
-- half-opened); or, for a caller that never heard of the circuit before its trip (it registered
-- it during the outage: no token), a closed circuit whose generation has not moved since the trip
-- (ARGV[10], ms: no transition since), or a missing one. Never a replay of the local history. A closed circuit with a quorum is never
-- opened on one process's word: its process opened for itself instead.
local lone = quorumOf(c) and c.st == 'closed'
local tripAt = tonumber(ARGV[10])
local unmoved
if tokenI == '' then
  unmoved = c.st == 'closed' and tripAt ~= nil and (c.created or c.gt <= tripAt)
else
  unmoved = tokenI == c.i and c.g == tokenG and (c.st == 'closed' or c.st == 'half-opened')
end
if not lone and unmoved then
  c.f = math.max(c.f, tonumber(c.k.th))
  open(c, c.st == 'half-opened' and c.n + 1 or 1)
  save(c)
end
return reply(before, c)
