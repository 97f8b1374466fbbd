-- Registers the circuit unless it exists: the first registration fixes its config.
if c.new then save(c) else touch(c) end
return reply(before, c)
