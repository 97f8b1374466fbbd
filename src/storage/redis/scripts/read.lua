-- Reads the circuit (registration and resynchronisation) and keeps its key alive.
if not c.created then touch(c) end
return reply(before, c)
