-- cloudbase.functions: the module table, functions.new options, request building,
-- validation, payload encoding and the client's lifecycle, end to end against the local
-- gateway emulator (gateway/test/config.json). Results: invoke_spec.lua; errors:
-- errors_spec.lua.
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local lv = require "spec.support.lua_version"
local has = assertions.has
local assert_error = assertions.assert_error
local raised = assertions.raised
local cjson = require "cjson"

local API_KEY = gateway.API_KEY
local SECRET = "SeCrEt-T0ken-7f3a9c1e-do-not-leak"

describe("cloudbase.functions", function()
  local gw = gateway.for_describe({ client = "once" })
  local trap, closed_port = gateway.trap, gateway.closed_port

  describe("module table", function()
    it("exports the documented API", function()
      assert.is_function(functions.new)
      assert.is_function(functions.is_error)
      assert.is_table(functions.Error)
      assert.is_table(functions.array_mt)
      assert.is_function(functions.json.encode)
      assert.is_function(functions.json.decode)
      assert.is_string(functions.version)
    end)

    it("has a null equal to cjson.null", function()
      assert.equals("userdata", type(functions.null))
      assert.equals(cjson.null, functions.null)
    end)

    it("encodes and decodes JSON, array_mt marking arrays", function()
      assert.equals('{"a":1}', functions.json.encode({ a = 1 }))
      assert.equals("[]", functions.json.encode(setmetatable({}, functions.array_mt)))
      assert.equals("[1,2]", functions.json.encode({ 1, 2 }))
      local v = functions.json.decode('{"a":[1,2,{"b":null}],"s":"x"}')
      assert.same({ 1, 2, { b = functions.null } }, v.a)
      assert.equals("x", v.s)
    end)

    it("is_error is true only for error objects", function()
      local _, err = gw.client:try_invoke("nope-missing")
      assert.is_true(functions.is_error(err))
      assert.is_false(functions.is_error({ code = "X", message = "m" }))
      assert.is_false(functions.is_error("FUNCTION_NOT_FOUND"))
      assert.is_false(functions.is_error(nil))
      assert.is_false(functions.is_error(setmetatable({}, {})))
    end)
  end)

  describe("functions.new", function()
    it("raises INVALID_ARGUMENT without env or base_url", function()
      assert_error(raised(functions.new, {}), "INVALID_ARGUMENT", "base_url")
      assert_error(raised(functions.new), "INVALID_ARGUMENT")
      assert_error(raised(functions.new, "http://x"), "INVALID_ARGUMENT")
    end)

    it("builds the gateway URL from env, and the international one with intl", function()
      local urls = {}
      local function capture(req)
        urls[#urls + 1] = req.url
        return { status = 200, headers = {}, body = "" }
      end
      local c1 = functions.new({ env = "my-env-1", transport = capture })
      local c2 = functions.new({ env = "my-env-1", intl = true, transport = capture })
      c1:invoke("echo")
      c2:invoke("echo")
      assert.same({ "https://my-env-1.api.tcloudbasegateway.com/v1/functions/echo",
                    "https://my-env-1.api.intl.tcloudbasegateway.com/v1/functions/echo" }, urls)
      assert.is_true(has(tostring(c1), "https://my-env-1.api.tcloudbasegateway.com"))
      c1:close()
      c2:close()
    end)

    it("prefers base_url over env and drops trailing slashes", function()
      local c = gw:new({ env = "ignored-env", base_url = gw.url .. "//" })
      local r = c:invoke("inspect", {})
      assert.equals("/v1/functions/inspect", r.uri)
      c:close()
    end)

    it("hides the token from tostring(client)", function()
      local c = gw:new({ token = SECRET })
      local s = tostring(c)
      assert.is_true(has(s, gw.url), s)
      assert.is_false(has(s, SECRET))
      c:close()
      assert.is_false(has(tostring(c), SECRET))
    end)

    describe("environment variables", function()
      -- Runs a one-line program in a child of this run's interpreter with the given
      -- environment.
      local function child(env, code)
        local out, ok = gateway.lua_code("local f = require 'cloudbase.functions' " .. code .. "\n", {}, env)
        assert.is_true(ok, out)
        return (out:gsub("%s+$", ""))
      end

      it("CLOUDBASE_BASE_URL and CLOUDBASE_TOKEN are the defaults", function()
        local out = child({ CLOUDBASE_BASE_URL = gw.url, CLOUDBASE_TOKEN = API_KEY },
          "local r = f.new():invoke('inspect', {}) print(r.headers.authorization, r.identity.type)")
        assert.equals("Bearer " .. API_KEY .. "\tapi_key", out)
      end)

      it("CLOUDBASE_ENV_ID builds the URL", function()
        local out = child({ CLOUDBASE_ENV_ID = "env-from-var" }, "print(tostring(f.new()))")
        assert.is_true(has(out, "https://env-from-var.api.tcloudbasegateway.com"), out)
      end)

      it("explicit options win over the variables", function()
        local out = child({ CLOUDBASE_BASE_URL = "http://127.0.0.1:" .. closed_port(),
                            CLOUDBASE_ENV_ID = "other-env", CLOUDBASE_TOKEN = "test-anon-token" },
          "local c = f.new{ base_url = '" .. gw.url .. "', token = '" .. API_KEY .. "' } "
            .. "print(c:invoke('inspect', {}).identity.type)")
        assert.equals("api_key", out)
      end)

      it("an empty CLOUDBASE_TOKEN means no credential", function()
        local out = child({ CLOUDBASE_BASE_URL = gw.url, CLOUDBASE_TOKEN = "" },
          "local _, e = f.new():try_invoke('inspect', {}) print(e.code)")
        assert.equals("MISSING_CREDENTIALS", out)
      end)
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

  describe("lifecycle", function()
    it("a closed client refuses calls with INVALID_ARGUMENT", function()
      local c = gw:new()
      c:invoke("echo", {})
      c:close()
      assert_error(raised(c.invoke, c, "echo", {}), "INVALID_ARGUMENT", "closed")
      local none, err = c:try_invoke("echo", {}) -- try_invoke never raises
      assert.is_nil(none)
      assert_error(err, "INVALID_ARGUMENT", "closed")
      assert_error(raised(c.invoke_all, c, { { "echo" } }), "INVALID_ARGUMENT", "closed")
      c:close() -- twice is fine
      assert.is_true(has(tostring(c), "closed"))
    end)

    -- `<close>` does not parse before Lua 5.4: the test lives in a file only 5.4 loads.
    lv.it_with(lv.close, "the <close> attribute", "<close> closes the client at the end of the scope",
      lv.close and assert(loadfile(gateway.root .. "/spec/lua54/client_close.lua"))(function()
        return gw:new()
      end))

    it("is collected without being closed", function()
      do
        local c = gw:new()
        c:invoke("echo", {})
      end
      collectgarbage()
      collectgarbage()
      assert.same({ a = 2 }, gw.client:invoke("echo", { a = 2 }))
    end)

    it("a token function that closes the client makes the call fail cleanly", function()
      local c
      c = gw:new({ token = function()
        c:close()
        return API_KEY
      end })
      local ok, err = pcall(c.invoke, c, "echo", {})
      assert.is_false(ok)
      assert_error(err, "INVALID_ARGUMENT", "closed")
      assert.is_true(has(tostring(c), "closed"))
    end)

    it("a token function may call another client, and the same client", function()
      local other = gw:new()
      local c, depth, runs = nil, 0, 0
      c = gw:new({ token = function()
        runs = runs + 1
        if depth == 0 then
          depth = 1
          assert.same({ inner = true }, other:invoke("echo", { inner = true }))
          assert.equals("Hello fn", c:invoke("hello")) -- re-entrant on a single invoke
          depth = 0
        end
        return API_KEY
      end })
      assert.same({ outer = true }, c:invoke("echo", { outer = true }))
      assert.equals(2, runs) -- for the outer call and the nested one
      assert.same({ again = true }, c:invoke("echo", { again = true }))
      other:close()
      c:close()
    end)

    it("works with a plugged codec (lua-cjson)", function()
      local c = gw:new({ json = cjson })
      local r, info = c:invoke("echo", { a = "b", n = 5, list = { 1, 2 } })
      assert.same({ a = "b", n = 5, list = { 1, 2 } }, r)
      assert.equals(200, info.status)
      assert.same({ ok = true }, c:invoke("admin_only", {})) -- an API key passes every rule
      local c2 = gw:new({ json = cjson, token = "test-anon-token" })
      local _, err = c2:try_invoke("admin_only", {})
      assert_error(err, "EXCEED_AUTHORITY")
      _, err = c:try_invoke("fault_malformed", {})
      assert_error(err, "INVALID_RESPONSE")
      _, err = c:try_invoke("echo", { f = print })
      assert_error(err, "ENCODE_ERROR")
      c:close()
      c2:close()
    end)

    it("survives a plugged codec that calls and closes its own client mid-call", function()
      -- The outer call is still reading its response body while decode runs: a nested
      -- call must not reuse that buffer, and close() must wait for the call to end.
      local c, nested
      local codec = {
        encode = cjson.encode,
        decode = function(text)
          if not nested then
            nested = true
            assert.equals(1, c:invoke("echo", { inner = 1, pad = ("x"):rep(70000) }).inner)
            c:close()
          end
          return cjson.decode(text)
        end,
      }
      c = gw:new({ json = codec })
      local big = ("y"):rep(100000)
      local r = c:invoke("echo", { outer = big })
      assert.equals(big, r.outer)
      assert.is_true(has(tostring(c), "closed"))
      assert_error(raised(c.invoke, c, "echo", {}), "INVALID_ARGUMENT", "closed")
    end)
  end)
end)
