-- Replaces the config, fleet-wide (ARGV[3]); a window of another length starts afresh. The
-- state is kept: an opening in progress keeps its retry time.
local next = decodeConfig(ARGV[3])
if ARGV[3] ~= c.cfg then
  local old = windowOf(c)
  c.cfg = ARGV[3]
  c.k = next
  local new = windowOf(c)
  if not old or not new or old.ms ~= new.ms then c.w = {} end
  -- Without a quorum any more: no callers, reporters or processes open for themselves to keep.
  if not quorumOf(c) then redis.call('DEL', KEYS[2], KEYS[3], KEYS[4]) end
  save(c)
end
return reply(before, c)
