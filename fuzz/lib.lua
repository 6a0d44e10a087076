-- Invariants shared by the fuzz targets. fail() raises; fuzz/driver.c turns a raise into
-- an abort, so only a broken promise of the module may reach it.
local functions = require "cloudbase.functions"

local M = {}

-- f(...) in a fresh coroutine, under pcall. A new coroutine's Lua stack is small, so a C
-- function that pushes without lua_checkstack runs past its end, into the canary
-- fuzz/driver.c puts after every Lua block.
function M.pcall_in_coroutine(f, ...)
  local args = table.pack(...)
  return coroutine.wrap(function()
    return pcall(f, table.unpack(args, 1, args.n))
  end)()
end

-- The codes the module makes up itself (README, "Errors"); a gateway's code passes through
-- process() verbatim, so there any string is allowed.
M.LOCAL_CODES = {
  INVALID_ARGUMENT = true, ENCODE_ERROR = true, PAYLOAD_TOO_LARGE = true, TOKEN_ERROR = true,
  NETWORK_ERROR = true, TIMEOUT = true, TLS_ERROR = true, RESPONSE_TOO_LARGE = true,
  INVALID_RESPONSE = true, HTTP_ERROR = true, TRANSPORT_ERROR = true, OUT_OF_MEMORY = true,
  DECODE_ERROR = true,
}

local function show(v)
  if type(v) == "string" then
    return string.format("%q", #v > 300 and v:sub(1, 300) .. "..." or v)
  end
  return tostring(v)
end
M.show = show

function M.fail(fmt, ...)
  local args = { ... }
  for i = 1, select("#", ...) do
    args[i] = show(args[i])
  end
  error("FUZZ INVARIANT BROKEN: " .. string.format(fmt, table.unpack(args, 1, select("#", ...))), 0)
end

-- err must be one of the module's error objects, with a string code (one of `codes` when
-- given), a string message, and tostring() that works.
function M.check_error(err, where, codes)
  if not functions.is_error(err) then
    M.fail("%s: expected an error object, got %s", where, err)
  end
  if type(err.code) ~= "string" or type(err.message) ~= "string" then
    M.fail("%s: error without a string code and message: %s", where, err.code)
  end
  if codes and not codes[err.code] then
    M.fail("%s: unexpected code %s (%s)", where, err.code, err.message)
  end
  if err.status ~= nil and math.type(err.status) ~= "integer" then
    M.fail("%s: error status %s is not an integer", where, err.status)
  end
  if type(tostring(err)) ~= "string" then
    M.fail("%s: tostring(err) is not a string", where)
  end
end

-- Structural equality, strict about what JSON keeps: integer vs float, the bits of a
-- float (so -0.0 stays -0.0), metatables (array_mt), functions.null.
function M.same(a, b, path)
  if type(a) ~= type(b) then
    M.fail("%s: %s vs %s", path, type(a), type(b))
  end
  if type(a) == "number" then
    if math.type(a) ~= math.type(b) then
      M.fail("%s: %s %s vs %s %s", path, math.type(a), a, math.type(b), b)
    end
    if math.type(a) == "integer" and a ~= b
        or math.type(a) == "float" and string.pack("<d", a) ~= string.pack("<d", b) then
      M.fail("%s: %s vs %s", path, string.format("%a", a), string.format("%a", b))
    end
  elseif type(a) == "table" then
    if getmetatable(a) ~= getmetatable(b) then
      M.fail("%s: metatables differ", path)
    end
    for k, v in pairs(a) do
      local w = rawget(b, k)
      if w == nil then
        M.fail("%s: key %s lost", path, k)
      end
      M.same(v, w, path .. "[" .. show(k) .. "]")
    end
    for k in pairs(b) do
      if rawget(a, k) == nil then
        M.fail("%s: key %s appeared", path, k)
      end
    end
  elseif not rawequal(a, b) then
    M.fail("%s: %s vs %s", path, a, b)
  end
end

return M
