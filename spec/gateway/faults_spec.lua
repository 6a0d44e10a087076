-- Test-only fault functions, and their absence from the demo config.
local gateway = require "spec.support.gateway"
local cjson = require "cjson"
local socket = require "socket"

describe("gateway fault functions", function()
  local gw = gateway.for_describe()

  it("fault_slow answers after event.ms", function()
    local t0 = socket.gettime()
    local res = gw:invoke("fault_slow", '{"ms":300}')
    local elapsed = socket.gettime() - t0
    assert.equals(200, res.status)
    assert.same({ slept = 300 }, res.json)
    assert.is_true(elapsed >= 0.3, "took " .. elapsed)
  end)

  it("fault_slow sleeps 5 s by default (a client timeout fires first)", function()
    local t0 = socket.gettime()
    local res = gw:invoke("fault_slow", "{}", { timeout = 0.5 })
    assert.equals(28, res.exit_code) -- curl: operation timed out
    assert.is_true(socket.gettime() - t0 < 2)
  end)

  it("fault_huge sends about event.bytes of valid JSON (default 8 MiB)", function()
    local res = gw:invoke("fault_huge", "{}")
    assert.equals(200, res.status)
    assert.equals(8 * 1024 * 1024, #res.body)
    assert.equals(tostring(#res.body), res.headers["content-length"])
    assert.equals(8 * 1024 * 1024 - 11, #cjson.decode(res.body).data)
    res = gw:invoke("fault_huge", '{"bytes":1000}')
    assert.equals(1000, #res.body)
  end)

  it("fault_malformed sends 200 application/json that is not JSON", function()
    local res = gw:invoke("fault_malformed", "{}")
    assert.equals(200, res.status)
    assert.matches("^application/json", res.headers["content-type"])
    assert.is_true(#res.body > 0)
    assert.is_false(pcall(cjson.decode, res.body))
  end)

  it("fault_drop promises a Content-Length, sends part of it and drops the connection", function()
    local res = gw:invoke("fault_drop", "{}")
    assert.equals(18, res.exit_code) -- curl: partial file
    assert.equals(200, res.status)
    assert.equals("100000", res.headers["content-length"])
    assert.is_true(#res.body > 0 and #res.body < 100000)
    local log = gw:invocations()
    assert.equals(0, log.in_flight.fault_drop)
  end)

  it("fault_html502 sends a proxy's HTML 502 page", function()
    local res = gw:invoke("fault_html502", "{}")
    assert.equals(502, res.status)
    assert.matches("^text/html", res.headers["content-type"])
    assert.matches("<html>", res.body)
    assert.is_string(res.headers["x-request-id"])
  end)

  it("fault_empty503 sends 503 with an empty body", function()
    local res = gw:invoke("fault_empty503", "{}")
    assert.equals(503, res.status)
    assert.equals("", res.body)
    assert.equals("0", res.headers["content-length"])
  end)

  it("fault_empty sends 200 application/json with an empty body", function()
    local res = gw:invoke("fault_empty", "{}")
    assert.equals(200, res.status)
    assert.matches("^application/json", res.headers["content-type"])
    assert.equals("", res.body)
  end)

  it("fault_redirect sends a 302 to another host", function()
    local res = gw:invoke("fault_redirect", "{}")
    assert.equals(302, res.status)
    assert.matches("^http://other%-host%.invalid/", res.headers.location)
  end)

  it("fault_gzip gzips its JSON when the request accepts gzip", function()
    local raw = gw:invoke("fault_gzip", "{}", {
      headers = { "Content-Type: application/json", "Accept-Encoding: gzip" } })
    assert.equals(200, raw.status)
    assert.equals("gzip", raw.headers["content-encoding"])
    assert.equals("\31\139", raw.body:sub(1, 2))

    local decoded = gw:invoke("fault_gzip", "{}", { args = { "--compressed" } })
    assert.equals(2000, #cjson.decode(decoded.body).items)
    assert.is_true(#raw.body * 5 < #decoded.body)

    local plain = gw:invoke("fault_gzip", "{}")
    assert.is_nil(plain.headers["content-encoding"])
    assert.equals(decoded.body, plain.body)
  end)

  it("fault_status answers event.status, event.body and event.content_type verbatim", function()
    local res = gw:invoke("fault_status",
      '{"status":418,"body":"short and stout","content_type":"text/x-tea"}')
    assert.equals(418, res.status)
    assert.equals("short and stout", res.body)
    assert.equals("text/x-tea", res.headers["content-type"])
    res = gw:invoke("fault_status", '{"status":504,"body":"{\\"code\\":\\"X\\"}",'
      .. '"content_type":"application/json"}')
    assert.equals(504, res.status)
    assert.equals('{"code":"X"}', res.body)
  end)

  it("fault_sys_err answers 500 SYS_ERR in the gateway's error shape, after running", function()
    gw:reset()
    local res = gw:invoke("fault_sys_err", "{}", { headers = { "X-Request-Id: sys-1" } })
    assert.equals(500, res.status)
    assert.same({ code = "SYS_ERR", message = res.json.message, requestId = "sys-1" }, res.json)
    local log = gw:invocations()
    assert.equals(1, log.counts.fault_sys_err)
    assert.equals("SYS_ERR", log.entries[1].code)
    assert.equals(500, log.entries[1].http_status)
  end)

  it("fault_server_timeout answers 504 SERVER_TIMEOUT after event.ms, after running", function()
    gw:reset()
    local t0 = socket.gettime()
    local res = gw:invoke("fault_server_timeout", '{"ms":200}')
    assert.is_true(socket.gettime() - t0 >= 0.2)
    assert.equals(504, res.status)
    assert.equals("SERVER_TIMEOUT", res.json.code)
    assert.equals(res.headers["x-request-id"], res.json.requestId)
    local log = gw:invocations()
    assert.equals(1, log.counts.fault_server_timeout)
    assert.equals("SERVER_TIMEOUT", log.entries[1].code)
  end)

  it("are not in the demo config", function()
    local demo = cjson.decode(gateway.read_file(gateway.root .. "/gateway/demo/config.json"))
    for _, env in pairs(demo.envs) do
      for name in pairs(env.functions) do
        assert.is_nil(name:match("^fault_"), name)
      end
    end
    local out = gateway.run("ls " .. gateway.quote(gateway.root .. "/gateway/demo/functions"))
    assert.is_nil(out:match("fault_"))
  end)
end)
