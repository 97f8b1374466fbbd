-- A probe whose caller gave up (cancelled): its lease is freed at once for the next probe.
if c.st == 'half-opened' and tokenI == c.i then
  local kept = {}
  for _, lease in ipairs(c.l) do
    if lease[1] ~= tokenG then table.insert(kept, lease) end
  end
  if #kept ~= #c.l then
    c.l = kept
    -- Other processes must hear of the free slot: published although the generation stays.
    news = true
    save(c)
  end
end
return reply(before, c)
