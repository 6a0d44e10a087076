-- X-Request-Id: a well-formed client id is the request's id everywhere; a
-- malformed one is never echoed and the gateway makes its own.
local gateway = require "spec.support.gateway"

local UUID = require("spec.support.assertions").UUID

describe("gateway request ids", function()
  local gw = gateway.for_describe({ reset = true })

  local function last_entry()
    local entries = gw:invocations().entries
    return entries[#entries]
  end

  local good = {
    ["a UUID"] = "0f8e4abb-f63c-4c58-b7ca-11beccaed1eb",
    ["one character"] = "x",
    ["dots, colons, dashes, underscores"] = "svc-a:trace_7.span-9",
    ["128 characters"] = string.rep("a", 128),
  }
  for why, id in pairs(good) do
    it("adopts " .. why .. " in the header, the log and context.request_id", function()
      local res = gw:invoke("inspect", "{}", { headers = { "X-Request-Id: " .. id } })
      assert.equals(200, res.status)
      assert.equals(id, res.headers["x-request-id"])
      assert.equals(id, res.json.request_id)
      assert.equals(id, last_entry().request_id)
    end)
  end

  it("puts the client id in error bodies, before and after the function runs", function()
    local id = "client-id-1"
    local res = gw:invoke("throws", "{}", { headers = { "X-Request-Id: " .. id } })
    assert.equals("FUNCTION_INVOCATION_FAILED", res.json.code)
    assert.equals(id, res.json.requestId)
    assert.equals(id, res.headers["x-request-id"])
    assert.equals(id, last_entry().request_id)

    res = gw:invoke("echo", "{}", { token = "nope", headers = { "X-Request-Id: " .. id } })
    assert.equals("INVALID_CREDENTIALS", res.json.code)
    assert.equals(id, res.json.requestId)

    res = gw:invoke("echo", "{}", { host = "nowhere.example", headers = { "X-Request-Id: " .. id } })
    assert.equals("INVALID_HOST", res.json.code)
    assert.equals(id, res.json.requestId)
  end)

  it("keeps the client id through the 413 error page", function()
    local body = '{"d":"' .. string.rep("a", 6 * 1024 * 1024) .. '"}'
    local res = gw:invoke("echo", body, { headers = { "X-Request-Id: big-1" } })
    assert.equals(413, res.status)
    assert.equals("EXCEED_REQUEST_SIZE_LIMIT", res.json.code)
    assert.equals("big-1", res.json.requestId)
    assert.equals("big-1", res.headers["x-request-id"])
  end)

  local bad = {
    ["129 characters"] = string.rep("a", 129),
    ["a space"] = "abc def",
    ["a quote"] = 'abc"def',
    ["a comma"] = "abc,def",
    ["percent-encoded CR LF"] = "abc%0d%0aX-Evil:1",
    ["a slash"] = "abc/def",
    ["non-ASCII bytes"] = "abc\195\188",
    ["a tab"] = "abc\tdef",
  }
  for why, id in pairs(bad) do
    it("ignores an id with " .. why .. " and makes its own", function()
      local res = gw:invoke("inspect", "{}", { headers = { "X-Request-Id: " .. id } })
      assert.equals(200, res.status)
      assert.matches(UUID, res.headers["x-request-id"])
      assert.equals(res.headers["x-request-id"], res.json.request_id)
      assert.equals(res.headers["x-request-id"], last_entry().request_id)
      assert.is_nil(gateway.read_file(gw.run_dir .. "/invocations.log"):find(id, 1, true))
    end)
  end

  it("ignores a repeated X-Request-Id header", function()
    local res = gw:invoke("inspect", "{}", { headers = { "X-Request-Id: one", "X-Request-Id: two" } })
    assert.matches(UUID, res.headers["x-request-id"])
  end)

  it("makes a fresh UUID-shaped id per request without a client id", function()
    local a = gw:invoke("hello", "{}").headers["x-request-id"]
    local b = gw:invoke("hello", "{}").headers["x-request-id"]
    assert.matches(UUID, a)
    assert.matches(UUID, b)
    assert.not_equals(a, b)
  end)
end)
