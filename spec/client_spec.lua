-- cloudbase.functions: the module table, functions.new options, results and errors,
-- end to end against the local gateway emulator (gateway/test/config.json).
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local has = assertions.has
local assert_error = assertions.assert_error
local raised = assertions.raised
local cjson = require "cjson"
local socket = require "socket"

local API_KEY = "test-api-key"
local SECRET = "SeCrEt-T0ken-7f3a9c1e-do-not-leak"

-- A port nobody listens on: bound, then closed at once.
local function closed_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- A listener that never answers: it tells whether anything connected to it.
local function trap()
  local s = assert(socket.bind("127.0.0.1", 0))
  s:settimeout(0)
  local _, port = s:getsockname()
  return {
    url = "http://127.0.0.1:" .. port,
    connected = function()
      local conn = s:accept()
      if conn then
        conn:close()
        return true
      end
      return false
    end,
    close = function()
      s:close()
    end,
  }
end

local function lower_keys_only(t)
  for k in pairs(t) do
    if type(k) ~= "string" or k ~= k:lower() then
      return false
    end
  end
  return true
end

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

describe("cloudbase.functions", function()
  local gw, client

  local function new(opts)
    local o = { base_url = gw.url, token = API_KEY, timeout = 5 }
    for k, v in pairs(opts or {}) do
      o[k] = v
    end
    return functions.new(o)
  end

  local function invocations()
    return gw:invocations()
  end

  local function count(name)
    return invocations().counts[name] or 0
  end

  lazy_setup(function()
    gw = gateway.start({ config = "gateway/test/config.json" })
    client = new()
  end)

  lazy_teardown(function()
    if client then
      client:close()
    end
    if gw then
      gw:stop()
    end
  end)

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
      local _, err = client:try_invoke("nope-missing")
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
      local c = new({ env = "ignored-env", base_url = gw.url .. "//" })
      local r = c:invoke("inspect", {})
      assert.equals("/v1/functions/inspect", r.uri)
      c:close()
    end)

    local bad = {
      { "unknown option", { base_url = "http://h", colour = "red" }, "colour" },
      { "timeout 0", { base_url = "http://h", timeout = 0 }, "timeout" },
      { "timeout string", { base_url = "http://h", timeout = "5" }, "timeout" },
      { "negative connect_timeout", { base_url = "http://h", connect_timeout = -1 }, "connect_timeout" },
      { "fractional max_response_size", { base_url = "http://h", max_response_size = 1.5 },
        "max_response_size" },
      { "zero max_request_size", { base_url = "http://h", max_request_size = 0 }, "max_request_size" },
      { "http2 = 'yes'", { base_url = "http://h", http2 = "yes" }, "http2" },
      { "intl = 'no'", { env = "e1", intl = "no" }, "intl" },
      { "numeric token", { base_url = "http://h", token = 42 }, "token" },
      { "headers string", { base_url = "http://h", headers = "X-A: 1" }, "headers" },
      { "transport not a function", { base_url = "http://h", transport = 1 }, "transport" },
      { "json without decode", { base_url = "http://h", json = { encode = tostring } }, "json" },
      { "resolve not a list", { base_url = "http://h", resolve = "h:1:127.0.0.1" }, "resolve" },
      { "ftp base_url", { base_url = "ftp://h" }, "base_url" },
      { "credentials in base_url", { base_url = "http://user:pw@h" }, "base_url" },
      { "query in base_url", { base_url = "http://h/?a=1" }, "base_url" },
      { "env with a dot", { env = "a.b" }, "env" },
      { "qualifier with CRLF", { base_url = "http://h", qualifier = "1\r\nX: y" }, "qualifier" },
      { "Authorization header", { base_url = "http://h", headers = { Authorization = "Bearer x" } },
        "Authorization" },
      { "header value with LF", { base_url = "http://h", headers = { ["X-A"] = "a\nb" } }, "X-A" },
    }
    for _, case in ipairs(bad) do
      it("refuses " .. case[1] .. " with INVALID_ARGUMENT", function()
        assert_error(raised(functions.new, case[2]), "INVALID_ARGUMENT", case[3])
      end)
    end

    it("hides the token from tostring(client)", function()
      local c = new({ token = SECRET })
      local s = tostring(c)
      assert.is_true(has(s, gw.url), s)
      assert.is_false(has(s, SECRET))
      c:close()
      assert.is_false(has(tostring(c), SECRET))
    end)

    describe("environment variables", function()
      -- Runs a one-line program in a child lua5.4 with the given environment.
      local function child(env, code)
        local parts = { "env" }
        for k, v in pairs(env) do
          parts[#parts + 1] = k .. "=" .. gateway.quote(v)
        end
        parts[#parts + 1] = "LUA_CPATH_5_4=" .. gateway.quote(package.cpath)
        -- SPEC_LUA: the interpreter of this run (make asan uses an instrumented host).
        local script = os.tmpname()
        local f = assert(io.open(script, "w"))
        f:write("local f = require 'cloudbase.functions' ", code, "\n")
        f:close()
        parts[#parts + 1] = (os.getenv("SPEC_LUA") or "lua5.4") .. " " .. gateway.quote(script)
        local out, ok = gateway.run(table.concat(parts, " ") .. " 2>&1")
        os.remove(script)
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
      local r = client:invoke("inspect", { a = 1 })
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
      local c = new({ token = function()
        calls = calls + 1
        return calls == 1 and "test-user-token" or "test-anon-token"
      end })
      assert.equals("USERNAME", c:invoke("inspect").identity.loginType)
      assert.equals("ANONYMOUS", c:invoke("inspect").identity.loginType)
      assert.equals(2, calls)
      c:close()
    end)

    it("sends no Authorization without a token (MISSING_CREDENTIALS)", function()
      local c = new({ token = function() return nil end })
      local _, err = c:try_invoke("inspect")
      assert_error(err, "MISSING_CREDENTIALS")
      assert.equals(401, err.status)
      c:close()
    end)

    it("sends {} for a nil payload and an empty table", function()
      assert.same({}, client:invoke("inspect").event)
      local r = client:invoke("echo", {})
      assert.equals("table", type(r))
      assert.is_nil(next(r))
    end)

    it("sends the client qualifier, overridden per call", function()
      local c = new({ qualifier = "2" })
      for _ = 1, 4 do -- the canary would pick "1" three times in four
        assert.equals("2", c:invoke("versioned").version)
      end
      local r = client:invoke("inspect", {}, { qualifier = "$LATEST" })
      assert.equals("$LATEST", r.headers["x-qualifier"])
      assert.equals("1", c:invoke("versioned", {}, { qualifier = "1" }).version)
      local _, err = c:try_invoke("versioned", {}, { qualifier = "9" })
      assert_error(err, "FUNCTION_QUALIFIER_NOT_FOUND")
      assert.equals(404, err.status)
      c:close()
    end)

    it("sends client headers, per-call headers overriding them case-insensitively", function()
      local c = new({ headers = { ["X-Tag"] = "client", ["X-Keep"] = "kept", ["X-Num"] = 7 } })
      local r = c:invoke("inspect", {}, { headers = { ["x-tag"] = "call" } })
      assert.equals("call", r.headers["x-tag"]) -- one value, not a list of two
      assert.equals("kept", r.headers["x-keep"])
      assert.equals("7", r.headers["x-num"])
      assert.equals("client", c:invoke("inspect").headers["x-tag"])
      c:close()
    end)

    it("lets a per-call Content-Type replace the default", function()
      local r = client:invoke("inspect", {}, { headers = { ["Content-Type"] = "application/json; x=1" } })
      assert.equals("application/json; x=1", r.headers["content-type"])
    end)

    describe("web functions", function()
      it("sends X-Tcb-Webfn, the method, the path and a sorted, encoded query", function()
        local r, info = client:invoke("web", nil, {
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
        local r = client:invoke("web", "raw [text]", { webfn = true, path = "x" })
        assert.equals("POST", r.method)
        assert.equals("/x", r.path)
        assert.equals("raw [text]", r.body)
      end)

      it("keeps each call's method and body on one reused connection", function()
        -- The easy handle keeps its options between calls: nothing may leak from one
        -- call's method into the next one's.
        local c = new()
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
        local _, err = client:try_invoke("web", nil, { webfn = true, query = { status = 418 } })
        assert_error(err, "HTTP_ERROR")
        assert.equals(418, err.status)
        assert.is_true(has(err.body, '"raw_query"'))
      end)

      it("an event function invoked with webfn gets the gateway's INVALID_PARAM", function()
        local _, err = client:try_invoke("echo", {}, { webfn = true })
        assert_error(err, "INVALID_PARAM")
        assert.equals(400, err.status)
      end)
    end)
  end)

  describe("validation before any network I/O", function()
    local t, c

    before_each(function()
      t = trap()
      c = new({ base_url = t.url, timeout = 0.3 })
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

    local names = { "", "a", "1abc", "ab-", "ab_", "a b", "a/b", "a.b", "caf\xc3\xa9",
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
      local _, err = client:try_invoke(name)
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
      local before = count("echo")
      local _, err = client:try_invoke("echo", payload)
      assert_error(err, "ENCODE_ERROR", fragment)
      assert.equals(before, count("echo"))
      return err
    end

    it("refuses functions, userdata and threads, naming the path", function()
      encode_error({ items = { 1, 2, print } }, "payload.items[3]")
      encode_error({ f = io.stdout }, "payload.f")
      encode_error({ co = coroutine.create(print) }, "payload.co")
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
      encode_error({ s = "ok\xff" }, "payload.s")
      encode_error({ ["k\xc3"] = 1 })
    end)

    it("refuses mixed and sparse tables", function()
      encode_error({ t = { 1, 2, x = 3 } }, "payload.t")
      encode_error({ t = { [1] = 1, [3] = 3 } }, "payload.t")
    end)

    it("keeps 1.0 a float and 2^53+1 exact through echo", function()
      local r = client:invoke("echo", { f = 1.0, big = 9007199254740993, i = 1, neg = -0.5 })
      assert.equals("float", math.type(r.f))
      assert.equals(1.0, r.f)
      assert.equals("integer", math.type(r.big))
      assert.equals(9007199254740993, r.big)
      assert.equals("integer", math.type(r.i))
      assert.equals(-0.5, r.neg)
    end)

    it("round-trips strings, nulls, nested arrays and empty arrays", function()
      local payload = { s = "é \"q\" \\ \n\t\0 ✓", n = functions.null,
                        list = { 1, { 2, 3 }, {} , setmetatable({}, functions.array_mt) } }
      local r = client:invoke("echo", payload)
      assert.equals(payload.s, r.s)
      assert.equals(functions.null, r.n)
      assert.same({ 2, 3 }, r.list[2])
      assert.equals(4, #r.list)
    end)

    it("PAYLOAD_TOO_LARGE past max_request_size, before sending", function()
      local payload = { s = string.rep("x", 100) }
      local size = #functions.json.encode(payload)
      local c = new({ max_request_size = size })
      assert.same(payload, c:invoke("echo", payload)) -- exactly the limit is fine
      c:close()
      c = new({ max_request_size = size - 1 })
      local before = count("echo")
      local _, err = c:try_invoke("echo", payload)
      assert_error(err, "PAYLOAD_TOO_LARGE", tostring(size))
      assert.equals(before, count("echo"))
      c:close()
    end)

    it("PAYLOAD_TOO_LARGE by default over 6 MiB", function()
      local before = count("echo")
      local _, err = client:try_invoke("echo", { s = string.rep("x", 6 * 1024 * 1024) })
      assert_error(err, "PAYLOAD_TOO_LARGE")
      assert.equals(before, count("echo"))
    end)
  end)

  describe("results", function()
    it("decodes JSON and fills info", function()
      local r, info = client:invoke("inspect", { k = "v" })
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
      local _, info = client:invoke("web", nil,
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
      local r, info = client:invoke("hello")
      assert.equals("Hello fn", r)
      assert.equals("text/plain; charset=utf-8", info.content_type)
    end)

    it("decodes a JSON null to functions.null", function()
      local r, info = client:invoke("nil_result")
      assert.equals(functions.null, r)
      assert.equals(200, info.status)
    end)

    it("returns nil with info for an empty body", function()
      local r, info = client:invoke("fault_empty")
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
        local r, info = client:invoke("fault_status",
          { status = 200, content_type = case[1], body = case[2] })
        assert.same(case[3], r)
        assert.equals(case[1], info.content_type)
      end)
    end

    it("decodes gzip transparently", function()
      local r, info = client:invoke("fault_gzip", { items = 2000 })
      assert.equals(2000, #r.items)
      assert.same({ id = 2000, name = "item", tags = { "a", "b", "c" } }, r.items[2000])
      assert.equals("gzip", info.headers["content-encoding"])
    end)

    it("reuses the connection for sequential calls", function()
      local c = new()
      local _, first = c:invoke("echo", {})
      local _, second = c:invoke("echo", {})
      local _, third = c:invoke("hello")
      assert.is_true(first.timings.connect > 0)
      assert.equals(0, second.timings.connect)
      assert.equals(0, third.timings.connect)
      c:close()
    end)
  end)

  describe("errors", function()
    it("have code, message, status, request_id and a readable tostring", function()
      local c = new({ token = "test-anon-token" })
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
      local err = raised(client.invoke, client, "no-such-fn", {})
      assert_error(err, "FUNCTION_NOT_FOUND")
      local r, err2 = client:try_invoke("no-such-fn", {})
      assert.is_nil(r)
      assert_error(err2, "FUNCTION_NOT_FOUND")
      assert.equals(404, err2.status)
    end)

    it("tostring of a local error has no status part", function()
      local _, err = client:try_invoke("1bad")
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
          local c = new(opts)
          gw:reset()
          local _, err = c:try_invoke(name, {})
          assert_error(err, code, fragment)
          assert.equals(status, err.status)
          assert.matches(UUID, err.request_id)
          assert.is_nil(err.body) -- a structured gateway error carries no raw body
          local entries = invocations().entries
          if #entries > 0 then -- the function ran: the same id the gateway logged
            assert.equals(entries[#entries].request_id, err.request_id)
          end
          c:close()
        end)
      end

      it("the member rule lets a signed-in user through", function()
        local c = new({ token = "test-user-token" })
        assert.same({ ok = true }, c:invoke("members_only"))
        c:close()
      end)

      it("a code-less error body falls back to the X-Request-Id header", function()
        gw:reset()
        local _, err = client:try_invoke("fault_status", { status = 418, content_type = "application/json",
          body = '{"code":"TEAPOT","message":"short and stout"}' })
        assert_error(err, "TEAPOT", "short and stout")
        assert.equals(418, err.status)
        assert.equals(invocations().entries[1].request_id, err.request_id)
      end)

      it("a Host header is the client's own: refused before any I/O", function()
        local _, err = client:try_invoke("echo", {}, { headers = { Host = "nowhere.example.com" } })
        assert_error(err, "INVALID_ARGUMENT", "Host")
        assert.is_nil(err.status)
      end)

      it("INVALID_HOST for a resolve'd unknown host", function()
        local host = "unknown-env.example.com"
        local c = new({ base_url = "http://" .. host .. ":" .. gw.port,
                        resolve = { host .. ":" .. gw.port .. ":127.0.0.1" } })
        local _, err = c:try_invoke("echo", {})
        assert_error(err, "INVALID_HOST", host)
        c:close()
      end)

      it("ACTION_FORBIDDEN on locked-env for an anonymous credential", function()
        local host = "locked-env.api.tcloudbasegateway.com"
        local opts = { base_url = "http://" .. host .. ":" .. gw.port,
                       resolve = { host .. ":" .. gw.port .. ":127.0.0.1" } }
        opts.token = "locked-user-token"
        local ok = new(opts)
        assert.equals("user-9", ok:invoke("inspect").identity.uid) -- really routed to locked-env
        ok:close()
        for _, token in ipairs({ "locked-anon-token", "locked-publishable-key", "locked-phone-token" }) do
          opts.token = token
          local c = new(opts)
          local _, err = c:try_invoke("inspect", {})
          assert_error(err, "ACTION_FORBIDDEN")
          assert.equals(403, err.status)
          c:close()
        end
      end)
    end)

    describe("local", function()
      it("NETWORK_ERROR when the connection is refused", function()
        local c = new({ base_url = "http://127.0.0.1:" .. closed_port() })
        local _, err = c:try_invoke("echo", {})
        assert_error(err, "NETWORK_ERROR")
        assert.is_nil(err.status)
        c:close()
      end)

      it("NETWORK_ERROR when the connection drops mid-body, run once", function()
        gw:reset()
        local _, err = client:try_invoke("fault_drop", {})
        assert_error(err, "NETWORK_ERROR")
        assert.equals(1, count("fault_drop"))
      end)

      it("NETWORK_ERROR when the host does not resolve", function()
        local c = new({ base_url = "http://no-such-host.invalid" })
        local _, err = c:try_invoke("echo", {})
        assert_error(err, "NETWORK_ERROR", "no-such-host.invalid")
        c:close()
      end)

      it("TIMEOUT past timeout, run once", function()
        gw:reset()
        local t0 = socket.gettime()
        local _, err = client:try_invoke("fault_slow", { ms = 3000 }, { timeout = 0.3 })
        local took = socket.gettime() - t0
        assert_error(err, "TIMEOUT")
        assert.is_true(took >= 0.25 and took < 2, "took " .. took)
        assert.equals(1, count("fault_slow"))
      end)

      it("TIMEOUT past the client's timeout", function()
        local c = new({ timeout = 0.3 })
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
        local c = new({ base_url = "http://127.0.0.1:" .. port, connect_timeout = 0.3, timeout = 5 })
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
        local c = new({ max_response_size = 10000 })
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
        local c = new({ max_response_size = limit })
        local _, err = c:try_invoke("fault_gzip", {})
        assert_error(err, "RESPONSE_TOO_LARGE")
        c:close()
      end)

      it("INVALID_RESPONSE for a malformed JSON body", function()
        local _, err = client:try_invoke("fault_malformed", {})
        assert_error(err, "INVALID_RESPONSE")
        assert.equals(200, err.status)
        assert.equals('{"truncated": [1, 2, ', err.body)
        assert.matches(UUID, err.request_id)
      end)

      it("HTTP_ERROR for a proxy's HTML 502, with the body, run once", function()
        gw:reset()
        local _, err = client:try_invoke("fault_html502", {})
        assert_error(err, "HTTP_ERROR", "502")
        assert.equals(502, err.status)
        assert.is_true(has(err.body, "<h1>502 Bad Gateway</h1>"), err.body)
        assert.equals(1, count("fault_html502"))
        assert.equals(invocations().entries[1].request_id, err.request_id)
      end)

      it("HTTP_ERROR for an empty 503, run once", function()
        gw:reset()
        local _, err = client:try_invoke("fault_empty503", {})
        assert_error(err, "HTTP_ERROR", "503")
        assert.equals(503, err.status)
        assert.equals("", err.body)
        assert.equals(1, count("fault_empty503"))
      end)

      it("HTTP_ERROR for a JSON error body without a code", function()
        local _, err = client:try_invoke("fault_status", { status = 500, content_type = "application/json",
          body = '{"message":"no code"}' })
        assert_error(err, "HTTP_ERROR")
        assert.equals(500, err.status)
        assert.equals('{"message":"no code"}', err.body)
      end)

      it("never follows redirects and never repeats the call", function()
        gw:reset()
        local _, err = client:try_invoke("fault_redirect", {})
        assert_error(err, "HTTP_ERROR")
        assert.equals(302, err.status)
        assert.equals("Found\n", err.body)
        assert.equals(1, count("fault_redirect"))
      end)

      it("never retries a failed call", function()
        gw:reset()
        client:try_invoke("throws", {})
        client:try_invoke("too_slow", {})
        local counts = invocations().counts
        assert.equals(1, counts.throws)
        assert.equals(1, counts.too_slow)
      end)

      describe("TOKEN_ERROR", function()
        local function token_error(token, fragment)
          local c = new({ token = token })
          local before = count("echo")
          local _, err = c:try_invoke("echo", {})
          assert_error(err, "TOKEN_ERROR", fragment)
          assert.equals(before, count("echo"))
          c:close()
          return err
        end

        it("when the token function raises", function()
          token_error(function() error("vault unreachable", 0) end, "vault unreachable")
          token_error(function() error({}) end, "a table with no message")
          token_error(function()
            error(setmetatable({}, { __tostring = function() return "custom reason" end }))
          end, "custom reason")
          local closed = new()
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
        new({ token = SECRET }),
        new({ token = function() return SECRET end }),
        new({ token = SECRET, base_url = "http://127.0.0.1:" .. closed_port() }),
        new({ token = SECRET, base_url = "http://no-such-host.invalid" }),
        new({ token = SECRET, base_url = t.url, timeout = 0.2 }),
        new({ token = SECRET, max_request_size = 10 }),
        new({ token = SECRET .. "\r\n" }),
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

  describe("lifecycle", function()
    it("a closed client refuses calls with INVALID_ARGUMENT", function()
      local c = new()
      c:invoke("echo", {})
      c:close()
      assert_error(raised(c.invoke, c, "echo", {}), "INVALID_ARGUMENT", "closed")
      assert_error(raised(c.try_invoke, c, "echo", {}), "INVALID_ARGUMENT", "closed")
      assert_error(raised(c.invoke_all, c, { { "echo" } }), "INVALID_ARGUMENT", "closed")
      c:close() -- twice is fine
      assert.is_true(has(tostring(c), "closed"))
    end)

    it("<close> closes the client at the end of the scope", function()
      local kept
      do
        local c <close> = new()
        kept = c
        assert.same({ a = 1 }, c:invoke("echo", { a = 1 }))
      end
      assert.is_true(has(tostring(kept), "closed"))
      assert_error(raised(kept.invoke, kept, "echo", {}), "INVALID_ARGUMENT", "closed")
    end)

    it("is collected without being closed", function()
      do
        local c = new()
        c:invoke("echo", {})
      end
      collectgarbage()
      collectgarbage()
      assert.same({ a = 2 }, client:invoke("echo", { a = 2 }))
    end)

    it("a token function that closes the client makes the call fail cleanly", function()
      local c
      c = new({ token = function()
        c:close()
        return API_KEY
      end })
      local ok, err = pcall(c.invoke, c, "echo", {})
      assert.is_false(ok)
      assert_error(err, "INVALID_ARGUMENT", "closed")
      assert.is_true(has(tostring(c), "closed"))
    end)

    it("a token function may call another client, and the same client", function()
      local other = new()
      local c, depth, runs = nil, 0, 0
      c = new({ token = function()
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
      local c = new({ json = cjson })
      local r, info = c:invoke("echo", { a = "b", n = 5, list = { 1, 2 } })
      assert.same({ a = "b", n = 5, list = { 1, 2 } }, r)
      assert.equals(200, info.status)
      assert.same({ ok = true }, c:invoke("admin_only", {})) -- an API key passes every rule
      local c2 = new({ json = cjson, token = "test-anon-token" })
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
      c = new({ json = codec })
      local big = ("y"):rep(100000)
      local r = c:invoke("echo", { outer = big })
      assert.equals(big, r.outer)
      assert.is_true(has(tostring(c), "closed"))
      assert_error(raised(c.invoke, c, "echo", {}), "INVALID_ARGUMENT", "closed")
    end)
  end)
end)
