-- TLS with a throw-away CA, h2 over ALPN, h2c, concurrency and keep-alive.
local gateway = require "spec.support.gateway"
local socket = require "socket"

describe("gateway transports", function()
  local gw = gateway.for_describe({ tls = true, h2c = true })

  local function tls_invoke(host, extra)
    local args = { "--cacert", gw.ca_file, "--resolve",
                   host .. ":" .. gw.tls_port .. ":127.0.0.1" }
    for _, a in ipairs(extra or {}) do
      args[#args + 1] = a
    end
    return gw:invoke("echo", '{"tls":true}', {
      url = "https://" .. host .. ":" .. gw.tls_port .. "/v1/functions/echo", args = args })
  end

  -- The lines "<status> <connections>[ <HTTP version>]" of curl's -w: each must be 200
  -- (and `version`, when given); returns how many there are and the connections opened.
  local function tally(out, version)
    local count, connects = 0, 0
    for code, n, v in out:gmatch("(%d+) (%d+) ?(%S*)\n") do
      assert.equals("200", code)
      if version then
        assert.equals(version, v)
      end
      count = count + 1
      connects = connects + tonumber(n)
    end
    return count, connects
  end

  it("serves the real URL form over https, verified against the run's CA, via h2", function()
    local res = tls_invoke("test-env.api.tcloudbasegateway.com")
    assert.equals(0, res.exit_code, res.stderr)
    assert.equals(200, res.status)
    assert.equals('{"tls":true}', res.body)
    assert.equals("2", res.http_version)
  end)

  it("offers http/1.1 too", function()
    local res = tls_invoke("test-env.api.intl.tcloudbasegateway.com", { "--http1.1" })
    assert.equals(200, res.status)
    assert.equals("1.1", res.http_version)
  end)

  it("has a certificate for every env and for 127.0.0.1", function()
    local res = tls_invoke("locked-env.api.tcloudbasegateway.com")
    assert.equals(0, res.exit_code, res.stderr)
    assert.equals(401, res.status) -- test-env's key, locked-env's host
    res = gw:invoke("hello", "{}", { base = gw.tls_url, args = { "--cacert", gw.ca_file } })
    assert.equals(200, res.status)
    local text = gateway.run("openssl x509 -noout -ext subjectAltName -in "
      .. gateway.quote(gw.run_dir .. "/server.pem"))
    for _, name in ipairs({ "DNS:localhost", "IP Address:127.0.0.1",
                            "DNS:test-env.api.tcloudbasegateway.com",
                            "DNS:test-env.api.intl.tcloudbasegateway.com",
                            "DNS:nokeys-env.api.intl.tcloudbasegateway.com" }) do
      assert.is_truthy(text:find(name, 1, true), name)
    end
  end)

  it("is not trusted without the run's CA", function()
    local res = gw:invoke("hello", "{}", { base = gw.tls_url })
    assert.equals(60, res.exit_code) -- curl: peer certificate cannot be authenticated
  end)

  it("speaks cleartext HTTP/2 with prior knowledge on the h2c port", function()
    local res = gw:invoke("echo", '{"h2c":1}', { base = gw.h2c_url,
      args = { "--http2-prior-knowledge" } })
    assert.equals(200, res.status)
    assert.equals("2", res.http_version)
    assert.equals('{"h2c":1}', res.body)
    assert.is_string(res.headers["x-request-id"])
  end)

  it("runs 250 slow requests concurrently", function()
    gw:reset()
    local t0 = socket.gettime()
    local out = gateway.run("curl -sS --parallel --parallel-immediate --parallel-max 250 "
      .. "-H 'Authorization: Bearer test-api-key' -d '{\"ms\":800}' -o /dev/null "
      .. "-w '%{http_code}\\n' " .. gateway.quote(gw.url .. "/v1/functions/sleep?n=[1-250]")
      .. " 2>/dev/null")
    local elapsed = socket.gettime() - t0
    local ok = select(2, out:gsub("200\n", ""))
    assert.equals(250, ok)
    assert.is_true(elapsed < 4, "took " .. elapsed .. " s")
    local log = gw:invocations()
    assert.equals(250, log.counts.sleep)
    assert.is_true(log.max_in_flight.sleep >= 200, "max in flight " .. log.max_in_flight.sleep)
    assert.equals(0, log.in_flight.sleep)
  end)

  it("serves thousands of requests on one keep-alive connection", function()
    local out = gateway.run("curl -sS -H 'Authorization: Bearer test-api-key' -d '{}' "
      .. "-o /dev/null -w '%{http_code} %{num_connects}\\n' "
      .. gateway.quote(gw.url .. "/v1/functions/hello?n=[1-2000]"))
    local count, connects = tally(out)
    assert.equals(2000, count)
    assert.equals(1, connects)
  end)

  it("multiplexes many slow requests on one TLS h2 connection", function()
    gw:reset()
    local t0 = socket.gettime()
    local out = gateway.run("curl -sS --parallel --parallel-max 150 --cacert "
      .. gateway.quote(gw.ca_file) .. " -H 'Authorization: Bearer test-api-key' "
      .. "-d '{\"ms\":500}' -o /dev/null -w '%{http_code} %{num_connects} %{http_version}\\n' "
      .. gateway.quote(gw.tls_url .. "/v1/functions/sleep?n=[1-150]") .. " 2>/dev/null")
    local elapsed = socket.gettime() - t0
    local count, connects = tally(out, "2")
    assert.equals(150, count)
    -- curl opens a few connections before it learns it can multiplex.
    assert.is_true(connects < 100, connects .. " connections for 150 requests")
    assert.is_true(elapsed < 3, "took " .. elapsed .. " s")
    assert.is_true(gw:invocations().max_in_flight.sleep >= 100)
  end)

  it("serves many requests on one TLS h2 connection", function()
    local out = gateway.run("curl -sS --cacert " .. gateway.quote(gw.ca_file)
      .. " -H 'Authorization: Bearer test-api-key' -d '{}' "
      .. "-o /dev/null -w '%{http_code} %{num_connects} %{http_version}\\n' "
      .. gateway.quote(gw.tls_url .. "/v1/functions/hello?n=[1-500]"))
    local count, connects = tally(out, "2")
    assert.equals(500, count)
    assert.equals(1, connects)
  end)

  -- One connection per curl process: curl/libcurl 7.88 (Debian 12) cannot
  -- reuse an h2c prior-knowledge connection (curl issue #10634, fixed in 8.0).
  it("runs concurrent h2c requests", function()
    gw:reset()
    local cmd = "for i in $(seq 40); do curl -sS --http2-prior-knowledge "
      .. "-H 'Authorization: Bearer test-api-key' -d '{\"ms\":400}' -o /dev/null "
      .. "-w '%{http_code} %{http_version}\\n' "
      .. gateway.quote(gw.h2c_url .. "/v1/functions/sleep") .. " & done; wait"
    local out = gateway.run(cmd)
    local count = 0
    for code, v in out:gmatch("(%d+) (%S+)\n") do
      assert.equals("200", code)
      assert.equals("2", v)
      count = count + 1
    end
    assert.equals(40, count)
    local log = gw:invocations()
    assert.equals(40, log.counts.sleep)
    assert.is_true(log.max_in_flight.sleep >= 20, "max in flight " .. log.max_in_flight.sleep)
  end)
end)
