-- Connections made ahead and kept (client:connect, the preconnect and max_idle options)
-- and connections shared across clients (functions.pool), against the real gateway
-- (TLS, HTTP/2 and HTTP/1.1) and the hostile server; the gateway's invocation log says
-- which connection carried each call (`connection`, `connection_requests`).
local gateway = require "spec.support.gateway"
local hostile = require "spec.support.hostile"
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local socket = require "socket"
local assert_error = assertions.assert_error
local raised = assertions.raised

local API_KEY = gateway.API_KEY
local USER_TOKEN = "test-user-token"
local HOST = "test-env.api.tcloudbasegateway.com"

local function sleep(seconds)
  socket.sleep(seconds)
end

local refused_url = gateway.closed_url

describe("connections", function()
  -- timeout: a first TLS handshake under valgrind takes seconds
  local gw = gateway.for_describe({ tls = true, reset = true, client_defaults = function(g)
    return { base_url = g.url, token = API_KEY, timeout = 30 }
  end })

  -- A client of the TLS listener by its real host name, or of the cleartext one.
  local function new_tls(opts)
    return gw:new(gw:at(HOST, "https"), opts)
  end

  local function new_plain(opts)
    return gw:new(opts)
  end

  -- Two TLS clients with different credentials on a new pool.
  local function two_on_a_pool()
    local pool = functions.pool()
    return pool, new_tls({ pool = pool }), new_tls({ pool = pool, token = USER_TOKEN })
  end

  -- Every call of an invoke_all list succeeded on a connection already open.
  local function all_reused(outcomes)
    for _, o in ipairs(outcomes) do
      assert.is_true(o.ok, tostring(o.error))
      assert.equals(0, o.info.timings.connect)
    end
  end

  -- The invocation log's entries, oldest first.
  local function entries()
    return gw:invocations().entries
  end

  describe("client:connect", function()
    it("opens and handshakes one HTTP/2 connection that the first call uses", function()
      local c = new_tls()
      assert.equals(1, c:connect())
      local _, info = c:invoke("echo", { n = 1 })
      assert.equals(0, info.timings.connect)
      assert.equals(0, info.timings.tls)
      local e = entries()
      assert.equals(1, #e)
      assert.equals(2, e[1].connection_requests) -- the warm-up, then the call
      c:close()
    end)

    it("opens one connection over HTTP/2 whatever n asks: calls multiplex on it", function()
      local c = new_tls()
      assert.equals(1, c:connect(4))
      local outcomes = c:invoke_all({ { "echo", { n = 1 } }, { "echo", { n = 2 } }, { "echo", { n = 3 } } })
      all_reused(outcomes)
      local e = entries()
      assert.equals(3, #e)
      assert.equals(e[1].connection, e[2].connection)
      assert.equals(e[1].connection, e[3].connection)
      c:close()
    end)

    it("opens n HTTP/1.1 connections, one per concurrent call, all reused", function()
      for _, opts in ipairs({ { http2 = false }, {} }) do -- TLS h1, then cleartext
        gw:reset()
        local c = opts.http2 == false and new_tls(opts) or new_plain()
        assert.equals(3, c:connect(3))
        local outcomes = c:invoke_all({ { "sleep", { ms = 200 } }, { "sleep", { ms = 200 } },
          { "sleep", { ms = 200 } } }, { concurrency = 3 })
        all_reused(outcomes)
        local seen = {}
        for _, e in ipairs(entries()) do
          assert.equals(2, e.connection_requests)
          seen[e.connection] = true
        end
        local n = 0
        for _ in pairs(seen) do
          n = n + 1
        end
        assert.equals(3, n)
        c:close()
      end
    end)

    it("sends no credential and runs no function", function()
      local token_calls = 0
      local c = new_plain({ token = function()
        token_calls = token_calls + 1
        return API_KEY
      end })
      assert.equals(1, c:connect())
      assert.equals(0, token_calls)
      assert.same({}, entries())
      c:close()
    end)

    it("keeps connections ready across calls: connect again costs no new connection", function()
      local c = new_plain({ http2 = false })
      assert.equals(2, c:connect(2))
      c:invoke("echo", {})
      local _, info = c:invoke("echo", {})
      assert.equals(0, info.timings.connect)
      c:close()
    end)

    it("moves started calls along while it waits, and leaves them to poll", function()
      local c = new_plain({ http2 = false })
      local call = c:start("sleep", { ms = 300 })
      assert.equals(2, c:connect(2))
      local ok, r = pcall(call.result, call)
      assert.is_true(ok, tostring(r))
      assert.same({ slept = 300 }, r)
      c:close()
    end)

    it("returns nil and NETWORK_ERROR when nothing listens", function()
      local c = functions.new({ base_url = refused_url(), timeout = 2 })
      local n, err = c:connect(2)
      assert.is_nil(n)
      assert_error(err, "NETWORK_ERROR")
      c:close()
    end)

    it("returns nil and TLS_ERROR when the certificate does not verify", function()
      local c = new_tls({ ca_file = "/dev/null" })
      local n, err = c:connect()
      assert.is_nil(n)
      assert_error(err, "TLS_ERROR")
      c:close()
    end)

    it("returns nil and TIMEOUT when the server never answers", function()
      local mute = assert(socket.bind("127.0.0.1", 0)) -- accepts (backlog), never reads
      local _, port = mute:getsockname()
      local c = functions.new({ base_url = "http://127.0.0.1:" .. port, timeout = 0.3 })
      local n, err = c:connect()
      mute:close()
      assert.is_nil(n)
      assert_error(err, "TIMEOUT")
      c:close()
    end)

    it("counts no connection the server closes after answering", function()
      local server = hostile.start({ max_seconds = 60 })
      local c = functions.new({ base_url = server.url .. "/v1/functions/closing", timeout = 2 })
      local ok, n = pcall(c.connect, c, 2)
      c:close()
      local heads = 0
      for _, r in ipairs(server:requests()) do
        heads = heads + (r.line:match("^HEAD ") and 1 or 0)
      end
      server:stop()
      assert.is_true(ok, tostring(n))
      assert.equals(0, n)
      assert.equals(1, heads) -- HTTP/1.1 and nothing kept: no point opening more
    end)

    it("refuses a bad n, a closed client, and does nothing for a Lua transport", function()
      local c = new_plain()
      for _, bad in ipairs({ 0, -1, 1.5, 1025, "2", true }) do
        assert_error(raised(c.connect, c, bad), "INVALID_ARGUMENT", "connect(n)")
      end
      c:close()
      assert_error(raised(c.connect, c), "INVALID_ARGUMENT", "closed")
      local called = false
      local t = functions.new({ base_url = gw.url, transport = function()
        called = true
      end })
      assert.equals(0, t:connect(3))
      assert.is_false(called)
      t:close()
    end)
  end)

  describe("the preconnect option", function()
    it("connects while new runs and returns the count after the client", function()
      local c, n = new_plain({ http2 = false, preconnect = 2 })
      assert.equals(2, n)
      local outcomes = c:invoke_all({ { "sleep", { ms = 100 } }, { "sleep", { ms = 100 } } })
      all_reused(outcomes)
      c:close()
    end)

    it("never fails new: the client comes back with nil and the error", function()
      local c, n, err = functions.new({ base_url = refused_url(), preconnect = 1, timeout = 2 })
      assert.is_not_nil(c)
      assert.is_nil(n)
      assert_error(err, "NETWORK_ERROR")
      local _, call_err = c:try_invoke("echo", {})
      assert_error(call_err, "NETWORK_ERROR")
      c:close()
    end)

    it("refuses values that are not a count", function()
      for _, bad in ipairs({ 0, 1.5, "1", true, 1025 }) do
        assert_error(raised(functions.new, { base_url = gw.url, preconnect = bad }), "INVALID_ARGUMENT",
          "preconnect")
      end
    end)
  end)

  describe("max_idle", function()
    it("is not reached: a connection idle for less is reused", function()
      local c = new_plain({ max_idle = 10 })
      c:invoke("echo", {})
      sleep(1.2)
      local _, info = c:invoke("echo", {})
      assert.equals(0, info.timings.connect)
      local e = entries()
      assert.equals(e[1].connection, e[2].connection)
      c:close()
    end)

    it("retires a connection idle that long, before the server does", function()
      local c = new_plain({ max_idle = 1 }) -- the gateway keeps it 75 s
      c:invoke("echo", {})
      sleep(1.2)
      local _, info = c:invoke("echo", {})
      assert.is_true(info.timings.connect > 0)
      local e = entries()
      assert.are_not.equal(e[1].connection, e[2].connection)
      assert.equals(1, e[2].connection_requests)
      c:close()
    end)

    it("keeps calls off a connection the server closes as the request arrives", function()
      -- The hostile server drops a request that arrives on a connection idle for 1 s
      -- (its idle timeout crossing the request). Past it, the call fails (the module
      -- never sends a call twice); with max_idle at the server's timeout, it never
      -- lands there.
      local server = hostile.start({ max_seconds = 60 })
      local late = functions.new({ base_url = server.url, max_idle = 10, timeout = 2 })
      late:invoke("idledrop", {})
      sleep(1.2)
      local _, err = late:try_invoke("idledrop", {})
      late:close()
      local safe = functions.new({ base_url = server.url, max_idle = 1, timeout = 2 })
      safe:invoke("idledrop", {})
      sleep(1.2)
      local ok, r = pcall(safe.invoke, safe, "idledrop", {})
      safe:close()
      server:stop()
      assert_error(err, "NETWORK_ERROR")
      assert.is_true(ok, tostring(r))
      assert.same({ ok = true }, r)
    end)

    it("gets a fresh connection after the server closed an idle one", function()
      local short = gateway.start({ keepalive_timeout = 1 })
      local c = short:new()
      c:invoke("echo", {})
      sleep(1.5)
      local r, info = c:invoke("echo", { again = true })
      short:stop()
      assert.same({ again = true }, r)
      assert.is_true(info.timings.connect > 0)
      c:close()
    end)

    it("refuses values that are not whole seconds", function()
      for _, bad in ipairs({ 0, -5, 0.5, "60", true, 86401 }) do
        assert_error(raised(functions.new, { base_url = gw.url, max_idle = bad }), "INVALID_ARGUMENT",
          "max_idle")
      end
    end)
  end)

  describe("functions.pool", function()
    it("lets a client with another credential call on the first one's connection", function()
      local _, a, b = two_on_a_pool()
      local ra, ia = a:invoke("inspect", {})
      local rb, ib = b:invoke("inspect", {})
      assert.is_true(ia.timings.tls > 0)
      assert.equals(0, ib.timings.connect)
      assert.equals(0, ib.timings.tls)
      assert.equals("api_key", ra.identity.type) -- each call carries its own credential
      assert.are_not.equal("api_key", rb.identity.type)
      local e = entries()
      assert.equals(e[1].connection, e[2].connection)
      a:close()
      b:close()
    end)

    it("serves client:connect for every client of the pool", function()
      local pool = functions.pool()
      local a = new_plain({ pool = pool, http2 = false })
      assert.equals(2, a:connect(2))
      local b = new_plain({ pool = pool, token = USER_TOKEN, http2 = false })
      local outcomes = b:invoke_all({ { "sleep", { ms = 100 } }, { "sleep", { ms = 100 } } })
      all_reused(outcomes)
      a:close()
      b:close()
    end)

    it("outlives a closed client: the others keep working on its connections", function()
      local pool, a, b = two_on_a_pool()
      a:invoke("echo", {})
      a:close()
      local r, info = b:invoke("echo", { still = true })
      assert.same({ still = true }, r)
      assert.equals(0, info.timings.connect)
      b:close()
      local c = new_tls({ pool = pool }) -- every client closed: the pool still holds it
      local _, ic = c:invoke("echo", {})
      assert.equals(0, ic.timings.connect)
      c:close()
    end)

    it("runs started calls of several clients together", function()
      local _, a, b = two_on_a_pool()
      local calls = { a:start("echo", { n = 1 }), b:start("echo", { n = 2 }), a:start("echo", { n = 3 }) }
      local deadline = os.time() + 10
      local pending
      repeat
        a:poll(0.05)
        b:poll(0.05)
        pending = 0
        for _, call in ipairs(calls) do
          pending = pending + (call:done() and 0 or 1)
        end
      until pending == 0 or os.time() > deadline
      for i, call in ipairs(calls) do
        local ok, r = pcall(call.result, call)
        assert.is_true(ok, tostring(r))
        assert.same({ n = i }, r)
      end
      a:close()
      b:close()
    end)

    it("is kept alive by its clients and freed after them, in any collection order", function()
      local function client_on_fresh_pool()
        return new_plain({ pool = functions.pool() })
      end
      local c = client_on_fresh_pool() -- nothing else refers to the pool
      collectgarbage()
      collectgarbage()
      assert.same({ alive = 1 }, c:invoke("echo", { alive = 1 }))
      c = nil -- luacheck: ignore 311
      collectgarbage()
      collectgarbage()
      -- pool and clients unreachable together, clients closed or not
      for _ = 1, 3 do
        local pool = functions.pool()
        local x, y = new_plain({ pool = pool }), new_plain({ pool = pool })
        x:invoke("echo", {})
        y:close()
        x, y, pool = nil, nil, nil -- luacheck: ignore 311
        collectgarbage()
      end
      collectgarbage()
      local after = new_plain()
      assert.same({ fine = true }, after:invoke("echo", { fine = true }))
      after:close()
    end)

    it("is freed with its clients and live connections when the Lua state closes", function()
      -- A child interpreter ends with pools, clients, kept connections and a started
      -- call still alive.
      local out, ok = gateway.lua_code(table.concat({ "local functions = require 'cloudbase.functions'\n",
        "local url = ... \n",
        "local p1, p2 = functions.pool(), functions.pool()\n",
        "a = functions.new{ base_url = url, token = 'test-api-key', pool = p1 }\n",
        "local b = functions.new{ base_url = url, token = 'test-user-token', pool = p2, preconnect = 2 }\n",
        "local c = functions.new{ base_url = url, token = 'test-user-token', pool = p1 }\n",
        "a:invoke('echo', {}) c:invoke('echo', {}) b:invoke('echo', {})\n",
        "keep = { c, b:start('sleep', { ms = 2000 }) }\n",
        "c:close()\n",
        "print('ok')\n" }), { gw.url })
      assert.is_true(ok, out)
      assert.equals("ok", (out:gsub("%s+$", "")))
    end)

    it("refuses arguments and values that are not a pool", function()
      assert_error(raised(functions.pool, {}), "INVALID_ARGUMENT", "no arguments")
      for _, bad in ipairs({ true, {}, "pool", functions.new({ base_url = gw.url }) }) do
        assert_error(raised(functions.new, { base_url = gw.url, pool = bad }), "INVALID_ARGUMENT",
          "functions.pool()")
      end
      assert.matches("^cloudbase.functions pool: ", tostring(functions.pool()))
    end)
  end)
end)
