-- https against the gateway's TLS listener: verification with the run's throw-away CA
-- (ca_file, ca_path), the real host name via resolve, HTTP/2 over ALPN, TLS_ERROR.
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local has = assertions.has
local assert_error = assertions.assert_error

local API_KEY = gateway.API_KEY
local SECRET = "SeCrEt-T0ken-tls-0b7e"
local HOST = "test-env.api.tcloudbasegateway.com"
local NONE = gateway.NONE -- drops a default option in gw:new()

describe("TLS", function()
  -- https to the gateway's TLS listener under the real host name, trusting the run's CA.
  local gw = gateway.for_describe({ tls = true, client_defaults = function(gw)
    local o = gw:at(HOST, "https")
    o.token, o.timeout = API_KEY, 5
    return o
  end })

  it("verifies the gateway with ca_file and speaks HTTP/2", function()
    local c = gw:new()
    local r, info = c:invoke("inspect", { tls = true })
    assert.same({ tls = true }, r.event)
    assert.equals(HOST .. ":" .. gw.tls_port, r.headers.host)
    assert.equals("api_key", r.identity.type)
    assert.equals(200, info.status)
    assert.is_true(info.timings.tls > 0)
    assert.is_true(info.timings.tls >= info.timings.connect)
    assert.is_nil(info.headers.connection) -- HTTP/2: no Connection header
    c:close()
  end)

  it("reuses the TLS connection: no second handshake", function()
    local c = gw:new()
    local _, first = c:invoke("echo", {})
    local _, second = c:invoke("echo", {})
    assert.is_true(first.timings.tls > 0)
    assert.equals(0, second.timings.tls)
    assert.equals(0, second.timings.connect)
    c:close()
  end)

  it("verifies with ca_path (a hashed certificate directory)", function()
    local dir = gateway.tmpdir()
    local hash = gateway.run("openssl x509 -hash -noout -in " .. gateway.quote(gw.ca_file)):gsub("%s", "")
    assert.matches("^%x+$", hash)
    gateway.run("cp " .. gateway.quote(gw.ca_file) .. " " .. gateway.quote(dir .. "/" .. hash .. ".0"))
    local c = gw:new({ ca_file = NONE, ca_path = dir })
    local ok, r = pcall(c.invoke, c, "echo", { via = "ca_path" })
    c:close()
    gateway.run("rm -rf " .. gateway.quote(dir))
    assert.is_true(ok, tostring(r))
    assert.same({ via = "ca_path" }, r)
  end)

  it("accepts the IP address the certificate names", function()
    local c = gw:new({ base_url = gw.tls_url, resolve = NONE })
    assert.same({ ip = 1 }, c:invoke("echo", { ip = 1 }))
    c:close()
  end)

  it("keeps using one h2 connection with http2 = 'prior-knowledge' over https", function()
    local c = gw:new({ http2 = "prior-knowledge" })
    local _, first = c:invoke("echo", {})
    local r, second = c:invoke("echo", { n = 2 })
    assert.same({ n = 2 }, r)
    assert.is_nil(first.headers.connection)
    assert.is_nil(second.headers.connection)
    assert.equals(0, second.timings.connect)
    c:close()
  end)

  it("speaks HTTP/1.1 over TLS with http2 = false", function()
    local c = gw:new({ http2 = false })
    local _, info = c:invoke("echo", {})
    assert.equals("keep-alive", info.headers.connection)
    c:close()
  end)

  describe("TLS_ERROR", function()
    local function tls_error(opts, fragment)
      gw:reset()
      local c = gw:new(opts)
      local _, err = c:try_invoke("echo", {})
      c:close()
      assert_error(err, "TLS_ERROR", fragment)
      assert.is_nil(err.status)
      assert.is_nil(next(gw:invocations().counts)) -- nothing reached a function
      for _, s in ipairs({ tostring(err), err.message }) do
        assert.is_false(has(s, SECRET))
      end
      return err
    end

    it("without ca_file: the throw-away CA is not trusted", function()
      tls_error({ ca_file = NONE, token = SECRET })
    end)

    it("on a host name the certificate does not name", function()
      local other = "wrong-name.example.com"
      local opts = gw:at(other, "https")
      opts.token = SECRET
      tls_error(opts, other)
    end)

    it("when ca_file does not exist", function()
      tls_error({ ca_file = "/nonexistent/ca.pem", token = SECRET })
    end)

    it("when https meets a plain HTTP port", function()
      tls_error({ base_url = "https://127.0.0.1:" .. gw.port, resolve = NONE, token = SECRET })
    end)
  end)

  it("plain http to the TLS port is an HTTP_ERROR from nginx", function()
    local c = gw:new({ base_url = "http://127.0.0.1:" .. gw.tls_port, resolve = NONE })
    local _, err = c:try_invoke("echo", {})
    assert_error(err, "HTTP_ERROR")
    assert.equals(400, err.status)
    assert.is_true(has(err.body, "HTTPS port"), err.body)
    c:close()
  end)

  it("sends plain http through the proxy option", function()
    -- nginx serves an absolute-form request by the Host it names: the locked env.
    local locked = "locked-env.api.tcloudbasegateway.com"
    local c = functions.new({ base_url = "http://" .. locked, proxy = gw.url, token = "locked-user-token",
                              timeout = 5 })
    local r = c:invoke("inspect", {})
    assert.equals("user-9", r.identity.uid)
    assert.equals(locked, r.headers.host)
    c:close()
  end)
end)
