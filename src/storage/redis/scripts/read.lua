-- Reads the circuit without changing it (resynchronisation).
return reply(before, c)
