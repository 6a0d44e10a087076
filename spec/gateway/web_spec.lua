-- Web functions: webfn=true / X-Tcb-Webfn, any method, sub-path, HTTP answers.
local gateway = require "spec.support.gateway"

describe("gateway web functions", function()
  local gw = gateway.for_describe({ reset = true })

  it("passes method, sub-path, query, headers and body; answers with the function's HTTP",
    function()
      local res = gw:request({ path = "/v1/functions/web/users/7?x=1&webfn=true&status=201",
        method = "PUT", token = "test-api-key",
        headers = { "X-Custom: abc", "Content-Type: text/plain" }, body = "raw <body>" })
      assert.equals(201, res.status)
      assert.equals("application/json", res.headers["content-type"])
      assert.equals("web", res.headers["x-web-function"])
      assert.is_string(res.headers["x-request-id"])
      local ev = res.json
      assert.equals("PUT", ev.method)
      assert.equals("/users/7", ev.path)
      assert.equals("1", ev.query.x)
      assert.equals("201", ev.query.status)
      assert.equals("x=1&webfn=true&status=201", ev.raw_query)
      assert.equals("abc", ev.headers["x-custom"])
      assert.equals("text/plain", ev.headers["content-type"])
      assert.equals("raw <body>", ev.body)
      assert.equals(1, gw:invocations().counts.web)
    end)

  it("works with the X-Tcb-Webfn: true header and any method", function()
    for _, method in ipairs({ "GET", "POST", "DELETE", "PATCH" }) do
      local res = gw:request({ path = "/v1/functions/web", method = method,
        token = "test-api-key", headers = { "X-Tcb-Webfn: true" } })
      assert.equals(200, res.status, method)
      assert.equals(method, res.json.method)
      assert.equals("/", res.json.path)
    end
  end)

  it("adds the function's headers to the response", function()
    local res = gw:request({ path = "/v1/functions/web/x?webfn=true&header=X-Extra:yes",
      token = "test-api-key" })
    assert.equals("yes", res.headers["x-extra"])
  end)

  it("refuses to run a web function without webfn", function()
    local res = gw:invoke("web", "{}")
    assert.equals(400, res.status)
    assert.equals("INVALID_PARAM", res.json.code)
    res = gw:invoke("web", "{}", { headers = { "X-Tcb-Webfn: false" } })
    assert.equals("INVALID_PARAM", res.json.code)
    assert.is_nil(gw:invocations().counts.web)
  end)

  it("refuses webfn=true on an event function", function()
    local res = gw:invoke("echo", "{}", { path = "/v1/functions/echo?webfn=true" })
    assert.equals(400, res.status)
    assert.equals("INVALID_PARAM", res.json.code)
  end)

  it("still checks credentials and rules", function()
    local res = gw:request({ path = "/v1/functions/web?webfn=true" })
    assert.equals(401, res.status)
    assert.equals("MISSING_CREDENTIALS", res.json.code)
  end)
end)
