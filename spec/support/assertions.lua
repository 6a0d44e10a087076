-- Checks the specs share. The module is loaded only by the checks of its error objects,
-- so the gateway's own specs can use the rest.
local assert = require "luassert"

local M = {}

-- A request id: any UUID, and a version 4 (random) one.
M.UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
M.UUID4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

-- s holds fragment, literally.
function M.has(s, fragment)
  return type(s) == "string" and s:find(fragment, 1, true) ~= nil
end

-- Checks an error object (its metatable, code and, if given, a message fragment);
-- returns it.
function M.assert_error(err, code, fragment)
  local functions = require "cloudbase.functions"
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
