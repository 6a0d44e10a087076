-- Checks the module's specs share.
local assert = require "luassert"
local functions = require "cloudbase.functions"

local M = {}

-- s holds fragment, literally.
function M.has(s, fragment)
  return type(s) == "string" and s:find(fragment, 1, true) ~= nil
end

-- Checks an error object (its metatable, code and, if given, a message fragment);
-- returns it.
function M.assert_error(err, code, fragment)
  assert.is_true(functions.is_error(err), "not an Error object: " .. tostring(err))
  assert.equals(functions.Error, getmetatable(err))
  assert.equals(code, err.code, tostring(err))
  assert.is_string(err.message)
  if fragment then
    assert.is_true(M.has(err.message, fragment), "'" .. fragment .. "' not in: " .. err.message)
  end
  return err
end

-- The error raised by fn(...).
function M.raised(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

return M
