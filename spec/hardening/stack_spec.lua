-- Bounded stack use wherever the module walks a caller's list: a response header given
-- as a list of values (process, or a Lua transport) of any length is joined, not
-- pushed value by value onto the Lua stack.
local functions = require "cloudbase.functions"

local function list(n)
  local values = {}
  for i = 1, n do
    values[i] = "v" .. i
  end
  return values
end

describe("a response header given as a long list of values", function()
  local sizes = { 1, 2, 12, 13, 16, 17, 20, 200, 100000 }

  it("is joined by process, whatever its length", function()
    local client = functions.new { base_url = "http://127.0.0.1:1" }
    for _, n in ipairs(sizes) do
      local values = list(n)
      local result, info = client:process {
        status = 200, body = '{"n":1}',
        headers = { ["Content-Type"] = "application/json", ["Set-Cookie"] = values },
      }
      assert.same({ n = 1 }, result)
      assert.equal(table.concat(values, ", "), info.headers["set-cookie"])
    end
    client:close()
  end)

  it("is joined when a Lua transport returns it", function()
    local values
    local client = functions.new { base_url = "http://127.0.0.1:1", transport = function()
      return { status = 200, body = "{}", headers = { ["content-type"] = "application/json",
        ["set-cookie"] = values } }
    end }
    for _, n in ipairs(sizes) do
      values = list(n)
      local _, info = client:invoke("fn", {})
      assert.equal(table.concat(values, ", "), info.headers["set-cookie"])
    end
    local list_results = client:invoke_all { { "fn", {} }, { "fn", {} } }
    assert.equal(table.concat(values, ", "), list_results[2].info.headers["set-cookie"])
    client:close()
  end)

  it("holding a non-string is refused, not crashed on", function()
    local client = functions.new { base_url = "http://127.0.0.1:1" }
    local values = list(50)
    values[30] = {}
    local result, err = client:process { status = 200, body = "", headers = { ["x-list"] = values } }
    assert.is_nil(result)
    assert.equal("INVALID_ARGUMENT", err.code)
    client:close()
  end)
end)
