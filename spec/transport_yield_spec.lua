-- A Lua transport may yield: invoke, try_invoke and invoke_all of a client with a Lua
-- transport run it from Lua frames (src/lua_methods.c), so it can wait on a coroutine
-- scheduler (or an OpenResty cosocket: spec/nginx). Through a C frame this was
-- "attempt to yield across a C-call boundary".
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local assert_error = assertions.assert_error

-- A transport that yields "waiting" and answers with the body it is resumed with.
local function yielding_client(extra)
  local opts = { base_url = "http://gw.example", transport = function(request)
    local body = coroutine.yield("waiting", request.url)
    if body == "raise" then
      error("gave up after yielding", 0)
    end
    return { status = 200, headers = { ["Content-Type"] = "application/json" }, body = body }
  end }
  for k, v in pairs(extra or {}) do
    opts[k] = v
  end
  return functions.new(opts)
end

describe("a Lua transport that yields", function()
  it("suspends invoke until resumed, then returns the result", function()
    local c = yielding_client()
    local co = coroutine.create(function() return c:invoke("fn", { a = 1 }) end)
    local ok, what, url = coroutine.resume(co)
    assert.is_true(ok)
    assert.equals("waiting", what)
    assert.equals("http://gw.example/v1/functions/fn", url)
    assert.equals("suspended", coroutine.status(co))
    local _, result, info = coroutine.resume(co, '{"n":7}')
    assert.same({ n = 7 }, result)
    assert.equals(200, info.status)
    assert.is_true(info.elapsed >= 0)
    c:close()
  end)

  it("try_invoke gives nil, err after a yield, and invoke raises the same object", function()
    local c = yielding_client()
    local co = coroutine.create(function() return c:try_invoke("fn", {}) end)
    coroutine.resume(co)
    local _, result, err = coroutine.resume(co, "{broken")
    assert.is_nil(result)
    assert_error(err, "INVALID_RESPONSE")
    co = coroutine.create(function() return c:invoke("fn", {}) end)
    coroutine.resume(co)
    local ok, raised = coroutine.resume(co, "raise")
    assert.is_false(ok)
    assert_error(raised, "TRANSPORT_ERROR", "gave up after yielding")
    c:close()
  end)

  it("invoke_all yields once per call and keeps the order", function()
    local c = yielding_client()
    local co = coroutine.create(function()
      return c:invoke_all({ { "one" }, "not a call", { name = "two", payload = { x = 1 } } })
    end)
    local _, _, url = coroutine.resume(co)
    assert.equals("http://gw.example/v1/functions/one", url)
    _, _, url = coroutine.resume(co, "1")
    assert.equals("http://gw.example/v1/functions/two", url)
    local _, list = coroutine.resume(co, "2")
    assert.equals("dead", coroutine.status(co))
    assert.same({ true, 1 }, { list[1].ok, list[1].result })
    assert.is_false(list[2].ok)
    assert_error(list[2].error, "INVALID_ARGUMENT", "each call must be a table")
    assert.same({ true, 2 }, { list[3].ok, list[3].result })
    c:close()
  end)

  it("validates before the transport runs: nothing yields for a bad call", function()
    local c = yielding_client()
    local co = coroutine.create(function() return c:try_invoke("1bad", {}) end)
    local _, result, err = coroutine.resume(co)
    assert.equals("dead", coroutine.status(co))
    assert.is_nil(result)
    assert_error(err, "INVALID_ARGUMENT")
    assert_error(assertions.raised(c.invoke_all, c, {}, { concurrency = 0 }), "INVALID_ARGUMENT")
    c:close()
  end)

  it("a client closed while its transport is suspended still completes that call", function()
    local c = yielding_client()
    local co = coroutine.create(function() return c:invoke("fn", {}) end)
    coroutine.resume(co)
    c:close()
    local _, result = coroutine.resume(co, '{"late":true}')
    assert.same({ late = true }, result)
    assert_error(assertions.raised(c.invoke, c, "fn", {}), "INVALID_ARGUMENT", "closed")
  end)

  it("a suspended call that is never resumed holds nothing: client and coroutine are collected", function()
    local weak = setmetatable({}, { __mode = "v" })
    do
      local c = yielding_client()
      local co = coroutine.create(function() return c:invoke("fn", {}) end)
      coroutine.resume(co)
      weak.client, weak.co = c, co
    end
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak.client)
    assert.is_nil(weak.co)
  end)
end)
