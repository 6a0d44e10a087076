-- The error objects: fields and tostring, the gateway's codes passed through verbatim,
-- and the local codes (network, timeout, sizes, bad responses), end to end against the
-- local gateway (gateway/test/config.json) and hostile loopback servers.
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local has = assertions.has
local assert_error = assertions.assert_error
local raised = assertions.raised
local socket = require "socket"

local SECRET = "SeCrEt-T0ken-7f3a9c1e-do-not-leak"
local UUID = assertions.UUID

describe("cloudbase.functions", function()
  local gw = gateway.for_describe({ client = "once" })
  local trap = gateway.trap

  describe("errors", function()
    it("have code, message, status, request_id and a readable tostring", function()
      local c = gw:new({ token = "test-anon-token" })
      local _, err = c:try_invoke("admin_only", {})
      assert_error(err, "EXCEED_AUTHORITY")
      assert.equals(403, err.status)
      assert.matches(UUID, err.request_id)
      assert.is_true(#err.message > 0)
      assert.equals(string.format("EXCEED_AUTHORITY: %s (status 403, request_id %s)", err.message,
        err.request_id), tostring(err))
      c:close()
    end)

    it("invoke raises the error object; try_invoke returns nil, err", function()
      local err = raised(gw.client.invoke, gw.client, "no-such-fn", {})
      assert_error(err, "FUNCTION_NOT_FOUND")
      local r, err2 = gw.client:try_invoke("no-such-fn", {})
      assert.is_nil(r)
      assert_error(err2, "FUNCTION_NOT_FOUND")
      assert.equals(404, err2.status)
    end)

    it("tostring of a local error has no status part", function()
      local _, err = gw.client:try_invoke("1bad")
      assert.equals("INVALID_ARGUMENT: " .. err.message, tostring(err))
    end)

    describe("from the gateway, verbatim", function()
      local cases = {
        { "FUNCTION_NOT_FOUND", 404, {}, "missing-fn" },
        { "EXCEED_AUTHORITY", 403, { token = "test-anon-token" }, "admin_only" },
        { "EXCEED_AUTHORITY", 403, { token = "test-user-token" }, "admin_only" },
        { "EXCEED_AUTHORITY", 403, { token = "test-publishable-key" }, "members_only" },
        { "ACCESS_TOKEN_EXPIRED", 401, { token = "test-expired-token" }, "echo" },
        { "MISSING_CREDENTIALS", 401, { token = false }, "echo" },
        { "INVALID_CREDENTIALS", 401, { token = "no-such-token" }, "echo" },
        { "FUNCTION_INVOCATION_FAILED", 500, {}, "throws", "boom" },
        { "FUNCTION_TIME_LIMIT_EXCEEDED", 504, {}, "too_slow" },
      }
      for _, case in ipairs(cases) do
        local code, status, opts, name, fragment = case[1], case[2], case[3], case[4], case[5]
        it(code .. " (" .. name .. ", " .. tostring(opts.token or "api key") .. ")", function()
          if opts.token == false then
            opts = { token = function() return nil end }
          end
          local c = gw:new(opts)
          gw:reset()
          local _, err = c:try_invoke(name, {})
          assert_error(err, code, fragment)
          assert.equals(status, err.status)
          assert.matches(UUID, err.request_id)
          assert.is_nil(err.body) -- a structured gateway error carries no raw body
          local entries = gw:invocations().entries
          if #entries > 0 then -- the function ran: the same id the gateway logged
            assert.equals(entries[#entries].request_id, err.request_id)
          end
          c:close()
        end)
      end

      it("the member rule lets a signed-in user through", function()
        local c = gw:new({ token = "test-user-token" })
        assert.same({ ok = true }, c:invoke("members_only"))
        c:close()
      end)

      it("a code-less error body falls back to the X-Request-Id header", function()
        gw:reset()
        local _, err = gw.client:try_invoke("fault_status", { status = 418, content_type = "application/json",
          body = '{"code":"TEAPOT","message":"short and stout"}' })
        assert_error(err, "TEAPOT", "short and stout")
        assert.equals(418, err.status)
        assert.equals(gw:invocations().entries[1].request_id, err.request_id)
      end)

      it("a Host header is the client's own: refused before any I/O", function()
        local _, err = gw.client:try_invoke("echo", {}, { headers = { Host = "nowhere.example.com" } })
        assert_error(err, "INVALID_ARGUMENT", "Host")
        assert.is_nil(err.status)
      end)

      it("INVALID_HOST for a resolve'd unknown host", function()
        local host = "unknown-env.example.com"
        local c = gw:new(gw:at(host))
        local _, err = c:try_invoke("echo", {})
        assert_error(err, "INVALID_HOST", host)
        c:close()
      end)

      it("ACTION_FORBIDDEN on locked-env for an anonymous credential", function()
        local host = "locked-env.api.tcloudbasegateway.com"
        local opts = gw:at(host)
        opts.token = "locked-user-token"
        local ok = gw:new(opts)
        assert.equals("user-9", ok:invoke("inspect").identity.uid) -- really routed to locked-env
        ok:close()
        for _, token in ipairs({ "locked-anon-token", "locked-publishable-key", "locked-phone-token" }) do
          opts.token = token
          local c = gw:new(opts)
          local _, err = c:try_invoke("inspect", {})
          assert_error(err, "ACTION_FORBIDDEN")
          assert.equals(403, err.status)
          c:close()
        end
      end)
    end)

    describe("local", function()
      it("NETWORK_ERROR when the connection is refused", function()
        local c = gw:new({ base_url = gateway.closed_url() })
        local _, err = c:try_invoke("echo", {})
        assert_error(err, "NETWORK_ERROR")
        assert.is_nil(err.status)
        c:close()
      end)

      it("NETWORK_ERROR when the connection drops mid-body, run once", function()
        gw:reset()
        local _, err = gw.client:try_invoke("fault_drop", {})
        assert_error(err, "NETWORK_ERROR")
        assert.equals(1, gw:count("fault_drop"))
      end)

      it("NETWORK_ERROR when the host does not resolve", function()
        local c = gw:new({ base_url = "http://no-such-host.invalid" })
        local _, err = c:try_invoke("echo", {})
        assert_error(err, "NETWORK_ERROR", "no-such-host.invalid")
        c:close()
      end)

      it("TIMEOUT past timeout, run once", function()
        gw:reset()
        local t0 = socket.gettime()
        local _, err = gw.client:try_invoke("fault_slow", { ms = 3000 }, { timeout = 0.3 })
        local took = socket.gettime() - t0
        assert_error(err, "TIMEOUT")
        assert.is_true(took >= 0.25 and took < 2, "took " .. took)
        assert.equals(1, gw:count("fault_slow"))
      end)

      it("TIMEOUT past the client's timeout", function()
        local c = gw:new({ timeout = 0.3 })
        local _, err = c:try_invoke("fault_slow", { ms = 3000 })
        assert_error(err, "TIMEOUT")
        -- a per-call timeout longer than the client's wins
        local r = c:invoke("fault_slow", { ms = 400 }, { timeout = 3 })
        assert.same({ slept = 400 }, r)
        c:close()
      end)

      it("TIMEOUT past connect_timeout (a listener whose accept queue is full)", function()
        local srv = assert(socket.tcp())
        assert(srv:bind("127.0.0.1", 0))
        assert(srv:listen(0))
        local _, port = srv:getsockname()
        local fillers = {}
        for i = 1, 3 do -- the kernel queues backlog + 1; later SYNs are dropped
          fillers[i] = socket.tcp()
          fillers[i]:settimeout(0.05)
          fillers[i]:connect("127.0.0.1", port)
        end
        local c = gw:new({ base_url = "http://127.0.0.1:" .. port, connect_timeout = 0.3, timeout = 5 })
        local t0 = socket.gettime()
        local _, err = c:try_invoke("echo", {})
        local took = socket.gettime() - t0
        c:close()
        for _, f in ipairs(fillers) do
          f:close()
        end
        srv:close()
        assert_error(err, "TIMEOUT")
        assert.is_true(took >= 0.25 and took < 2, "took " .. took)
      end)

      it("RESPONSE_TOO_LARGE past max_response_size", function()
        local c = gw:new({ max_response_size = 10000 })
        assert.equals(10000 - #'{"data":""}', #c:invoke("fault_huge", { bytes = 10000 }).data)
        local _, err = c:try_invoke("fault_huge", { bytes = 10001 })
        assert_error(err, "RESPONSE_TOO_LARGE", "10000")
        _, err = c:try_invoke("fault_huge", { bytes = 200000 })
        assert_error(err, "RESPONSE_TOO_LARGE")
        c:close()
      end)

      it("RESPONSE_TOO_LARGE counts the gzip-decoded size", function()
        local limit = 20000
        local raw = gw:invoke("fault_gzip", {}, { headers = { "Content-Type: application/json",
                                                             "Accept-Encoding: gzip" } })
        assert.equals("gzip", raw.headers["content-encoding"])
        assert.is_true(#raw.body < limit, "the compressed body alone must fit")
        local c = gw:new({ max_response_size = limit })
        local _, err = c:try_invoke("fault_gzip", {})
        assert_error(err, "RESPONSE_TOO_LARGE")
        c:close()
      end)

      it("INVALID_RESPONSE for a malformed JSON body", function()
        local _, err = gw.client:try_invoke("fault_malformed", {})
        assert_error(err, "INVALID_RESPONSE")
        assert.equals(200, err.status)
        assert.equals('{"truncated": [1, 2, ', err.body)
        assert.matches(UUID, err.request_id)
      end)

      it("HTTP_ERROR for a proxy's HTML 502, with the body, run once", function()
        gw:reset()
        local _, err = gw.client:try_invoke("fault_html502", {})
        assert_error(err, "HTTP_ERROR", "502")
        assert.equals(502, err.status)
        assert.is_true(has(err.body, "<h1>502 Bad Gateway</h1>"), err.body)
        assert.equals(1, gw:count("fault_html502"))
        assert.equals(gw:invocations().entries[1].request_id, err.request_id)
      end)

      it("HTTP_ERROR for an empty 503, run once", function()
        gw:reset()
        local _, err = gw.client:try_invoke("fault_empty503", {})
        assert_error(err, "HTTP_ERROR", "503")
        assert.equals(503, err.status)
        assert.equals("", err.body)
        assert.equals(1, gw:count("fault_empty503"))
      end)

      it("HTTP_ERROR for a JSON error body without a code", function()
        local _, err = gw.client:try_invoke("fault_status", { status = 500, content_type = "application/json",
          body = '{"message":"no code"}' })
        assert_error(err, "HTTP_ERROR")
        assert.equals(500, err.status)
        assert.equals('{"message":"no code"}', err.body)
      end)

      it("never follows redirects and never repeats the call", function()
        gw:reset()
        local _, err = gw.client:try_invoke("fault_redirect", {})
        assert_error(err, "HTTP_ERROR")
        assert.equals(302, err.status)
        assert.equals("Found\n", err.body)
        assert.equals(1, gw:count("fault_redirect"))
      end)

      it("never retries a failed call", function()
        gw:reset()
        gw.client:try_invoke("throws", {})
        gw.client:try_invoke("too_slow", {})
        local counts = gw:invocations().counts
        assert.equals(1, counts.throws)
        assert.equals(1, counts.too_slow)
      end)

      describe("TOKEN_ERROR", function()
        local function token_error(token, fragment)
          local c = gw:new({ token = token })
          local before = gw:count("echo")
          local _, err = c:try_invoke("echo", {})
          assert_error(err, "TOKEN_ERROR", fragment)
          assert.equals(before, gw:count("echo"))
          c:close()
          return err
        end

        it("when the token function raises", function()
          token_error(function() error("vault unreachable", 0) end, "vault unreachable")
          token_error(function() error({}) end, "a table with no message")
          token_error(function()
            error(setmetatable({}, { __tostring = function() return "custom reason" end }))
          end, "custom reason")
          local closed = gw:new()
          closed:close()
          token_error(function() return closed:invoke("echo") end, "INVALID_ARGUMENT: the client is closed")
        end)

        it("when it returns a non-string", function()
          token_error(function() return 42 end)
          token_error(function() return {} end)
          token_error(function() return true end)
        end)

        it("when the token holds CR or LF", function()
          local err = token_error("tok\r\nX-Evil: 1")
          assert.is_false(has(err.message, "X-Evil"))
          token_error(function() return "a\nb" end)
        end)
      end)
    end)

    it("never show the token", function()
      local t = trap()
      local clients = {
        gw:new({ token = SECRET }),
        gw:new({ token = function() return SECRET end }),
        gw:new({ token = SECRET, base_url = gateway.closed_url() }),
        gw:new({ token = SECRET, base_url = "http://no-such-host.invalid" }),
        gw:new({ token = SECRET, base_url = t.url, timeout = 0.2 }),
        gw:new({ token = SECRET, max_request_size = 10 }),
        gw:new({ token = SECRET .. "\r\n" }),
      }
      local calls = {
        { "echo", {} }, { "echo", { f = print } }, { "1bad", {} }, { "echo", {}, { colour = 1 } },
        { "echo", {}, { headers = { Authorization = "Bearer " .. SECRET } } },
        { "echo", { big = string.rep("x", 20) } },
      }
      local seen = 0
      for _, c in ipairs(clients) do
        assert.is_false(has(tostring(c), SECRET))
        for _, call in ipairs(calls) do
          local _, err = c:try_invoke(call[1], call[2], call[3])
          if err then
            seen = seen + 1
            assert.is_true(functions.is_error(err))
            for _, s in ipairs({ tostring(err), err.message, err.body or "" }) do
              assert.is_false(has(s, SECRET), "token leaked: " .. s)
            end
          end
        end
        c:close()
      end
      t.close()
      assert.equals(#clients * #calls, seen)
    end)
  end)

end)
