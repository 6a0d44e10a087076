-- Request ids: every call sends X-Request-Id (a UUID v4 from the OS CSPRNG) unless the
-- caller set one, and info and every error carry the id, against the local gateway.
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"
local socket = require "socket"

local UUID4 = require("spec.support.assertions").UUID4


describe("request ids", function()
  local gw = gateway.for_describe({ reset = true })

  -- The log entries of `name`, waiting up to 5 s for `n` of them.
  local function entries(name, n)
    local deadline = socket.gettime() + 5
    repeat
      local found = {}
      for _, e in ipairs(gw:invocations().entries) do
        if e["function"] == name then found[#found + 1] = e end
      end
      if #found >= n then return found end
      socket.sleep(0.05)
    until socket.gettime() > deadline
    error("the gateway logged fewer than " .. n .. " runs of " .. name)
  end

  it("sends a UUID v4 that is the gateway's id, in its log and in info", function()
    local client = gw:new()
    local seen
    local _, info = client:invoke("inspect", {})
    seen = info.request_id
    assert.matches(UUID4, seen)
    assert.equals(seen, info.headers["x-request-id"])
    local log = entries("inspect", 1)
    assert.equals(1, #log)
    assert.equals(seen, log[1].request_id)
    client:close()
  end)

  it("gives a TIMEOUT the id the gateway logged for the run it cut short", function()
    local client = gw:new({ timeout = 0.3 })
    local ok, err = pcall(client.invoke, client, "sleep", { ms = 800 })
    assert.is_false(ok)
    assert.equals("TIMEOUT", err.code)
    assert.matches(UUID4, err.request_id)
    assert.truthy(tostring(err):find(err.request_id, 1, true))
    local log = entries("sleep", 1)
    assert.equals(err.request_id, log[1].request_id)
    client:close()
  end)

  it("gives a NETWORK_ERROR (nothing listening) the id it sent", function()
    local client = functions.new({ base_url = gateway.closed_url(), timeout = 2 })
    local _, err = client:try_invoke("echo", {})
    assert.equals("NETWORK_ERROR", err.code)
    assert.matches(UUID4, err.request_id)
    local list = client:invoke_all({ { "echo", {} }, { "echo", {} } })
    assert.matches(UUID4, list[1].error.request_id)
    assert.are_not.equal(list[1].error.request_id, list[2].error.request_id)
    client:close()
  end)

  it("respects an id the caller set on the client or the call, in any case", function()
    local client = gw:new({ headers = { ["x-request-ID"] = "client-set-id.1" } })
    local _, info = client:invoke("inspect", {})
    assert.equals("client-set-id.1", info.request_id)
    local _, info2 = client:invoke("inspect", {}, { headers = { ["X-REQUEST-ID"] = "call:set-2" } })
    assert.equals("call:set-2", info2.request_id)
    local ids = {}
    for _, e in ipairs(entries("inspect", 2)) do ids[e.request_id] = true end
    assert.same({ ["client-set-id.1"] = true, ["call:set-2"] = true }, ids)
    -- exactly one X-Request-Id went out: the gateway ignores a repeated header
    local result = client:invoke("inspect", {}, { headers = { ["X-Request-Id"] = "only-one" } })
    assert.equals("only-one", result.request_id)
    client:close()
  end)

  it("keeps the caller's id on errors without a response", function()
    local client = functions.new({ base_url = gateway.closed_url(),
                                   headers = { ["X-Request-Id"] = "mine-123" } })
    local _, err = client:try_invoke("echo", {})
    assert.equals("NETWORK_ERROR", err.code)
    assert.equals("mine-123", err.request_id)
    client:close()
  end)

  it("puts the id in prepare's request and hands it to a Lua transport", function()
    local client = gw:new()
    local req = assert(client:prepare("echo", {}))
    assert.matches(UUID4, req.request_id)
    assert.equals(req.request_id, req.headers["X-Request-Id"])
    local got
    local lua_client = gw:new({ transport = function(request)
      got = request
      return nil, "NETWORK_ERROR", "unplugged"
    end })
    local _, err = lua_client:try_invoke("echo", {})
    assert.equals("NETWORK_ERROR", err.code)
    assert.matches(UUID4, got.headers["X-Request-Id"])
    assert.equals(got.headers["X-Request-Id"], err.request_id)
    -- a transport answer without X-Request-Id: info falls back to the id sent
    local plain = gw:new({ transport = function(request)
      got = request
      return { status = 200, headers = { ["content-type"] = "application/json" }, body = "{}" }
    end })
    local _, info = plain:invoke("echo", {})
    assert.equals(got.request_id, info.request_id)
    client:close()
    lua_client:close()
    plain:close()
  end)

  it("makes 1000 unique, well-formed ids over 1000 calls", function()
    local client = gw:new()
    local calls = {}
    for i = 1, 1000 do calls[i] = { "echo", { i = i } } end
    local seen, n = {}, 0
    for _, outcome in ipairs(client:invoke_all(calls, { concurrency = 32 })) do
      assert.is_true(outcome.ok)
      local id = outcome.info.request_id
      assert.matches(UUID4, id)
      assert.is_nil(seen[id])
      seen[id] = true
      n = n + 1
    end
    assert.equals(1000, n)
    local logged = 0
    for _, e in ipairs(gw:invocations().entries) do
      if e["function"] == "echo" then
        assert.is_true(seen[e.request_id])
        logged = logged + 1
      end
    end
    assert.equals(1000, logged)
    client:close()
  end)
end)
