-- Path, function name, method, Host, and the request id / error shape.
local gateway = require "spec.support.gateway"

local function assert_error(res, status, code)
  assert.equals(status, res.status)
  assert.matches("^application/json", res.headers["content-type"])
  assert.is_table(res.json, "error body is not JSON: " .. res.body)
  assert.equals(code, res.json.code)
  assert.is_string(res.json.message)
  assert.is_true(#res.json.message > 0)
  assert.is_string(res.headers["x-request-id"])
  assert.equals(res.headers["x-request-id"], res.json.requestId)
end

describe("gateway routing", function()
  local gw = gateway.for_describe()

  describe("function names", function()
    local good = { "ab", "a1", "A-b_c9", "echo", "x" .. string.rep("y", 58) .. "z" }
    for _, name in ipairs(good) do
      it("accepts the valid name " .. name:sub(1, 20) .. " (" .. #name .. " chars)", function()
        local res = gw:invoke(name, "{}")
        -- Valid but unknown names reach the function lookup.
        assert.is_not.equals("INVALID_PARAM", res.json.code)
        if name ~= "echo" then
          assert_error(res, 404, "FUNCTION_NOT_FOUND")
        else
          assert.equals(200, res.status)
        end
      end)
    end

    local bad = {
      ["one character"] = "a",
      ["leading digit"] = "1abc",
      ["leading dash"] = "-abc",
      ["trailing underscore"] = "abc_",
      ["trailing dash"] = "abc-",
      ["61 characters"] = "x" .. string.rep("y", 59) .. "z",
      ["a dot"] = "ab.cd",
      ["an encoded newline"] = "abc%0A",
      ["empty"] = "",
    }
    for why, name in pairs(bad) do
      it("rejects a name with " .. why .. " with 400 INVALID_PARAM", function()
        local res = gw:invoke(name, "{}")
        assert_error(res, 400, "INVALID_PARAM")
      end)
    end
  end)

  it("answers FUNCTION_NOT_FOUND for an unknown function", function()
    assert_error(gw:invoke("no_such_function", "{}"), 404, "FUNCTION_NOT_FOUND")
  end)

  it("answers RESOURCE_NOT_FOUND outside /v1/functions", function()
    assert_error(gw:request({ path = "/v2/whatever", token = "test-api-key" }), 404,
      "RESOURCE_NOT_FOUND")
  end)

  it("refuses methods other than POST on an event function", function()
    gw:reset()
    for _, method in ipairs({ "GET", "PUT", "DELETE", "PATCH" }) do
      local res = gw:request({ path = "/v1/functions/echo", method = method,
        token = "test-api-key" })
      assert_error(res, 405, "METHOD_NOT_ALLOWED")
    end
    assert.equals(0, gw:invocations().counts.echo or 0)
  end)

  it("refuses a sub-path after an event function's name", function()
    assert_error(gw:invoke("echo", "{}", { path = "/v1/functions/echo/extra" }), 404,
      "RESOURCE_NOT_FOUND")
  end)

  describe("Host", function()
    it("accepts the env's gateway hosts, 127.0.0.1 and localhost on any port", function()
      local hosts = { "test-env.api.tcloudbasegateway.com",
                      "test-env.api.intl.tcloudbasegateway.com:8443",
                      "TEST-ENV.api.tcloudbasegateway.com",
                      "127.0.0.1:1", "localhost" }
      for _, host in ipairs(hosts) do
        local res = gw:invoke("hello", "{}", { host = host })
        assert.equals(200, res.status, host)
        assert.equals("Hello fn", res.body)
      end
    end)

    it("refuses an unknown Host with INVALID_HOST", function()
      for _, host in ipairs({ "example.com", "other-env.api.tcloudbasegateway.com",
                              "test-env.api.tcloudbasegateway.com.evil.com" }) do
        assert_error(gw:invoke("hello", "{}", { host = host }), 404, "INVALID_HOST")
      end
    end)

    it("routes another env's host to that env", function()
      local res = gw:invoke("inspect", "{}", { host = "locked-env.api.tcloudbasegateway.com",
        token = "locked-api-key" })
      assert.equals(200, res.status)
      -- test-env's API key is not valid in locked-env.
      res = gw:invoke("inspect", "{}", { host = "locked-env.api.tcloudbasegateway.com" })
      assert_error(res, 401, "INVALID_CREDENTIALS")
    end)
  end)

  it("sends a fresh X-Request-Id on every response, success or error", function()
    local seen = {}
    local responses = {
      gw:invoke("hello", "{}"),
      gw:invoke("echo", "[]"),
      gw:invoke("nope_nope", "{}"),
      gw:request({ path = "/_gateway/health" }),
      gw:invoke("web", nil, { path = "/v1/functions/web?webfn=true" }),
    }
    for _, res in ipairs(responses) do
      local id = res.headers["x-request-id"]
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", id)
      assert.is_nil(seen[id])
      seen[id] = true
    end
  end)

  it("gives the request id to the function", function()
    local res = gw:invoke("inspect", "{}")
    assert.equals(res.headers["x-request-id"], res.json.request_id)
  end)
end)
