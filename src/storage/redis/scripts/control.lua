-- An operator's action (core/machine.ts control), fleet-wide: 'isolate', 'disable' or 'reset'.
local action = ARGV[10]
local changed = true
if action == 'isolate' and c.st ~= 'isolated' then
  c.st = 'isolated'
  c.g = c.g + 1
  c.s = now
elseif action == 'disable' and c.st ~= 'disabled' then
  c.st = 'disabled'
  c.g = c.g + 1
elseif action == 'reset' and c.st ~= 'closed' then
  c.st = 'closed'
  c.g = c.g + 1
  c.f = 0
elseif action == 'reset' and c.f > 0 then
  c.f = 0
else
  changed = false
end
if changed then
  c.o = 0
  c.r = 0
  c.n = 0
  c.s = c.st == 'isolated' and c.s or 0
  c.l = {}
  c.w = {}
  forgetReporters(c)
  save(c)
elseif not c.created then
  touch(c)
end
return reply(before, c)
