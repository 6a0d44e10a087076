-- client:invoke, end to end against the local gateway (gateway/test/config.json): the
-- request it builds (credentials, qualifier, headers, web functions), what it refuses
-- before any network I/O, how it encodes the payload, and its results: the decoded value
-- and `info` (status, request id, headers, timings). Errors: errors_spec.lua.
local functions = require "cloudbase.functions"
local gateway = require "spec.support.gateway"
local assertions = require "spec.support.assertions"
local lv = require "spec.support.lua_version"
local has = assertions.has
local assert_error = assertions.assert_error
local raised = assertions.raised

local API_KEY = gateway.API_KEY
local UUID = assertions.UUID

local function lower_keys_only(t)
  for k in pairs(t) do
    if type(k) ~= "string" or k ~= k:lower() then
      return false
    end
  end
  return true
end

describe("cloudbase.functions", function()
  local gw = gateway.for_describe({ client = "once" })
  local trap = gateway.trap

  describe("results", function()
    it("decodes JSON and fills info", function()
      local r, info = gw.client:invoke("inspect", { k = "v" })
      assert.same({ k = "v" }, r.event)
      assert.equals(200, info.status)
      assert.matches(UUID, info.request_id)
      assert.equals(r.request_id, info.request_id) -- what the function saw
      assert.equals(info.headers["x-request-id"], info.request_id)
      assert.equals("application/json; charset=utf-8", info.content_type)
      assert.is_true(lower_keys_only(info.headers))
      assert.equals("nginx", info.headers.server)
      assert.is_number(info.elapsed)
      assert.is_true(info.elapsed > 0)
      for _, k in ipairs({ "dns", "connect", "tls", "first_byte", "total" }) do
        assert.is_number(info.timings[k], k)
        assert.is_true(info.timings[k] >= 0, k)
      end
      assert.is_true(info.timings.total >= info.timings.first_byte)
      assert.equals(info.timings.total, info.elapsed)
    end)

    it("builds info.headers and info.timings once, on first read, even after a GC", function()
      local _, info = gw.client:invoke("web", nil,
        { webfn = true, method = "GET", query = { header = "X-Extra: a  b " } })
      assert.is_nil(rawget(info, "headers")) -- not built yet
      collectgarbage()
      collectgarbage()
      local headers = info.headers
      assert.equals("a  b", headers["x-extra"]) -- value trimmed, inner spaces kept
      assert.equals(info.request_id, headers["x-request-id"])
      assert.equals(headers, info.headers) -- the same table every time
      assert.equals(headers, rawget(info, "headers"))
      assert.is_true(info.timings.total > 0)
      assert.equals(info.timings, info.timings)
      assert.is_nil(info.no_such_field)
    end)

    it("returns text/plain bodies as strings", function()
      local r, info = gw.client:invoke("hello")
      assert.equals("Hello fn", r)
      assert.equals("text/plain; charset=utf-8", info.content_type)
    end)

    it("decodes a JSON null to functions.null", function()
      local r, info = gw.client:invoke("nil_result")
      assert.equals(functions.null, r)
      assert.equals(200, info.status)
    end)

    it("returns nil with info for an empty body", function()
      local r, info = gw.client:invoke("fault_empty")
      assert.is_nil(r)
      assert.equals(200, info.status)
      assert.matches(UUID, info.request_id)
      assert.equals("application/json", info.content_type)
    end)

    local by_type = {
      { "application/problem+json", '{"x":1}', { x = 1 } },
      { "Application/JSON; charset=utf-8", '[1,"a"]', { 1, "a" } },
      { "text/plain", '{"x":1}', '{"x":1}' },
      { "application/octet-stream", "\0\1\2", "\0\1\2" },
      { "text/html", "<p>hi</p>", "<p>hi</p>" },
    }
    for _, case in ipairs(by_type) do
      it("handles a 200 " .. case[1] .. " body", function()
        local r, info = gw.client:invoke("fault_status",
          { status = 200, content_type = case[1], body = case[2] })
        assert.same(case[3], r)
        assert.equals(case[1], info.content_type)
      end)
    end

    it("decodes gzip transparently", function()
      local r, info = gw.client:invoke("fault_gzip", { items = 2000 })
      assert.equals(2000, #r.items)
      assert.same({ id = 2000, name = "item", tags = { "a", "b", "c" } }, r.items[2000])
      assert.equals("gzip", info.headers["content-encoding"])
    end)

    it("reuses the connection for sequential calls", function()
      local c = gw:new()
      local _, first = c:invoke("echo", {})
      local _, second = c:invoke("echo", {})
      local _, third = c:invoke("hello")
      assert.is_true(first.timings.connect > 0)
      assert.equals(0, second.timings.connect)
      assert.equals(0, third.timings.connect)
      c:close()
    end)
  end)


  describe("request building", function()
    it("sends the token as a Bearer credential and JSON headers", function()
      local r = gw.client:invoke("inspect", { a = 1 })
      assert.equals("Bearer " .. API_KEY, r.headers.authorization)
      assert.equals("application/json", r.headers["content-type"])
      assert.is_true(has(r.headers["user-agent"], "lua-cloudbase-functions/"))
      assert.equals("POST", r.method)
      assert.same({ a = 1 }, r.event)
      assert.is_nil(r.headers["x-qualifier"])
      assert.is_nil(r.headers["x-tcb-webfn"])
    end)

    it("calls a token function once per call and uses what it returns", function()
      local calls = 0
      local c = gw:new({ token = function()
        calls = calls + 1
        return calls == 1 and "test-user-token" or "test-anon-token"
      end })
      assert.equals("USERNAME", c:invoke("inspect").identity.loginType)
      assert.equals("ANONYMOUS", c:invoke("inspect").identity.loginType)
      assert.equals(2, calls)
      c:close()
    end)

    it("sends no Authorization without a token (MISSING_CREDENTIALS)", function()
      local c = gw:new({ token = function() return nil end })
      local _, err = c:try_invoke("inspect")
      assert_error(err, "MISSING_CREDENTIALS")
      assert.equals(401, err.status)
      c:close()
    end)

    it("sends {} for a nil payload and an empty table", function()
      assert.same({}, gw.client:invoke("inspect").event)
      local r = gw.client:invoke("echo", {})
      assert.equals("table", type(r))
      assert.is_nil(next(r))
    end)

    it("sends the client qualifier, overridden per call", function()
      local c = gw:new({ qualifier = "2" })
      for _ = 1, 4 do -- the canary would pick "1" three times in four
        assert.equals("2", c:invoke("versioned").version)
      end
      local r = gw.client:invoke("inspect", {}, { qualifier = "$LATEST" })
      assert.equals("$LATEST", r.headers["x-qualifier"])
      assert.equals("1", c:invoke("versioned", {}, { qualifier = "1" }).version)
      local _, err = c:try_invoke("versioned", {}, { qualifier = "9" })
      assert_error(err, "FUNCTION_QUALIFIER_NOT_FOUND")
      assert.equals(404, err.status)
      c:close()
    end)

    it("sends client headers, per-call headers overriding them case-insensitively", function()
      local c = gw:new({ headers = { ["X-Tag"] = "client", ["X-Keep"] = "kept", ["X-Num"] = 7 } })
      local r = c:invoke("inspect", {}, { headers = { ["x-tag"] = "call" } })
      assert.equals("call", r.headers["x-tag"]) -- one value, not a list of two
      assert.equals("kept", r.headers["x-keep"])
      assert.equals("7", r.headers["x-num"])
      assert.equals("client", c:invoke("inspect").headers["x-tag"])
      c:close()
    end)

    it("lets a per-call Content-Type replace the default", function()
      local r = gw.client:invoke("inspect", {}, { headers = { ["Content-Type"] = "application/json; x=1" } })
      assert.equals("application/json; x=1", r.headers["content-type"])
    end)

    describe("web functions", function()
      it("sends X-Tcb-Webfn, the method, the path and a sorted, encoded query", function()
        local r, info = gw.client:invoke("web", nil, {
          webfn = true, method = "GET", path = "/a/b%20c",
          query = { zeta = "x y/ü", alpha = { "1", 2 }, flag = true },
        })
        assert.equals(200, info.status)
        assert.equals("web", info.headers["x-web-function"])
        assert.equals("GET", r.method)
        assert.equals("/a/b c", r.path) -- nginx decodes the path it was sent
        assert.equals("alpha=1&alpha=2&flag=true&zeta=x%20y%2F%C3%BC", r.raw_query)
        assert.equals("true", r.headers["x-tcb-webfn"])
        assert.equals("", r.body)
      end)

      it("defaults to POST and sends a string payload verbatim", function()
        local r = gw.client:invoke("web", "raw [text]", { webfn = true, path = "x" })
        assert.equals("POST", r.method)
        assert.equals("/x", r.path)
        assert.equals("raw [text]", r.body)
      end)

      it("keeps each call's method and body on one reused connection", function()
        -- The easy handle keeps its options between calls: nothing may leak from one
        -- call's method into the next one's.
        local c = gw:new()
        local steps = {
          { method = "GET", payload = nil, body = "" },
          { method = "POST", payload = { a = 1 }, body = '{"a":1}' },
          { method = "DELETE", payload = nil, body = "" },
          { method = "PUT", payload = "put body", body = "put body" },
          { method = "POST", payload = nil, body = "" },
          { method = "GET", payload = nil, body = "" },
          { method = "PATCH", payload = { b = true }, body = '{"b":true}' },
        }
        for i, step in ipairs(steps) do
          local r = c:invoke("web", step.payload, { webfn = true, method = step.method })
          assert.equals(step.method, r.method, "step " .. i)
          assert.equals(step.body, r.body, "step " .. i)
        end
        local _, info = c:invoke("web", nil, { webfn = true, method = "HEAD" })
        assert.equals(200, info.status)
        local r = c:invoke("web", nil, { webfn = true, method = "GET" })
        assert.equals("GET", r.method)
        c:close()
      end)

      it("lets the web function's status through as an error", function()
        local _, err = gw.client:try_invoke("web", nil, { webfn = true, query = { status = 418 } })
        assert_error(err, "HTTP_ERROR")
        assert.equals(418, err.status)
        assert.is_true(has(err.body, '"raw_query"'))
      end)

      it("an event function invoked with webfn gets the gateway's INVALID_PARAM", function()
        local _, err = gw.client:try_invoke("echo", {}, { webfn = true })
        assert_error(err, "INVALID_PARAM")
        assert.equals(400, err.status)
      end)
    end)
  end)

  describe("validation before any network I/O", function()
    local t, c

    before_each(function()
      t = trap()
      c = gw:new({ base_url = t.url, timeout = 0.3 })
    end)

    after_each(function()
      c:close()
      t.close()
    end)

    local function refused(name, payload, opts, fragment)
      local _, err = c:try_invoke(name, payload, opts)
      assert_error(err, "INVALID_ARGUMENT", fragment)
      assert.is_nil(err.status)
      assert.is_false(t.connected(), "a connection was made")
      -- invoke raises the same error
      assert_error(raised(c.invoke, c, name, payload, opts), "INVALID_ARGUMENT", fragment)
      assert.is_false(t.connected(), "a connection was made")
    end

    local names = { "", "a", "1abc", "ab-", "ab_", "a b", "a/b", "a.b", "caf\195\169",
                    "a" .. string.rep("b", 60), "ab\0cd" }
    for _, name in ipairs(names) do
      it(string.format("refuses the function name %q", name):gsub("\n", ""), function()
        refused(name, {}, nil, "function name")
      end)
    end

    it("refuses non-string names", function()
      refused(42, {}, nil, "name")
      refused(nil, {}, nil, "name")
      refused({}, {}, nil, "name")
    end)

    it("accepts a 60-character name (it reaches the gateway)", function()
      local name = "a" .. string.rep("b", 58) .. "9"
      local _, err = gw.client:try_invoke(name)
      assert_error(err, "FUNCTION_NOT_FOUND")
    end)

    it("refuses payloads that are not JSON objects", function()
      refused("echo", { 1, 2, 3 }, nil, "payload")
      refused("echo", setmetatable({}, functions.array_mt), nil, "payload")
      refused("echo", 42, nil, "payload")
      refused("echo", "text", nil, "payload")
      refused("echo", true, nil, "payload")
    end)

    it("refuses bad options", function()
      refused("echo", {}, "fast")
      refused("echo", {}, { colour = "red" }, "colour")
      refused("echo", {}, { timeout = 0 }, "timeout")
      refused("echo", {}, { timeout = "1" }, "timeout")
      refused("echo", {}, { connect_timeout = -2 }, "connect_timeout")
      refused("echo", {}, { webfn = "yes" }, "webfn")
      refused("echo", {}, { qualifier = "" }, "qualifier")
      refused("echo", {}, { qualifier = 2 }, "qualifier")
      refused("echo", {}, { headers = "X: y" }, "headers")
    end)

    it("refuses method, path and query without webfn", function()
      refused("echo", {}, { method = "GET" }, "method")
      refused("echo", {}, { path = "/x" }, "path")
      refused("echo", {}, { query = { a = 1 } }, "query")
      refused("web", nil, { webfn = true, method = "GE T" }, "method")
      refused("web", nil, { webfn = true, path = "/a b" }, "path")
      refused("web", nil, { webfn = true, path = "/a?b" }, "path")
      refused("web", nil, { webfn = true, query = { a = { b = 1 } } }, "query")
      refused("web", nil, { webfn = true, query = { a = { 1, x = 2 } } }, "query")
      refused("web", nil, { webfn = true, query = { a = { [2] = "v" } } }, "query")
      refused("web", nil, { webfn = true, query = { [1] = "x" } }, "query")
      refused("web", nil, { webfn = true, query = { a = print } }, "query")
    end)

    for _, h in ipairs({ "Authorization", "authorization", "Content-Length", "Transfer-Encoding",
                         "EXPECT" }) do
      it("refuses the reserved header " .. h, function()
        refused("echo", {}, { headers = { [h] = "x" } }, h)
      end)
    end

    it("refuses CR, LF and NUL in header names and values", function()
      refused("echo", {}, { headers = { ["X-A"] = "a\r\nX-Injected: 1" } }, "X-A")
      refused("echo", {}, { headers = { ["X-A"] = "a\nb" } }, "X-A")
      refused("echo", {}, { headers = { ["X-A"] = "a\0b" } }, "X-A")
      refused("echo", {}, { headers = { ["X-A\r\nB"] = "v" } }, "header name")
      refused("echo", {}, { headers = { ["X A"] = "v" } }, "header name")
      refused("echo", {}, { headers = { [1] = "v" } }, "header")
      refused("echo", {}, { headers = { ["X-A"] = {} } }, "X-A")
    end)
  end)

  describe("payload encoding", function()
    local function encode_error(payload, fragment)
      local before = gw:count("echo")
      local _, err = gw.client:try_invoke("echo", payload)
      assert_error(err, "ENCODE_ERROR", fragment)
      assert.equals(before, gw:count("echo"))
      return err
    end

    it("refuses functions, userdata and threads, naming the path", function()
      encode_error({ items = { 1, 2, print } }, "payload.items[3]")
      encode_error({ f = io.stdout }, "payload.f")
      encode_error({ co = coroutine.create(function() end) }, "payload.co")
    end)

    it("refuses cycles", function()
      local t = { a = {} }
      t.a.back = t
      encode_error(t)
    end)

    it("refuses NaN and infinities", function()
      encode_error({ x = 0 / 0 }, "payload.x")
      encode_error({ x = math.huge }, "payload.x")
      encode_error({ deep = { x = -math.huge } }, "payload.deep.x")
    end)

    it("refuses invalid UTF-8 in strings and keys", function()
      encode_error({ s = "ok\255" }, "payload.s")
      encode_error({ ["k\195"] = 1 })
    end)

    it("refuses mixed and sparse tables", function()
      encode_error({ t = { 1, 2, x = 3 } }, "payload.t")
      encode_error({ t = { [1] = 1, [3] = 3 } }, "payload.t")
    end)

    lv.it_with(lv.integers, "integer subtype", "keeps 1.0 a float and 2^53+1 exact through echo", function()
      local r = gw.client:invoke("echo", { f = 1.0, big = 9007199254740993, i = 1, neg = -0.5 })
      assert.equals("float", math.type(r.f))
      assert.equals(1.0, r.f)
      assert.equals("integer", math.type(r.big))
      assert.equals(9007199254740993, r.big)
      assert.equals("integer", math.type(r.i))
      assert.equals(-0.5, r.neg)
    end)

    if not lv.integers then
      -- Numbers are doubles here (no 2^53+1; 1.0 is 1): what travels exactly is every
      -- integral value up to 2^53. Past it, see big_integers_spec.lua.
      it("keeps integral numbers up to 2^53 exact through echo", function()
        local r = gw.client:invoke("echo", { f = 1.0, i = 1, neg = -0.5, big = 2 ^ 53, nbig = -(2 ^ 53) })
        assert.same({ f = 1, i = 1, neg = -0.5, big = 2 ^ 53, nbig = -(2 ^ 53) }, r)
        assert.equals("9007199254740992", string.format("%.0f", r.big))
      end)
    end

    it("round-trips strings, nulls, nested arrays and empty arrays", function()
      local payload = { s = "é \"q\" \\ \n\t\0 ✓", n = functions.null,
                        list = { 1, { 2, 3 }, {} , setmetatable({}, functions.array_mt) } }
      local r = gw.client:invoke("echo", payload)
      assert.equals(payload.s, r.s)
      assert.equals(functions.null, r.n)
      assert.same({ 2, 3 }, r.list[2])
      assert.equals(4, #r.list)
    end)

    it("PAYLOAD_TOO_LARGE past max_request_size, before sending", function()
      local payload = { s = string.rep("x", 100) }
      local size = #functions.json.encode(payload)
      local c = gw:new({ max_request_size = size })
      assert.same(payload, c:invoke("echo", payload)) -- exactly the limit is fine
      c:close()
      c = gw:new({ max_request_size = size - 1 })
      local before = gw:count("echo")
      local _, err = c:try_invoke("echo", payload)
      assert_error(err, "PAYLOAD_TOO_LARGE", tostring(size))
      assert.equals(before, gw:count("echo"))
      c:close()
    end)

    it("PAYLOAD_TOO_LARGE by default over 6 MiB", function()
      local before = gw:count("echo")
      local _, err = gw.client:try_invoke("echo", { s = string.rep("x", 6 * 1024 * 1024) })
      assert_error(err, "PAYLOAD_TOO_LARGE")
      assert.equals(before, gw:count("echo"))
    end)
  end)
end)
