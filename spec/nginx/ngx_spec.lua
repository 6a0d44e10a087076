-- cloudbase.functions inside a real nginx + ngx_lua (the LuaJIT build of the module):
-- the cosocket client (cloudbase.functions.ngx) and Lua transports that yield, calling
-- the local gateway from request handlers. See spec/nginx/lua/cbf_handlers.lua for the
-- handlers and spec/nginx/harness.lua for the server.
local gateway = require "spec.support.gateway"
local harness = require "spec.nginx.harness"
local closed_port = gateway.closed_port

describe("cloudbase.functions in nginx", function()
  local srv
  local gw = gateway.for_describe({ tls = true })

  lazy_setup(function()
    assert(harness.available())
    srv = harness.start({ settings = { gw_url = gw.url, gw_port = gw.port, tls_port = gw.tls_port,
                                       ca_file = gw.ca_file, closed_port = closed_port() } })
  end)

  lazy_teardown(function()
    if srv then
      srv:stop()
    end
  end)

  local function get(path)
    local status, body, raw = srv:get(path)
    assert.equals(200, status, raw .. "\n" .. srv:error_log())
    return body
  end

  local function ok_result(o)
    assert.is_true(o.ok, require("cjson").encode(o))
    return o.result, o.info
  end

  local function failed(o, code, fragment)
    assert.is_false(o.ok, "expected " .. code)
    assert.is_true(o.result.is_error)
    assert.equals(code, o.result.code, o.result.text)
    if fragment then
      assert.is_truthy(o.result.message:find(fragment, 1, true), o.result.message)
    end
    return o.result
  end

  it("invokes over a cosocket: result, info and every prepared header", function()
    local r = get("/t/plain")
    assert.same({ a = 1 }, r.result.event)
    assert.equals("inspect", r.result.function_name)
    assert.equals("POST", r.result.method)
    assert.equals("/v1/functions/inspect", r.result.uri)
    local h = r.result.headers
    assert.equals("127.0.0.1:" .. gw.port, h.host)
    assert.equals("spec", h["x-client-tag"])
    assert.equals("one", h["x-call"])
    assert.equals("$LATEST", h["x-qualifier"])
    assert.equals("application/json", h["content-type"])
    assert.is_truthy(h["user-agent"]:find("lua-cloudbase-functions/", 1, true))
    assert.is_string(h.accept)
    assert.equals("api_key", r.result.identity.type)
    assert.equals(200, r.status)
    assert.equals(r.result.request_id, r.request_id)
    assert.is_truthy(r.content_type:find("application/json", 1, true))
    assert.is_true(r.elapsed > 0)
    assert.is_true(r.echoed_ok) -- a 300 kB body both ways
    assert.is_true(r.nil_result.ok)
    assert.equals(require("cjson").null, r.nil_result.result) -- functions.null, as JSON null
    assert.equals(200, r.nil_result.info.status)
    assert.equals(50, r.items) -- no Accept-Encoding sent: the body comes back plain
  end)

  it("maps failures to the module's error objects, never raising from try_invoke", function()
    local r = get("/t/errors")
    local e = failed(r.not_found, "FUNCTION_NOT_FOUND")
    assert.equals(404, e.status)
    assert.is_string(e.request_id)
    assert.equals(500, failed(r.throws, "FUNCTION_INVOCATION_FAILED").status)
    assert.equals(403, failed(r.denied, "EXCEED_AUTHORITY").status)
    assert.equals(502, failed(r.html502, "HTTP_ERROR").status)
    assert.equals(302, failed(r.redirect, "HTTP_ERROR").status)
    failed(r.malformed, "INVALID_RESPONSE")
    failed(r.drop, "NETWORK_ERROR", "closed")
    failed(r.timeout, "TIMEOUT", "0.3s")
    failed(r.refused, "NETWORK_ERROR", "refused")
    failed(r.too_large, "RESPONSE_TOO_LARGE", "1000")
    ok_result(r.fits)
    failed(r.invalid_name, "INVALID_ARGUMENT")
    -- invoke raises the same objects
    assert.is_false(r.raised.ok)
    assert.equals("FUNCTION_NOT_FOUND", r.raised.error.code)
    assert.is_false(r.bad_payload.ok)
    assert.equals("INVALID_ARGUMENT", r.bad_payload.error.code)
  end)

  it("speaks TLS with certificate verification and SNI from nginx's trusted CAs", function()
    local r = get("/t/tls")
    assert.same({ n = 1 }, ok_result(r.first))
    assert.same({ n = 2 }, ok_result(r.second))
    assert.equals(1, r.connections) -- one handshake, then the pooled connection
    assert.equals(1, r.reused)
    failed(r.wrong_name, "TLS_ERROR") -- the certificate does not name wrong.example
    failed(r.by_ip, "TLS_ERROR", "host name")
    assert.equals(400, failed(r.plain_to_tls, "HTTP_ERROR").status) -- http:// to the TLS port
  end)

  it("fails closed without lua_ssl_trusted_certificate: TLS_ERROR, never an unverified call", function()
    local bare = harness.start({ settings = { gw_url = gw.url, gw_port = gw.port, tls_port = gw.tls_port,
                                              closed_port = closed_port() } })
    local status, r, raw = bare:get("/t/tls")
    bare:stop()
    assert.equals(200, status, raw)
    failed(r.first, "TLS_ERROR")
    failed(r.second, "TLS_ERROR")
    assert.equals(0, r.reused)
  end)

  it("runs invoke_all concurrently on light threads, results in order", function()
    gw:reset()
    local r = get("/t/invoke_all")
    assert.equals(12, r.n)
    for i = 1, 8 do
      assert.same({ slept = 200 }, ok_result(r.list[i]))
    end
    failed(r.list[9], "FUNCTION_NOT_FOUND")
    failed(r.list[10], "INVALID_ARGUMENT", "each call must be a table")
    assert.same({ last = true }, ok_result(r.list[11]))
    failed(r.list[12], "INVALID_ARGUMENT", "colour")
    assert.same({ 1, 2 }, r.sequential)
    assert.is_false(r.bad_opts.ok)
    assert.equals("INVALID_ARGUMENT", r.bad_opts.error.code)
    -- the gateway saw the eight sleeps at once: concurrency shown by a count, not a clock
    assert.equals(8, gw:invocations().max_in_flight.sleep)
  end)

  it("lets a user transport yield (ngx.sleep, then a cosocket)", function()
    local r = get("/t/user_transport")
    assert.same({ hello = "yield" }, ok_result(r.result))
    assert.equals(4, r.seen)
    assert.same({ 1, 2, false, "FUNCTION_NOT_FOUND" }, r.all)
    failed(r.raises, "TRANSPORT_ERROR", "transport exploded")
    failed(r.gives_up, "TIMEOUT", "user transport gave up")
  end)

  it("accepts lua-resty-http as the transport (an in-repo stand-in of its API in CI)", function()
    local r = get("/t/resty_http")
    local result = ok_result(r.result)
    assert.same({ via = "resty" }, result.event)
    assert.equals("resty", result.headers["x-call"])
    assert.same({ true, true, "FUNCTION_NOT_FOUND" }, r.all)
    assert.equals(404, failed(r.not_found, "FUNCTION_NOT_FOUND").status)
    failed(r.refused, "NETWORK_ERROR", "refused")
    failed(r.timeout, "TIMEOUT")
    assert.is_false(r.bad_module.ok)
    assert.equals("INVALID_ARGUMENT", r.bad_module.error.code)
    if r.library == "stand-in" then
      -- what the adapter asked of lua-resty-http
      assert.same({ 10000, 60000, 60000 }, r.stand_in_params.timeouts) -- connect, send, read (ms)
      assert.is_true(r.stand_in_params.ssl_verify)
      assert.equals(8, r.stand_in_params.keepalive_pool)
      assert.equals(10000, r.stand_in_params.keepalive_timeout)
    end
  end)

  it("cbngx.new takes pool_size and keepalive_timeout, and refuses what cosockets cannot do", function()
    local r = get("/t/options")
    for _, key in ipairs({ "ca_file", "proxy", "transport", "h2c", "pool_size", "keepalive_timeout",
                           "resolve", "unknown", "not_a_table", "pool", "max_idle", "preconnect" }) do
      assert.is_false(r[key].ok, key)
      assert.equals("INVALID_ARGUMENT", r[key].error.code, key)
    end
    assert.is_truthy(r.ca_file.error.message:find("lua_ssl_trusted_certificate", 1, true))
    assert.is_truthy(r.pool.error.message:find("pool_size", 1, true))
    assert.is_true(r.fine.ok)
  end)

  it("keeps connections alive in the cosocket pool, but never one left half read", function()
    local r = get("/t/keepalive")
    assert.is_true(r.connections <= 1, "connections opened: " .. r.connections)
    assert.is_true(r.reused >= 4, "calls on a pooled connection: " .. r.reused)
    failed(r.drop, "NETWORK_ERROR")
    assert.equals(1, r.after_drop_new) -- the cut connection was not pooled
  end)

  it("reads Content-Length, chunked and close-delimited bodies, skips 1xx, bounds everything", function()
    local r = get("/t/framing")
    assert.same({ a = { 1, 2 } }, ok_result(r.chunked))
    assert.same({ close = true }, ok_result(r.close_delimited))
    assert.same({ interim = "ok" }, ok_result(r.interim))
    assert.same({}, ok_result(r.conn_close))
    local _, info = ok_result(r.length) -- right after a "Connection: close": a new connection
    assert.equals("fake-1", info.request_id)
    failed(r.no_status, "INVALID_RESPONSE", "status line")
    failed(r.bad_status, "INVALID_RESPONSE", "status line")
    failed(r.long_header, "RESPONSE_TOO_LARGE", "headers")
    failed(r.bad_length, "INVALID_RESPONSE", "Content-Length")
    failed(r.chunked_big, "RESPONSE_TOO_LARGE")
    failed(r.close_big, "RESPONSE_TOO_LARGE")
    failed(r.length_big, "RESPONSE_TOO_LARGE")
    failed(r.gzip, "INVALID_RESPONSE", "gzip")
    failed(r.bad_chunk, "NETWORK_ERROR", "chunked")
    failed(r.short_body, "NETWORK_ERROR", "closed")
    local none, head_info = ok_result(r.head_only)
    assert.is_nil(none)
    assert.equals(204, head_info.status)
    -- the body trickles in faster than any read timeout: the total timeout still ends it
    failed(r.trickle, "TIMEOUT", "0.5s")
    -- keep-alive answers (chunked, interim, length, head_only) lent their connection to the next call
    assert.equals(4, r.reused)
  end)

  -- The proof of issue 9: while eight handlers wait on a 200 ms function, another
  -- location keeps answering. A load loop hits /t/instant, which counts the times it
  -- ran while a slow call was in flight; with the blocking C invoke that count is 0 by
  -- construction (the worker cannot run anything else), with the cosocket client it is
  -- positive. Counts, not clocks.
  local function stall_run(mode)
    assert.equals(200, (srv:get("/t/probe_reset")))
    local slow = io.popen(("for i in 1 2 3 4 5 6 7 8; do curl -s --max-time 30 %s/t/slow?mode=%s"
                           .. " -o /dev/null -w '%%{http_code}\\n' & done; wait"):format(srv.url, mode))
    local requests = srv:hammer("/t/instant", { stop = function(body)
      return tonumber(body:match('"finished":(%d+)')) == 8
    end })
    local codes = slow:read("*a")
    slow:close()
    local _, stats = srv:get("/t/probe")
    return stats, select(2, codes:gsub("200", "")), requests
  end

  it("keeps another location answering while eight handlers wait on a slow function", function()
    local stats, ok_count, requests = stall_run("ngx")
    assert.equals(8, ok_count)
    assert.equals(8, stats.finished)
    assert.equals(8, stats.peak) -- all eight were waiting at once
    assert.is_true(stats.served_during_slow >= 5,
                   ("instant answers while slow calls were in flight: %d (of %d)"):format(
                     stats.served_during_slow, requests))
  end)

  it("for contrast, the blocking C invoke stalls the worker: nothing else runs meanwhile", function()
    local stats, ok_count = stall_run("blocking")
    assert.equals(8, ok_count)
    assert.equals(8, stats.finished)
    assert.equals(1, stats.peak) -- one at a time
    assert.equals(0, stats.served_during_slow)
  end)
end)
