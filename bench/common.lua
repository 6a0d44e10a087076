-- What every bench worker shares, in Lua that 5.1 (lua-http's interpreter on
-- Debian 12) loads as well as 5.4: the payload, the clocks, key=value output and
-- argument parsing.
local socket = require "socket"

local M = {}

-- Wall clock (gettimeofday through luasocket) for anything that waits on I/O.
M.now = socket.gettime
-- Process CPU time, user + system (clock(3)): what a client spends per call, and
-- not inflated by the time another process holds our core.
M.cpu = os.clock

-- The one payload: what a game server tick might send. No integral floats, no
-- "/" and no non-ASCII, so lua-cjson and the module encode it to the same
-- number of bytes (only the key order may differ).
function M.payload()
  return {
    player = "p-000123",
    session = "3f9c2a7e-51d4-4b8e-9a61-0c7d2e8f4b13",
    tick = 48213,
    action = "move",
    speed = 1.5,
    pos = { x = 12, y = -7, z = 3 },
    inventory = { 101, 102, 205, 311, 412, 518 },
    flags = { sprint = true, crouch = false },
    note = "hello world",
  }
end

-- Deep equality of decoded JSON values. Metatables are ignored (the module
-- marks arrays with one, lua-cjson does not). With `exact`, an integer must
-- come back as an integer and a float as a float (5.3+: math.type).
function M.equal(a, b, exact)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return false end
  if ta == "number" then
    if exact and math.type(a) ~= math.type(b) then return false end
    return a == b
  end
  if ta ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not M.equal(v, rawget(b, k), exact) then return false end
  end
  for k in pairs(b) do
    if rawget(a, k) == nil then return false end
  end
  return true
end

-- key=value output read by the bench reports.
function M.emit(key, value)
  io.stdout:write(key, "=", tostring(value), "\n")
  io.stdout:flush()
end

-- "key=value" command-line arguments from index `first` on.
function M.options(args, first)
  local opt = {}
  for i = first, #args do
    local k, v = args[i]:match("^([%w_]+)=(.*)$")
    if not k then error("bad argument " .. args[i]) end
    opt[k] = v
  end
  return opt
end

return M
