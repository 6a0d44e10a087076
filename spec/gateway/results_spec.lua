-- Results: table -> JSON, string -> text, raw JSON, nil, errors, timeouts.
local gateway = require "spec.support.gateway"
local socket = require "socket"

describe("gateway results", function()
  local gw = gateway.for_describe({ reset = true })

  it("echo returns the request body bytes verbatim as application/json", function()
    local bodies = {
      '{"big":9007199254740993,"float":1.0,"neg":-0.0,"exp":1E+2}',
      '{ "spaced" : [ 1 , 2 ] }\n',
      '{"unicode":"h\\u00e9llo \228\184\173\230\150\135","esc":"a\\/b\\"c"}',
      "{}",
    }
    for _, body in ipairs(bodies) do
      local res = gw:invoke("echo", body)
      assert.equals(200, res.status)
      assert.matches("^application/json", res.headers["content-type"])
      assert.equals(body, res.body)
      assert.equals(tostring(#body), res.headers["content-length"])
    end
  end)

  it("a table becomes application/json", function()
    local res = gw:invoke("inspect", '{"a":[1,2,{"b":"c"}],"n":5}', {
      headers = { "Content-Type: application/json", "X-Mixed-Case: Yes" } })
    assert.equals(200, res.status)
    assert.matches("^application/json", res.headers["content-type"])
    local r = res.json
    assert.same({ a = { 1, 2, { b = "c" } }, n = 5 }, r.event)
    assert.equals("inspect", r.function_name)
    assert.equals("$LATEST", r.version)
    assert.equals("POST", r.method)
    assert.equals("/v1/functions/inspect", r.uri)
    assert.equals("Yes", r.headers["x-mixed-case"])
    assert.equals("Bearer test-api-key", r.headers.authorization)
    assert.is_nil(r.headers["X-Mixed-Case"])
    assert.same({ type = "api_key" }, r.identity)
  end)

  it("a string becomes text/plain", function()
    local res = gw:invoke("hello", "{}")
    assert.equals(200, res.status)
    assert.matches("^text/plain", res.headers["content-type"])
    assert.equals("Hello fn", res.body)
  end)

  it("no result becomes JSON null", function()
    local res = gw:invoke("nil_result", "{}")
    assert.equals(200, res.status)
    assert.matches("^application/json", res.headers["content-type"])
    assert.equals("null", res.body)
  end)

  it("a function that throws gives FUNCTION_INVOCATION_FAILED with its message", function()
    local res = gw:invoke("throws", "{}")
    assert.equals(500, res.status)
    assert.equals("FUNCTION_INVOCATION_FAILED", res.json.code)
    assert.matches("boom", res.json.message)
    assert.equals(res.headers["x-request-id"], res.json.requestId)
    local log = gw:invocations()
    assert.equals(1, log.counts.throws)
    assert.equals("error", log.entries[1].status)
  end)

  it("FUNCTION_INVOCATION_FAILED messages carry no host path or source position", function()
    local res = gw:invoke("throws", "{}")
    assert.equals("function throws failed: boom", res.json.message)
    res = gw:invoke("throws", '{"mention_path":true}')
    assert.equals("function throws failed: cannot open throws.lua for writing", res.json.message)
    res = gw:invoke("throws", '{"blame_caller":true}')
    assert.equals("function throws failed: bad argument", res.json.message)
    assert.is_nil(res.body:find(gateway.root, 1, true))
    assert.is_nil(res.body:find("%.lua:%d"))
  end)

  it("a function past its timeout gives FUNCTION_TIME_LIMIT_EXCEEDED, on time", function()
    local started = socket.gettime()
    local res = gw:invoke("too_slow", "{}")
    local elapsed = socket.gettime() - started
    assert.equals(504, res.status)
    assert.equals("FUNCTION_TIME_LIMIT_EXCEEDED", res.json.code)
    assert.equals(res.headers["x-request-id"], res.json.requestId)
    assert.is_true(elapsed >= 0.2 and elapsed < 1.5, "took " .. elapsed .. " s")
    local log = gw:invocations()
    assert.equals(1, log.counts.too_slow)
    assert.equals(0, log.in_flight.too_slow)
    assert.equals("timeout", log.entries[1].status)
  end)

  it("sleep sleeps event.ms (default 100) and says so", function()
    assert.same({ slept = 100 }, gw:invoke("sleep", "{}").json)
    assert.same({ slept = 30 }, gw:invoke("sleep", '{"ms":30}').json)
  end)
end)
