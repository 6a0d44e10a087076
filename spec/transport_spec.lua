-- The Lua transport seam: functions.new{ transport = function(request) ... end }.
-- The request the core builds, how a response table becomes a result or an error,
-- and what a misbehaving transport gets (TRANSPORT_ERROR).
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local has = assertions.has
local assert_error = assertions.assert_error

local SECRET = "SeCrEt-T0ken-transport-51d2"

-- A transport that records each request and answers with `respond(request)`.
local function recorder(respond)
  local rec = { requests = {} }
  rec.fn = function(request)
    rec.requests[#rec.requests + 1] = request
    return respond(request)
  end
  return rec
end

local function json_response(body, extra)
  local headers = { ["Content-Type"] = "application/json", ["X-Request-Id"] = "req-1" }
  for k, v in pairs(extra or {}) do
    headers[k] = v
  end
  return { status = 200, headers = headers, body = body }
end

-- Sends a request with curl (through the spec helper) and maps the answer back:
-- the seam is all a real alternative transport needs.
local function curl_transport(request)
  local res = gateway.curl({ url = request.url, method = request.method, headers = request.headers,
                             body = request.body, timeout = request.timeout })
  if not res.status then
    return nil, "NETWORK_ERROR", res.stderr
  end
  local headers = {}
  for k, v in pairs(res.headers) do
    headers[k] = type(v) == "table" and table.concat(v, ", ") or v
  end
  return { status = res.status, headers = headers, body = res.body }
end

describe("Lua transport", function()
  local gw = gateway.for_describe()

  describe("the request it is given", function()
    it("holds the method, URL, headers, JSON body and timeouts", function()
      local rec = recorder(function() return json_response("{}") end)
      local c = functions.new({ base_url = "https://gw.example/", token = SECRET, transport = rec.fn })
      c:invoke("echo", { a = 1 })
      local req = rec.requests[1]
      assert.equals("POST", req.method)
      assert.equals("https://gw.example/v1/functions/echo", req.url)
      assert.equals('{"a":1}', req.body)
      assert.equals("Bearer " .. SECRET, req.headers.Authorization)
      assert.equals("application/json", req.headers["Content-Type"])
      assert.is_string(req.headers.Accept)
      assert.is_true(has(req.headers["User-Agent"], "lua-cloudbase-functions/"))
      assert.is_nil(req.headers.Expect) -- curl's "Expect:" suppression is not a header
      assert.is_nil(req.headers["X-Qualifier"])
      assert.is_nil(req.headers["X-Tcb-Webfn"])
      assert.equals(60, req.timeout)
      assert.equals(10, req.connect_timeout)
      c:close()
    end)

    it("carries the client options and per-call overrides", function()
      local rec = recorder(function() return json_response("{}") end)
      local c = functions.new({ base_url = "http://gw.example", transport = rec.fn, qualifier = "3",
                                timeout = 7, connect_timeout = 2, headers = { ["X-Env"] = "ci" } })
      c:invoke("echo")
      c:invoke("echo", nil, { qualifier = "4", timeout = 0.5, connect_timeout = 0.25,
                              headers = { ["x-env"] = "call", ["X-Other"] = 1 } })
      local first, second = rec.requests[1], rec.requests[2]
      assert.equals("{}", first.body)
      assert.equals("3", first.headers["X-Qualifier"])
      assert.equals("ci", first.headers["X-Env"])
      assert.is_nil(first.headers.Authorization)
      assert.equals(7, first.timeout)
      assert.equals(2, first.connect_timeout)
      assert.equals("4", second.headers["X-Qualifier"])
      assert.equals("call", second.headers["x-env"])
      assert.is_nil(second.headers["X-Env"]) -- replaced, not sent twice
      assert.equals("1", second.headers["X-Other"])
      assert.equals(0.5, second.timeout)
      assert.equals(0.25, second.connect_timeout)
      c:close()
    end)

    it("describes a web function call", function()
      local rec = recorder(function() return { status = 204, headers = {} } end)
      local c = functions.new({ base_url = "http://gw.example", transport = rec.fn })
      local r, info = c:invoke("web", nil, { webfn = true, method = "DELETE", path = "items/7",
                                             query = { b = "2", a = { "x&y", 1.5 } } })
      local req = rec.requests[1]
      assert.equals("DELETE", req.method)
      assert.equals("http://gw.example/v1/functions/web/items/7?a=x%26y&a=1.5&b=2", req.url)
      assert.equals("true", req.headers["X-Tcb-Webfn"])
      assert.is_nil(req.body)
      assert.is_nil(req.headers["Content-Type"])
      assert.is_nil(r)
      assert.equals(204, info.status)
      c:invoke("web", "<xml/>", { webfn = true, headers = { ["Content-Type"] = "application/xml" } })
      assert.equals("<xml/>", rec.requests[2].body)
      assert.equals("POST", rec.requests[2].method)
      assert.equals("application/xml", rec.requests[2].headers["Content-Type"])
      c:close()
    end)

    it("is never built for a call that fails validation", function()
      local rec = recorder(function() return json_response("{}") end)
      local c = functions.new({ base_url = "http://gw.example", transport = rec.fn, max_request_size = 20 })
      local cases = {
        { "1bad", {}, nil, "INVALID_ARGUMENT" },
        { "echo", { 1, 2 }, nil, "INVALID_ARGUMENT" },
        { "echo", {}, { headers = { Expect = "100-continue" } }, "INVALID_ARGUMENT" },
        { "echo", { f = print }, nil, "ENCODE_ERROR" },
        { "echo", { s = string.rep("x", 30) }, nil, "PAYLOAD_TOO_LARGE" },
      }
      for _, case in ipairs(cases) do
        local _, err = c:try_invoke(case[1], case[2], case[3])
        assert_error(err, case[4])
      end
      assert.equals(0, #rec.requests)
      c:close()
    end)
  end)

  describe("the response it returns", function()
    local function through(response, opts)
      local c = functions.new({ base_url = "http://gw.example", transport = function() return response end,
                                max_response_size = opts and opts.max_response_size })
      local r, info = c:try_invoke("fn")
      c:close()
      return r, info
    end

    it("becomes result and info, header names lower-cased", function()
      local r, info = through(json_response('{"a":[1,2.5,"x"]}', { ["X-Custom"] = "v" }))
      assert.same({ a = { 1, 2.5, "x" } }, r)
      assert.equals(200, info.status)
      assert.equals("req-1", info.request_id)
      assert.equals("application/json", info.content_type)
      assert.same({ ["content-type"] = "application/json", ["x-request-id"] = "req-1", ["x-custom"] = "v" },
        info.headers)
      assert.is_number(info.elapsed)
      assert.is_true(info.elapsed >= 0)
    end)

    it("a text body stays a string; a missing or empty body gives nil", function()
      local text = { status = 200, headers = { ["content-type"] = "text/plain" }, body = "hi" }
      assert.equals("hi", (through(text)))
      assert.equals("raw", (through({ status = 200, body = "raw" }))) -- no content type: a string
      local r, info = through({ status = 200, headers = { ["Content-Type"] = "application/json" } })
      assert.is_nil(r)
      assert.equals(200, info.status)
      r = through({ status = 201, headers = { ["Content-Type"] = "application/json" }, body = "" })
      assert.is_nil(r)
    end)

    it("a gateway error body becomes that error", function()
      local _, err = through({ status = 403, headers = { ["Content-Type"] = "application/json",
                                                         ["X-Request-Id"] = "hdr-id" },
        body = '{"code":"EXCEED_AUTHORITY","message":"denied","requestId":"body-id"}' })
      assert_error(err, "EXCEED_AUTHORITY", "denied")
      assert.equals(403, err.status)
      assert.equals("body-id", err.request_id)
      assert.equals("EXCEED_AUTHORITY: denied (status 403, request_id body-id)", tostring(err))
      _, err = through({ status = 429, headers = { ["X-Request-Id"] = "hdr-id" },
                         body = '{"code":"EXCEED_RATELIMIT","message":"slow down"}' })
      assert_error(err, "EXCEED_RATELIMIT")
      assert.equals("hdr-id", err.request_id)
    end)

    it("any other failure is HTTP_ERROR with the body", function()
      local _, err = through({ status = 502, headers = { ["Content-Type"] = "text/html" },
                               body = "<h1>bad</h1>" })
      assert_error(err, "HTTP_ERROR")
      assert.equals(502, err.status)
      assert.equals("<h1>bad</h1>", err.body)
      _, err = through({ status = 301, headers = { Location = "http://elsewhere" } })
      assert_error(err, "HTTP_ERROR")
      assert.equals(301, err.status)
      assert.equals("", err.body)
    end)

    it("invalid JSON is INVALID_RESPONSE", function()
      local _, err = through(json_response("{nope"))
      assert_error(err, "INVALID_RESPONSE")
      assert.equals("{nope", err.body)
      assert.equals("req-1", err.request_id)
    end)

    it("a body over max_response_size is RESPONSE_TOO_LARGE", function()
      local body = '"' .. string.rep("x", 98) .. '"'
      assert.equals(98, #through(json_response(body), { max_response_size = 100 }))
      local _, err = through(json_response(body), { max_response_size = 99 })
      assert_error(err, "RESPONSE_TOO_LARGE", "99")
    end)

    it("nil, code, message reports the transport's own failure", function()
      local c = functions.new({ base_url = "http://gw.example",
                                transport = function() return nil, "TIMEOUT", "gave up after 1s" end })
      local _, err = c:try_invoke("fn")
      assert_error(err, "TIMEOUT", "gave up after 1s")
      assert.is_nil(err.status)
      c:close()
      c = functions.new({ base_url = "http://gw.example", transport = function() end })
      _, err = c:try_invoke("fn")
      assert_error(err, "NETWORK_ERROR")
      c:close()
    end)
  end)

  describe("TRANSPORT_ERROR", function()
    local function transport_error(transport, fragment)
      local c = functions.new({ base_url = "http://gw.example", token = SECRET, transport = transport })
      local _, err = c:try_invoke("fn", {})
      c:close()
      assert_error(err, "TRANSPORT_ERROR", fragment)
      assert.is_false(has(tostring(err), SECRET))
      return err
    end

    it("when the transport raises", function()
      transport_error(function() error("socket exploded", 0) end, "socket exploded")
      local obj = setmetatable({}, { __tostring = function() return "obj-reason" end })
      transport_error(function() error(obj) end, "obj-reason")
      transport_error(function() error({ 1 }) end)
    end)

    it("keeps a long reason whole (no fixed message buffer)", function()
      local reason = string.rep("r", 400) .. "<end>"
      local err = transport_error(function() error(reason, 0) end)
      assert.equals("transport function failed: " .. reason, err.message)
    end)

    local garbage = {
      { "a string", "HTTP/1.1 200 OK" },
      { "a number", 200 },
      { "true", true },
      { "no status", { body = "{}" } },
      { "status 99", { status = 99 } },
      { "status 600", { status = 600 } },
      { "a string status", { status = "200" } },
      { "a fractional status", { status = 200.5 } },
      { "headers not a table", { status = 200, headers = "Content-Type: text/plain" } },
      { "a header list holding a table", { status = 200, headers = { ["X-A"] = { "1", {} } } } },
      { "a header value that is a boolean", { status = 200, headers = { ["X-A"] = true } } },
      { "a numeric header name", { status = 200, headers = { "text/plain" } } },
      { "a body that is a number", { status = 200, body = 42 } },
      { "a body that is a table", { status = 200, body = { a = 1 } } },
    }
    for _, case in ipairs(garbage) do
      it("when it returns " .. case[1], function()
        transport_error(function() return case[2] end)
      end)
    end
  end)

  it("joins a header given as a list of values, as lua-resty-http returns repeated ones", function()
    local c = functions.new({ base_url = "http://gw.example", transport = function()
      return json_response("{}", { ["Set-Cookie"] = { "a=1", "b=2" }, ["X-Request-Id"] = "id-7" })
    end })
    local _, info = c:invoke("fn")
    assert.equals("a=1, b=2", info.headers["set-cookie"])
    assert.equals("id-7", info.request_id)
  end)

  it("sends a real call through a curl-backed transport", function()
    local calls = 0
    local c = functions.new({ base_url = gw.url, token = "test-user-token", transport = function(req)
      calls = calls + 1
      return curl_transport(req)
    end })
    local r, info = c:invoke("inspect", { via = "lua" }, { qualifier = "$LATEST" })
    assert.same({ via = "lua" }, r.event)
    assert.equals("user-1", r.identity.uid)
    assert.equals("$LATEST", r.headers["x-qualifier"])
    assert.equals(r.request_id, info.request_id)
    local _, err = c:try_invoke("admin_only")
    assert_error(err, "EXCEED_AUTHORITY")
    assert.equals(403, err.status)
    assert.equals("Hello fn", c:invoke("hello"))
    local web = c:invoke("web", nil, { webfn = true, method = "GET", path = "/p", query = { q = "a b" } })
    assert.equals("GET", web.method)
    assert.equals("q=a%20b", web.raw_query)
    assert.equals(4, calls)
    c:close()
  end)

  it("runs invoke_all one call at a time, in order", function()
    local order, active, max_active = {}, 0, 0
    local c = functions.new({ base_url = "http://gw.example", transport = function(req)
      active = active + 1
      max_active = math.max(max_active, active)
      order[#order + 1] = req.url:match("[^/]+$")
      active = active - 1
      if req.url:find("fail", 1, true) then
        return { status = 500, headers = { ["Content-Type"] = "application/json" },
                 body = '{"code":"FUNCTION_INVOCATION_FAILED","message":"x"}' }
      end
      return json_response(req.body)
    end })
    local list = c:invoke_all({ { "aa", { n = 1 } }, { name = "fail", payload = {} }, { "1bad" },
                                { "cc", { n = 3 }, headers = { ["X-A"] = "1" } } })
    assert.same({ "aa", "fail", "cc" }, order)
    assert.equals(1, max_active)
    assert.equals(4, #list)
    assert.is_true(list[1].ok)
    assert.same({ n = 1 }, list[1].result)
    assert.equals(200, list[1].info.status)
    assert.is_false(list[2].ok)
    assert_error(list[2].error, "FUNCTION_INVOCATION_FAILED")
    assert.is_false(list[3].ok)
    assert_error(list[3].error, "INVALID_ARGUMENT")
    assert.same({ n = 3 }, list[4].result)
    c:close()
  end)

  it("a transport may call the client again", function()
    local c
    c = functions.new({ base_url = "http://gw.example", transport = function(req)
      if req.url:find("/outer$") then
        local inner = c:invoke("inner", { from = "transport" })
        return json_response('{"outer":true,"inner":' .. functions.json.encode(inner) .. "}")
      end
      return json_response(req.body)
    end })
    assert.same({ outer = true, inner = { from = "transport" } }, c:invoke("outer", { x = 1 }))
    assert.same({ y = 2 }, c:invoke("plain", { y = 2 }))
    c:close()
  end)

  it("a transport that closes the client still returns its response, then the client is closed", function()
    local c
    c = functions.new({ base_url = "http://gw.example", transport = function()
      c:close()
      return json_response('{"done":true}')
    end })
    assert.same({ done = true }, c:invoke("fn"))
    local ok, err = pcall(c.invoke, c, "fn")
    assert.is_false(ok)
    assert_error(err, "INVALID_ARGUMENT", "closed")
    -- invoke_all: the first call closes the client, the rest are refused
    local d
    d = functions.new({ base_url = "http://gw.example", transport = function()
      d:close()
      return json_response('{"done":true}')
    end })
    local list = d:invoke_all({ { "fn" }, { "fn" } })
    assert.is_true(list[1].ok)
    assert.is_false(list[2].ok)
    assert_error(list[2].error, "INVALID_ARGUMENT", "closed")
  end)

  describe("prepare and process (the caller moves the bytes, as a cosocket client would)", function()
    it("prepares the request, and turns the response into the result and info", function()
      local c = functions.new({ base_url = gw.url, token = "test-user-token", qualifier = "$LATEST" })
      local before = gw:invocations().counts.inspect or 0
      local req = assert(c:prepare("inspect", { via = "prepare" }, { headers = { ["X-Tag"] = "t" } }))
      assert.equals("POST", req.method)
      assert.equals(gw.url .. "/v1/functions/inspect", req.url)
      assert.equals('{"via":"prepare"}', req.body)
      assert.equals("Bearer test-user-token", req.headers.Authorization)
      local res = assert(curl_transport(req))
      res.elapsed = 0.25
      local r, info = c:process(res)
      assert.same({ via = "prepare" }, r.event)
      assert.equals("user-1", r.identity.uid)
      assert.equals("$LATEST", r.headers["x-qualifier"])
      assert.equals("t", r.headers["x-tag"])
      assert.equals(200, info.status)
      assert.equals(r.request_id, info.request_id)
      assert.equals(0.25, info.elapsed)
      assert.equals(before + 1, gw:invocations().counts.inspect)
      c:close()
    end)

    it("returns nil and the error, never raising, on either side", function()
      local c = functions.new({ base_url = gw.url, token = "test-anon-token" })
      local req, err = c:prepare("bad name!", {})
      assert.is_nil(req)
      assert_error(err, "INVALID_ARGUMENT", "function name")
      req = assert(c:prepare("admin_only", {}))
      local r
      r, err = c:process(assert(curl_transport(req)))
      assert.is_nil(r)
      assert_error(err, "EXCEED_AUTHORITY")
      assert.equals(403, err.status)
      r, err = c:process({ status = "200" })
      assert.is_nil(r)
      assert_error(err, "INVALID_ARGUMENT", "status")
      local html = { ["Content-Type"] = "text/html" }
      r, err = c:process({ status = 502, headers = html, body = "<h1>502</h1>" })
      assert.is_nil(r)
      assert_error(err, "HTTP_ERROR")
      assert.equals("<h1>502</h1>", err.body)
      c:close()
    end)
  end)
end)
