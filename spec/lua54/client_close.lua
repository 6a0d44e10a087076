-- Lua 5.4 syntax (`<close>`), loaded by client_spec.lua on 5.4 only; elsewhere that
-- test shows as pending. Returns the test body; `new()` makes a client.
local assert = require "luassert"
local assertions = require "spec.support.assertions"
local new = ...
return function()
  local kept
  do
    local c <close> = new()
    kept = c
    assert.same({ a = 1 }, c:invoke("echo", { a = 1 }))
  end
  assert.is_true(assertions.has(tostring(kept), "closed"))
  assertions.assert_error(assertions.raised(kept.invoke, kept, "echo", {}), "INVALID_ARGUMENT", "closed")
end
