-- `local x <close> = client` inside a token, transport or codec function, during invoke
-- and invoke_all: __close closes the client when it is idle and never frees what a call
-- in progress uses. `<close>` parses on Lua 5.4 only, so the callbacks are compiled with
-- `load` there and the cases show as pending elsewhere.
local functions = require "cloudbase.functions"
local hostile = require "spec.support.hostile"

local HAS_CLOSE = _VERSION == "Lua 5.4" and load("local x <close> = nil") ~= nil

-- function(getclient, inner) that closes the client through `<close>` and returns inner().
local closing = HAS_CLOSE and assert(load([[
  return function(getclient, inner)
    return function(...)
      local c <close> = getclient()
      return inner(...)
    end
  end
]]))()

describe("`<close>` on the client from inside its callbacks", function()
  if not HAS_CLOSE then
    pending("needs Lua 5.4's <close> (this is " .. _VERSION .. ")")
    return
  end

  local server = hostile.for_describe()

  local function is_closed(client)
    local result, err = client:try_invoke("ok", {})
    assert.is_nil(result)
    assert.equal("INVALID_ARGUMENT", err.code)
    assert.matches("closed", err.message)
  end

  it("from a token function, during invoke and invoke_all", function()
    local client
    local token = closing(function() return client end, function() return "t" end)
    client = server:new { token = token }
    local result, err = client:try_invoke("ok", {})
    assert.is_nil(result)
    assert.equal("INVALID_ARGUMENT", err.code)
    is_closed(client)
    client = server:new { token = token }
    local list = client:invoke_all({ { "ok", {} }, { "ok", {} }, { "ok", {} } }, { concurrency = 3 })
    assert.equal(3, #list)
    for i = 1, 3 do
      assert.equal("INVALID_ARGUMENT", list[i].error.code)
    end
    is_closed(client)
  end)

  it("from a Lua transport, during invoke and invoke_all", function()
    local client
    local transport = closing(function() return client end, function()
      return { status = 200, headers = { ["content-type"] = "application/json" }, body = '{"a":1}' }
    end)
    client = functions.new { base_url = server.url, transport = transport }
    assert.same({ a = 1 }, client:invoke("ok", {}))
    is_closed(client)
    client = functions.new { base_url = server.url, transport = transport }
    local list = client:invoke_all { { "ok", {} }, { "ok", {} } }
    assert.is_true(list[1].ok)
    assert.equal("INVALID_ARGUMENT", list[2].error.code)
    is_closed(client)
  end)

  it("from a codec's encode and decode, during invoke and invoke_all", function()
    for _, which in ipairs { "encode", "decode" } do
      local client
      local codec = { encode = functions.json.encode, decode = functions.json.decode }
      codec[which] = closing(function() return client end, functions.json[which])
      client = server:new { json = codec }
      local list = client:invoke_all({ { "ok", { a = 1 } }, { "ok", { a = 2 } }, { "ok", {} } },
        { concurrency = 3 })
      assert.equal(3, #list)
      for i = 1, 3 do
        assert.is_true(list[i].ok or list[i].error.code == "INVALID_ARGUMENT")
      end
      is_closed(client)
      client = server:new { json = codec }
      local result, err = client:try_invoke("ok", { a = 1 })
      assert.is_true(result ~= nil or err.code == "INVALID_ARGUMENT")
      is_closed(client)
    end
  end)
end)
