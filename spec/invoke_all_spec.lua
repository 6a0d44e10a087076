-- client:invoke_all (issue 4): many calls on the libcurl multi handle, results in
-- call order, a bounded number in flight, per-call options and timeouts, HTTP/2.
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local gateway = require "spec.support.gateway"
local has = assertions.has
local assert_error = assertions.assert_error

local API_KEY = gateway.API_KEY
local TLS_HOST = "test-env.api.tcloudbasegateway.com"

local function repeat_call(n, call)
  local calls = {}
  for i = 1, n do
    calls[i] = call
  end
  return calls
end

local function assert_all_ok(list, n)
  assert.equals(n, #list)
  for i = 1, n do
    assert.is_true(list[i].ok, "call " .. i .. ": " .. tostring(list[i].error))
  end
end

describe("client:invoke_all", function()
  local gw = gateway.for_describe({ tls = true, h2c = true, client = "once" })

  it("returns {} for an empty list, without touching the network", function()
    gw:reset()
    local list = gw.client:invoke_all({})
    assert.same({}, list)
    assert.is_nil(next(list))
    assert.same({}, gw.client:invoke_all({}, { concurrency = 4 }))
    assert.is_nil(next(gw:invocations().counts))
  end)

  it("keeps call order with mixed outcomes; one failure never stops the others", function()
    gw:reset()
    local calls = {
      { "echo", { i = 1 } },                                      -- 1 ok
      { "throws" },                                               -- 2 FUNCTION_INVOCATION_FAILED
      { "1bad", {} },                                             -- 3 INVALID_ARGUMENT (name)
      { "echo", { f = print } },                                  -- 4 ENCODE_ERROR
      { name = "inspect", payload = { i = 5 }, qualifier = "$LATEST",
        headers = { ["X-Call"] = "5" } },                         -- 5 ok, named form
      { "hello" },                                                -- 6 ok, text
      { "missing-fn", {} },                                       -- 7 FUNCTION_NOT_FOUND
      "not a table",                                              -- 8 INVALID_ARGUMENT
      { "sleep", { ms = 50 } },                                   -- 9 ok
      { "echo", { i = 10 }, colour = "red" },                     -- 10 INVALID_ARGUMENT (option)
      { "web", webfn = true, method = "GET", query = { q = "1" } }, -- 11 ok, web function
      { "echo", { 1, 2 } },                                       -- 12 INVALID_ARGUMENT (array)
      { "echo", { s = string.rep("x", 200) } },                   -- 13 ok
      { "fault_html502" },                                        -- 14 HTTP_ERROR
      { "echo", { i = 15 }, headers = { Authorization = "x" } },  -- 15 INVALID_ARGUMENT (header)
      { "nil_result" },                                           -- 16 ok, null
    }
    local list = gw.client:invoke_all(calls, { concurrency = 4 })
    assert.equals(#calls, #list)
    local expect_ok = { [1] = true, [5] = true, [6] = true, [9] = true, [11] = true, [13] = true,
                        [16] = true }
    for i = 1, #calls do
      assert.equals(expect_ok[i] == true, list[i].ok, "call " .. i .. ": " .. tostring(list[i].error))
      if list[i].ok then
        assert.is_nil(list[i].error)
        assert.equals(200, list[i].info.status)
      else
        assert.is_nil(list[i].result)
        assert.is_nil(list[i].info)
      end
    end
    assert.same({ i = 1 }, list[1].result)
    assert_error(list[2].error, "FUNCTION_INVOCATION_FAILED", "boom")
    assert.equals(500, list[2].error.status)
    assert_error(list[3].error, "INVALID_ARGUMENT", "function name")
    assert_error(list[4].error, "ENCODE_ERROR", "payload.f")
    assert.same({ i = 5 }, list[5].result.event)
    assert.equals("5", list[5].result.headers["x-call"])
    assert.equals("$LATEST", list[5].result.headers["x-qualifier"])
    assert.equals(list[5].result.request_id, list[5].info.request_id)
    assert.equals("Hello fn", list[6].result)
    assert_error(list[7].error, "FUNCTION_NOT_FOUND")
    assert_error(list[8].error, "INVALID_ARGUMENT")
    assert.same({ slept = 50 }, list[9].result)
    assert_error(list[10].error, "INVALID_ARGUMENT", "colour")
    assert.equals("GET", list[11].result.method)
    assert.equals("q=1", list[11].result.raw_query)
    assert_error(list[12].error, "INVALID_ARGUMENT", "payload")
    assert.equals(200, #list[13].result.s)
    assert_error(list[14].error, "HTTP_ERROR")
    assert.equals(502, list[14].error.status)
    assert.is_true(has(list[14].error.body, "502 Bad Gateway"))
    assert_error(list[15].error, "INVALID_ARGUMENT", "Authorization")
    assert.equals(functions.null, list[16].result)

    -- each call that passed validation ran exactly once: no retries, no duplicates
    local counts = gw:invocations().counts
    assert.same({ echo = 2, throws = 1, inspect = 1, hello = 1, sleep = 1, web = 1, fault_html502 = 1,
                  nil_result = 1 }, counts)
  end)

  it("gives every call its own request id", function()
    local list = gw.client:invoke_all(repeat_call(6, { "inspect" }), { concurrency = 6 })
    assert_all_ok(list, 6)
    local seen = {}
    for i = 1, 6 do
      local id = list[i].info.request_id
      assert.equals(list[i].result.request_id, id)
      assert.is_nil(seen[id])
      seen[id] = true
    end
  end)

  it("sends each call's own payload, qualifier and headers", function()
    local calls = {}
    for i = 1, 10 do
      calls[i] = { "versioned", {}, qualifier = tostring(i % 2 + 1) }
    end
    for i = 11, 20 do
      calls[i] = { "inspect", { n = i }, headers = { ["X-N"] = tostring(i) } }
    end
    local list = gw.client:invoke_all(calls, { concurrency = 5 })
    assert_all_ok(list, 20)
    for i = 1, 10 do
      assert.equals(tostring(i % 2 + 1), list[i].result.version)
    end
    for i = 11, 20 do
      assert.same({ n = i }, list[i].result.event)
      assert.equals(tostring(i), list[i].result.headers["x-n"])
    end
  end)

  it("keeps at most `concurrency` calls in flight", function()
    gw:reset()
    local list = gw.client:invoke_all(repeat_call(12, { "sleep", { ms = 150 } }), { concurrency = 3 })
    assert_all_ok(list, 12)
    local log = gw:invocations()
    assert.equals(12, log.counts.sleep)
    assert.is_true(log.max_in_flight.sleep <= 3, "max in flight " .. log.max_in_flight.sleep)
    assert.is_true(log.max_in_flight.sleep >= 2, "max in flight " .. log.max_in_flight.sleep)
  end)

  it("runs one at a time with concurrency = 1", function()
    gw:reset()
    local list = gw.client:invoke_all(repeat_call(4, { "sleep", { ms = 30 } }), { concurrency = 1 })
    assert_all_ok(list, 4)
    assert.equals(1, gw:invocations().max_in_flight.sleep)
  end)

  it("defaults to 16 calls in flight", function()
    gw:reset()
    local list = gw.client:invoke_all(repeat_call(24, { "sleep", { ms = 150 } }))
    assert_all_ok(list, 24)
    local max = gw:invocations().max_in_flight.sleep
    assert.is_true(max <= 16 and max > 3, "max in flight " .. max)
  end)

  it("applies per-call timeouts: the slow call fails, the others succeed", function()
    gw:reset()
    local calls = {
      { "sleep", { ms = 300 } },
      { "fault_slow", { ms = 3000 }, timeout = 0.2 },
      { "sleep", { ms = 300 } },
      { "sleep", { ms = 300 }, timeout = 2 },
    }
    local list = gw.client:invoke_all(calls, { concurrency = 4 })
    assert.is_true(list[1].ok, tostring(list[1].error))
    assert.is_false(list[2].ok)
    assert_error(list[2].error, "TIMEOUT")
    assert.is_true(list[3].ok, tostring(list[3].error))
    assert.is_true(list[4].ok, tostring(list[4].error))
    assert.equals(1, gw:invocations().counts.fault_slow) -- not retried
  end)

  it("applies the client's timeout to calls without one", function()
    local c = gw:new({ timeout = 0.2 })
    local list = c:invoke_all({ { "fault_slow", { ms = 3000 } }, { "echo", { a = 1 } },
                                { "fault_slow", { ms = 100 }, timeout = 3 } })
    assert_error(list[1].error, "TIMEOUT")
    assert.same({ a = 1 }, list[2].result)
    assert.same({ slept = 100 }, list[3].result)
    c:close()
  end)

  it("a slow first call does not hold the others back (HTTP/1.1)", function()
    local c = gw:new() -- no idle connections yet
    local list = c:invoke_all({ { "sleep", { ms = 800 } }, { "echo", { a = 1 } }, { "hello" },
                                { "echo", { a = 2 } } }, { concurrency = 4 })
    c:close()
    assert_all_ok(list, 4)
    assert.is_true(list[1].info.elapsed >= 0.7)
    for i = 2, 4 do -- each opened its own connection at once
      assert.is_true(list[i].info.elapsed < 0.4, "call " .. i .. " took " .. list[i].info.elapsed)
      assert.is_true(list[i].info.timings.connect > 0)
    end
  end)

  it("runs 200 calls at concurrency 200", function()
    gw:reset()
    local calls = {}
    for i = 1, 200 do
      calls[i] = { "sleep", { ms = 100, i = i } }
    end
    local list = gw.client:invoke_all(calls, { concurrency = 200 })
    assert_all_ok(list, 200)
    for i = 1, 200 do
      assert.same({ slept = 100 }, list[i].result)
    end
    local log = gw:invocations()
    assert.equals(200, log.counts.sleep)
    assert.is_true(log.max_in_flight.sleep > 16, "max in flight " .. log.max_in_flight.sleep)
  end)

  it("calls the token function once per call", function()
    local n = 0
    local c = gw:new({ token = function()
      n = n + 1
      return n % 2 == 1 and "test-user-token" or "test-anon-token"
    end })
    local list = c:invoke_all(repeat_call(6, { "members_only" }), { concurrency = 3 })
    assert.equals(6, n)
    local ok, denied = 0, 0
    for i = 1, 6 do
      if list[i].ok then
        ok = ok + 1
      else
        assert_error(list[i].error, "EXCEED_AUTHORITY")
        denied = denied + 1
      end
    end
    assert.equals(3, ok)
    assert.equals(3, denied)
    c:close()
  end)

  it("a failing token function fails each call with TOKEN_ERROR", function()
    gw:reset()
    local c = gw:new({ token = function() error("no credential today", 0) end })
    local list = c:invoke_all(repeat_call(3, { "echo" }))
    for i = 1, 3 do
      assert_error(list[i].error, "TOKEN_ERROR", "no credential today")
    end
    assert.is_nil(gw:invocations().counts.echo)
    c:close()
  end)

  it("refuses a re-entrant call from a token function, then works normally", function()
    local c, inner = nil, {}
    local reenter = true
    c = gw:new({ token = function()
      if reenter then
        local ok, err = pcall(c.invoke, c, "echo", {})
        inner[#inner + 1] = ok and "ran" or err
        c:invoke_all({ { "echo" } }) -- raises: TOKEN_ERROR for this call
      end
      return API_KEY
    end })
    local list = c:invoke_all(repeat_call(3, { "echo", { x = 1 } }), { concurrency = 3 })
    assert.equals(3, #list)
    for i = 1, 3 do
      assert.is_false(list[i].ok)
      assert_error(list[i].error, "TOKEN_ERROR", "busy")
    end
    assert.equals(3, #inner)
    assert_error(inner[1], "INVALID_ARGUMENT", "busy")
    -- the client was not corrupted
    reenter = false
    assert.same({ y = 2 }, c:invoke("echo", { y = 2 }))
    local again = c:invoke_all({ { "echo", { z = 1 } }, { "echo", { z = 2 } } })
    assert.same({ z = 1 }, again[1].result)
    assert.same({ z = 2 }, again[2].result)
    c:close()
  end)

  it("finishes the calls in flight when a token function closes the client", function()
    local c, tokens = nil, 0
    c = gw:new({ token = function()
      tokens = tokens + 1
      if tokens == 2 then c:close() end
      return API_KEY
    end })
    local list = c:invoke_all(repeat_call(4, { "echo", { x = 1 } }), { concurrency = 4 })
    assert.equals(2, tokens) -- no token asked for once the client was closed
    assert.is_true(list[1].ok)
    assert.same({ x = 1 }, list[1].result)
    assert_error(list[2].error, "INVALID_ARGUMENT", "closed by its token function")
    for i = 3, 4 do
      assert_error(list[i].error, "INVALID_ARGUMENT", "closed")
    end
    assert.is_true(tostring(c):find("closed", 1, true) ~= nil)
    assert_error(select(2, pcall(c.invoke, c, "echo", {})), "INVALID_ARGUMENT", "closed")
  end)

  it("a client can be reused after a batch full of failures", function()
    local c = gw:new({ max_request_size = 50 })
    local list = c:invoke_all({ { "echo", { s = string.rep("x", 60) } }, { "echo", { s = "small" } },
                                { "no-such-function" } })
    assert_error(list[1].error, "PAYLOAD_TOO_LARGE")
    assert.same({ s = "small" }, list[2].result)
    assert_error(list[3].error, "FUNCTION_NOT_FOUND")
    assert_all_ok(c:invoke_all(repeat_call(5, { "echo", { ok = true } }), { concurrency = 2 }), 5)
    c:close()
  end)

  describe("arguments", function()
    local bad_opts = {
      { "a string", "fast" },
      { "concurrency 0", { concurrency = 0 } },
      { "concurrency -1", { concurrency = -1 } },
      { "concurrency 1.5", { concurrency = 1.5 } },
      { "concurrency 2000", { concurrency = 2000 } },
      { "concurrency '4'", { concurrency = "4" } },
      { "an unknown option", { concurency = 4 } },
    }
    for _, case in ipairs(bad_opts) do
      it("raises INVALID_ARGUMENT for opts = " .. case[1], function()
        gw:reset()
        local ok, err = pcall(gw.client.invoke_all, gw.client, { { "echo" } }, case[2])
        assert.is_false(ok)
        assert_error(err, "INVALID_ARGUMENT")
        assert.is_nil(gw:invocations().counts.echo) -- raised before any call ran
      end)
    end

    it("raises INVALID_ARGUMENT when calls is not a table", function()
      for _, calls in ipairs({ "echo", 42, true }) do
        local ok, err = pcall(gw.client.invoke_all, gw.client, calls)
        assert.is_false(ok)
        assert_error(err, "INVALID_ARGUMENT")
      end
      local ok, err = pcall(gw.client.invoke_all, gw.client)
      assert.is_false(ok)
      assert_error(err, "INVALID_ARGUMENT")
    end)
  end)

  describe("over HTTP/2", function()
    it("multiplexes one TLS connection (ALPN h2, resolve + ca_file)", function()
      local c = gw:new(gw:at(TLS_HOST, "https"))
      local calls = {}
      for i = 1, 8 do
        calls[i] = { "inspect", { i = i } }
      end
      local list = c:invoke_all(calls, { concurrency = 8 })
      assert_all_ok(list, 8)
      local connects = 0
      for i = 1, 8 do
        local info = list[i].info
        assert.same({ i = i }, list[i].result.event)
        assert.equals(TLS_HOST .. ":" .. gw.tls_port, list[i].result.headers.host)
        -- HTTP/2 has no Connection header; nginx sends "keep-alive" on HTTP/1.1
        assert.is_nil(info.headers.connection)
        if info.timings.connect > 0 then
          connects = connects + 1
        end
      end
      assert.equals(1, connects) -- eight streams, one connection
      c:close()
    end)

    it("streams fast calls past a slow one on the shared connection", function()
      local c = gw:new(gw:at(TLS_HOST, "https"))
      local list = c:invoke_all({ { "sleep", { ms = 800 } }, { "echo", { a = 1 } }, { "hello" } },
                                { concurrency = 3 })
      assert_all_ok(list, 3)
      assert.is_true(list[1].info.elapsed >= 0.7)
      assert.is_true(list[2].info.elapsed < 0.4, "took " .. list[2].info.elapsed)
      assert.is_true(list[3].info.elapsed < 0.4, "took " .. list[3].info.elapsed)
      c:close()
    end)

    it("uses one connection per call in flight with http2 = false (the control)", function()
      local c = gw:new({ base_url = "https://" .. TLS_HOST .. ":" .. gw.tls_port, ca_file = gw.ca_file,
                      resolve = { TLS_HOST .. ":" .. gw.tls_port .. ":127.0.0.1" }, http2 = false })
      local list = c:invoke_all(repeat_call(4, { "sleep", { ms = 100 } }), { concurrency = 4 })
      assert_all_ok(list, 4)
      local connects = 0
      for i = 1, 4 do
        assert.equals("keep-alive", list[i].info.headers.connection)
        if list[i].info.timings.connect > 0 then
          connects = connects + 1
        end
      end
      assert.equals(4, connects)
      c:close()
    end)

    it("speaks h2c with http2 = 'prior-knowledge', concurrently and repeatedly", function()
      gw:reset()
      local c = gw:new({ base_url = gw.h2c_url, http2 = "prior-knowledge" })
      for _ = 1, 2 do
        local list = c:invoke_all(repeat_call(8, { "sleep", { ms = 100 } }), { concurrency = 8 })
        assert_all_ok(list, 8)
        for i = 1, 8 do
          assert.is_nil(list[i].info.headers.connection) -- HTTP/2, not 1.1
        end
      end
      local log = gw:invocations()
      assert.equals(16, log.counts.sleep)
      assert.is_true(log.max_in_flight.sleep >= 2, "max in flight " .. log.max_in_flight.sleep)
      -- and single calls after a batch
      assert.same({ a = 1 }, c:invoke("echo", { a = 1 }))
      assert.same({ a = 2 }, c:invoke("echo", { a = 2 }))
      c:close()
    end)

    it("an HTTP/1.1 client cannot talk to the h2c port (the control)", function()
      local c = gw:new({ base_url = gw.h2c_url, http2 = false, timeout = 1 })
      local list = c:invoke_all({ { "echo" } })
      assert.is_false(list[1].ok)
      c:close()
    end)
  end)
end)
