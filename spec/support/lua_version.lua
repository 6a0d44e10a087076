-- What the interpreter running the specs is, for specs that run on Lua 5.1, 5.2,
-- 5.3, 5.4 and LuaJIT 2.1 (`make test` runs them on each).
--
--   local lv = require "spec.support.lua_version"
--   lv.id             "5.1" .. "5.4", or "jit": the Makefile's build/<id>
--   lv.integers       true from 5.3 on: numbers have an integer and a float subtype;
--                     before, every number is a double
--   lv.number_type(x) math.type(x) from 5.3 on, "float" before (every number is one)
--   lv.command        the interpreter to run a child with (SPEC_LUA overrides it)
--   lv.child_env()    "VAR=value ..." giving a child interpreter this run's module paths
--   lv.utf8_char(cp)  utf8.char, everywhere
--   lv.it_with(feature_ok, why, name, fn)   it(name, fn), or a visible pending(...)
--                     naming what this interpreter lacks
local M = {}

M.luajit = rawget(_G, "jit") ~= nil
M.version = _VERSION:match("%d+%.%d+")
M.id = M.luajit and "jit" or M.version
M.name = M.luajit and rawget(_G, "jit").version or _VERSION
M.integers = math.type ~= nil
M.close = M.version == "5.4" and not M.luajit -- the `<close>` attribute

function M.number_type(x)
  if M.integers then return math.type(x) end
  return type(x) == "number" and "float" or nil
end

M.command = os.getenv("SPEC_LUA") or (M.luajit and "luajit" or "lua" .. M.version)

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- A child reads LUA_CPATH_5_x (from 5.2 on) before LUA_CPATH, so both are set: a
-- variable meant for another version, inherited from this process, cannot win.
function M.child_env()
  local parts = {}
  local suffixes = { "" }
  if M.version ~= "5.1" then suffixes[2] = "_" .. M.version:gsub("%.", "_") end
  for _, suffix in ipairs(suffixes) do
    parts[#parts + 1] = "LUA_PATH" .. suffix .. "=" .. quote(package.path)
    parts[#parts + 1] = "LUA_CPATH" .. suffix .. "=" .. quote(package.cpath)
  end
  return table.concat(parts, " ")
end

function M.utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then
    return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40)
  end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 0x1000), 0x80 + math.floor(cp / 0x40) % 0x40,
      0x80 + cp % 0x40)
  end
  return string.char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
    0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

-- Skips only where the language itself lacks the feature, and says so in the output.
function M.it_with(feature_ok, why, name, fn)
  local busted = require "busted"
  if feature_ok then
    busted.it(name, fn)
  else
    busted.pending(name .. " [" .. why .. ": not in " .. M.name .. "]")
  end
end

return M
