-- CORS: configured origins get Access-Control-* headers and preflights
-- answered without credentials; other origins get none.
local gateway = require "spec.support.gateway"

local ALLOWED = "http://localhost:5173"
local OTHER = "https://evil.example"

describe("gateway CORS", function()
  local gw = gateway.for_describe({ reset = true })

  local function preflight(path, origin, request_headers)
    local headers = { "Origin: " .. origin, "Access-Control-Request-Method: POST" }
    if request_headers then
      headers[#headers + 1] = "Access-Control-Request-Headers: " .. request_headers
    end
    return gw:request({ path = path, method = "OPTIONS", headers = headers })
  end

  local function no_cors_headers(res)
    for name in pairs(res.headers) do
      assert.is_nil(name:match("^access%-control%-"), name)
    end
  end

  local function header_list(value)
    local set = {}
    for item in (value or ""):gmatch("[^,%s]+") do
      set[item:lower()] = true
    end
    return set
  end

  it("answers an allowed origin's preflight 204 without credentials", function()
    local res = preflight("/v1/functions/echo", ALLOWED,
      "authorization,content-type,x-request-id,x-sdk-version")
    assert.equals(204, res.status)
    assert.equals("", res.body)
    assert.equals(ALLOWED, res.headers["access-control-allow-origin"])
    assert.equals("Origin", res.headers["vary"])
    assert.equals("600", res.headers["access-control-max-age"])
    local methods = header_list(res.headers["access-control-allow-methods"])
    assert.is_true(methods.post and methods.get and methods.options)
    local allowed = header_list(res.headers["access-control-allow-headers"])
    for _, name in ipairs({ "authorization", "content-type", "x-request-id", "x-qualifier",
                            "x-tcb-webfn", "x-sdk-version" }) do
      assert.is_true(allowed[name], name)
    end
    assert.is_nil(res.headers["access-control-allow-credentials"])
    assert.is_nil(gw:invocations().counts.echo)
  end)

  it("answers preflights for the token endpoint and unknown functions alike", function()
    assert.equals(ALLOWED, preflight("/auth/v1/token", ALLOWED).headers["access-control-allow-origin"])
    assert.equals(204, preflight("/v1/functions/no-such-fn", ALLOWED).status)
  end)

  it("matches origins case-insensitively and echoes the origin sent", function()
    local res = preflight("/v1/functions/echo", "HTTPS://App.Example.com")
    assert.equals("HTTPS://App.Example.com", res.headers["access-control-allow-origin"])
  end)

  it("gives a disallowed origin's preflight no CORS headers", function()
    local res = preflight("/v1/functions/echo", OTHER)
    assert.equals(204, res.status)
    no_cors_headers(res)
    -- Same scheme and host, other port: another origin.
    no_cors_headers(preflight("/v1/functions/echo", "http://localhost:5174"))
  end)

  it("adds Allow-Origin and exposes X-Request-Id on answers to an allowed origin", function()
    local res = gw:invoke("echo", "{}", { headers = { "Origin: " .. ALLOWED } })
    assert.equals(200, res.status)
    assert.equals(ALLOWED, res.headers["access-control-allow-origin"])
    local exposed = header_list(res.headers["access-control-expose-headers"])
    assert.is_true(exposed["x-request-id"])
    assert.is_true(exposed["retry-after"])
    assert.is_nil(res.headers["access-control-allow-methods"])
  end)

  it("adds them to gateway errors too, before and after the function", function()
    local denied = gw:invoke("echo", "{}", { token = false, headers = { "Origin: " .. ALLOWED } })
    assert.equals(401, denied.status)
    assert.equals(ALLOWED, denied.headers["access-control-allow-origin"])
    local failed = gw:invoke("throws", "{}", { headers = { "Origin: " .. ALLOWED } })
    assert.equals(500, failed.status)
    assert.equals(ALLOWED, failed.headers["access-control-allow-origin"])
    local big = gw:invoke("echo", '{"d":"' .. string.rep("a", 6 * 1024 * 1024) .. '"}',
      { headers = { "Origin: " .. ALLOWED } })
    assert.equals(413, big.status)
    assert.equals(ALLOWED, big.headers["access-control-allow-origin"])
  end)

  it("adds nothing for a disallowed origin or without Origin", function()
    no_cors_headers(gw:invoke("echo", "{}", { headers = { "Origin: " .. OTHER } }))
    no_cors_headers(gw:invoke("echo", "{}"))
  end)

  it("leaves a plain OPTIONS (not a preflight) to the function routing", function()
    local res = gw:request({ path = "/v1/functions/echo", method = "OPTIONS",
      token = "test-api-key", headers = { "Origin: " .. ALLOWED } })
    assert.equals(405, res.status)
    assert.equals("METHOD_NOT_ALLOWED", res.json.code)
    assert.equals(ALLOWED, res.headers["access-control-allow-origin"])
  end)

  it("lets a web function's own Access-Control-Allow-Origin win", function()
    local res = gw:request({ path = "/v1/functions/web?webfn=true&header="
      .. "Access-Control-Allow-Origin:https://fn.example", token = "test-api-key",
      headers = { "Origin: " .. ALLOWED } })
    assert.equals(200, res.status)
    assert.equals("https://fn.example", res.headers["access-control-allow-origin"])
  end)
end)
