-- Request bodies: a JSON object, at most 6 MB.
local gateway = require "spec.support.gateway"

local MB = 1024 * 1024

describe("gateway request body", function()
  local gw = gateway.for_describe({ reset = true })

  local function assert_param_invalid(res)
    assert.equals(400, res.status)
    assert.equals("FUNCTION_PARAM_INVALID", res.json.code)
    assert.equals(res.headers["x-request-id"], res.json.requestId)
  end

  local not_objects = {
    ["an array"] = "[1, 2]",
    ["an empty array"] = "[]",
    ["a number"] = "42",
    ["a string"] = '"text"',
    ["null"] = "null",
    ["true"] = "true",
    ["empty"] = "",
    ["whitespace"] = "  \n ",
    ["invalid JSON"] = '{"a": }',
    ["a truncated object"] = '{"a": 1',
    ["an object with trailing garbage"] = '{"a": 1} x',
    ["NaN"] = '{"a": NaN}',
    ["not JSON at all"] = "hello=world",
  }
  for why, body in pairs(not_objects) do
    it("refuses " .. why .. " with 400 FUNCTION_PARAM_INVALID, without running the function",
      function()
        assert_param_invalid(gw:invoke("echo", body))
        assert.is_nil(gw:invocations().counts.echo)
      end)
  end

  it("accepts {} and nested objects", function()
    assert.equals(200, gw:invoke("echo", "{}").status)
    local res = gw:invoke("echo", ' \n{"a": {"b": [1, {"c": null}]}}')
    assert.equals(200, res.status)
    assert.equals(2, gw:invocations().counts.echo)
  end)

  it("accepts a body of exactly 6 MB", function()
    local body = '{"d":"' .. string.rep("a", 6 * MB - 8) .. '"}'
    assert.equals(6 * MB, #body)
    local res = gw:invoke("sleep", body, { headers = { "Content-Type: application/json" } })
    assert.equals(200, res.status)
    assert.same({ slept = 100 }, res.json)
  end)

  it("refuses a body over 6 MB with EXCEED_REQUEST_SIZE_LIMIT", function()
    local body = '{"d":"' .. string.rep("a", 6 * MB - 7) .. '"}'
    assert.equals(6 * MB + 1, #body)
    local res = gw:invoke("echo", body)
    assert.equals(413, res.status)
    assert.equals("EXCEED_REQUEST_SIZE_LIMIT", res.json.code)
    assert.equals(res.headers["x-request-id"], res.json.requestId)
    assert.is_nil(gw:invocations().counts.echo)
  end)

  it("refuses a chunked body over 6 MB the same way", function()
    local body = '{"d":"' .. string.rep("a", 7 * MB) .. '"}'
    local res = gw:invoke("echo", body, { headers = { "Transfer-Encoding: chunked" } })
    assert.equals(413, res.status)
    assert.equals("EXCEED_REQUEST_SIZE_LIMIT", res.json.code)
    assert.equals(res.headers["x-request-id"], res.json.requestId)
  end)
end)
