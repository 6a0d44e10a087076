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

-- Failed outcomes of an invoke_all result list (and the first reason); with
-- `expected`, a result that is not equal to it counts as failed too.
function M.count_failures(results, count, expected)
  local failed, first = 0, nil
  for i = 1, count do
    local r = results[i]
    if not (r and r.ok and (expected == nil or M.equal(r.result, expected))) then
      failed = failed + 1
      first = first or (r and (r.ok and "echo did not return the payload"
        or tostring(r.error and (r.error.message or r.error))) or "missing result")
    end
  end
  return failed, first
end

-- The shell side of the reports (Lua 5.4 only; defined here so both use one copy).
function M.quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs `cmd` (stderr into the text); prints both with BENCH_DEBUG set.
function M.sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local text = p:read("*a")
  local ok, _, code = p:close()
  if os.getenv("BENCH_DEBUG") then io.stderr:write("$ ", cmd, "\n", text) end
  return text, ok, code
end

-- key=value lines (a worker's output) into a table; numbers become numbers.
function M.parse_kv(text)
  local t = {}
  for k, v in text:gmatch("([%w_]+)=([^\n]*)") do
    if t[k] == nil then t[k] = tonumber(v) or v end
  end
  return t
end

-- A worker's main: runs modes[mode] ("-" read as "_"); an error becomes "error=...".
function M.dispatch(modes, mode, usage)
  local fn = modes[(mode or ""):gsub("-", "_")]
  if not fn then
    io.stderr:write(usage, "\n")
    os.exit(2)
  end
  local ok, err = pcall(fn)
  if not ok then
    M.emit("error", (tostring(type(err) == "table" and (err.message or err.code) or err):gsub("\n", " ")))
  end
end

return M
