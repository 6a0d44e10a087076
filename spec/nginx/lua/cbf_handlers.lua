-- Handlers of the nginx spec server (spec/nginx/harness.lua): each /t/<name> location
-- runs the module inside ngx_lua and reports what happened as JSON; the busted specs
-- assert on it. /v1/functions/<name> is a fake gateway written on the raw downstream
-- socket, for the HTTP framing the real gateway never produces (1xx, close-delimited,
-- trickled or malformed responses).
local cjson = require "cjson"
local functions = require "cloudbase.functions"
local cbngx = require "cloudbase.functions.ngx"

local M = {}
local S -- settings from the spec (strings)
local probe = ngx.shared.cbf_probe

function M.init(settings)
  S = settings
end

local function plain(v)
  if functions.is_error(v) then
    return { is_error = true, code = v.code, message = v.message, status = v.status,
             request_id = v.request_id, text = tostring(v) }
  end
  return v
end

local function outcome(ok, a, b)
  return { ok = ok, result = plain(a), info = b and { status = b.status, request_id = b.request_id,
                                                       content_type = b.content_type,
                                                       elapsed = b.elapsed } or nil }
end

-- try_invoke's two results, ready for JSON
local function try(client, name, payload, opts)
  local result, info = client:try_invoke(name, payload, opts)
  if result == nil and functions.is_error(info) then
    return outcome(false, info)
  end
  return outcome(true, result, info)
end

local function gw_client(extra)
  local opts = { base_url = S.gw_url, token = "test-api-key", timeout = 10 }
  for k, v in pairs(extra or {}) do
    opts[k] = v
  end
  return cbngx.new(opts)
end

local function tls_name()
  return "test-env.api.tcloudbasegateway.com"
end

local T = {}

function T.plain()
  local client = gw_client({ headers = { ["X-Client-Tag"] = "spec" }, qualifier = "$LATEST" })
  local r, info = client:invoke("inspect", { a = 1 }, { headers = { ["X-Call"] = "one" } })
  local big = string.rep("z", 300000)
  local echoed = client:invoke("echo", { big = big })
  local nothing = try(client, "nil_result", {})
  local items = client:invoke("fault_gzip", { items = 50 })
  return {
    result = r, status = info.status, request_id = info.request_id,
    content_type = info.content_type, elapsed = info.elapsed,
    echoed_ok = echoed.big == big, nil_result = nothing, items = #items.items,
    gateway = S.gw_url,
  }
end

function T.errors()
  local client = gw_client()
  local closed_port = gw_client({ base_url = "http://127.0.0.1:" .. S.closed_port })
  local short = gw_client({ timeout = 0.3 })
  local small = gw_client({ max_response_size = 1000 })
  local anon = gw_client({ token = "test-anon-token" })
  local raised_ok, raised = pcall(client.invoke, client, "no_such_fn", {})
  local bad_ok, bad = pcall(client.invoke, client, "echo", { 1, 2 })
  return {
    not_found = try(client, "no_such_fn", {}),
    throws = try(client, "throws", {}),
    denied = try(anon, "admin_only", {}),
    html502 = try(client, "fault_html502", {}),
    redirect = try(client, "fault_redirect", {}),
    malformed = try(client, "fault_malformed", {}),
    drop = try(client, "fault_drop", {}),
    timeout = try(short, "sleep", { ms = 3000 }),
    refused = try(closed_port, "echo", {}),
    too_large = try(small, "fault_huge", { bytes = 5000 }),
    fits = try(small, "fault_huge", { bytes = 900 }),
    invalid_name = try(client, "1bad", {}),
    raised = { ok = raised_ok, error = plain(raised) },
    bad_payload = { ok = bad_ok, error = plain(bad) },
  }
end

function T.tls()
  local name = tls_name()
  local resolve = { name .. ":" .. S.tls_port .. ":127.0.0.1",
                    "wrong.example:" .. S.tls_port .. ":127.0.0.1" }
  local good = cbngx.new({ base_url = "https://" .. name .. ":" .. S.tls_port, token = "test-api-key",
                           resolve = resolve, timeout = 10 })
  local before = cbngx.stats()
  local first = try(good, "echo", { n = 1 })
  local second = try(good, "echo", { n = 2 })
  local after = cbngx.stats()
  local wrong = cbngx.new({ base_url = "https://wrong.example:" .. S.tls_port, token = "test-api-key",
                            resolve = resolve, timeout = 10 })
  local by_ip = cbngx.new({ base_url = "https://127.0.0.1:" .. S.tls_port, token = "test-api-key",
                            timeout = 10 })
  local plain_to_tls = gw_client({ base_url = "http://127.0.0.1:" .. S.tls_port, timeout = 2 })
  return {
    first = first, second = second,
    connections = after.connections - before.connections, reused = after.reused - before.reused,
    wrong_name = try(wrong, "echo", {}),
    by_ip = try(by_ip, "echo", {}),
    plain_to_tls = try(plain_to_tls, "echo", {}),
  }
end

function T.invoke_all()
  local client = gw_client()
  local calls = {}
  for i = 1, 8 do
    calls[i] = { "sleep", { ms = 200, i = i } }
  end
  calls[9] = { name = "no_such_fn" }
  calls[10] = "not a table"
  calls[11] = { name = "echo", payload = { last = true }, qualifier = "$LATEST" }
  calls[12] = { name = "echo", colour = "red" }
  local list = client:invoke_all(calls, { concurrency = 8 })
  local out = {}
  for i, r in ipairs(list) do
    out[i] = r.ok and outcome(true, r.result, r.info) or outcome(false, r.error)
  end
  local one = client:invoke_all({ { "echo", { x = 1 } }, { "echo", { x = 2 } } }, { concurrency = 1 })
  local ok, bad_opts = pcall(client.invoke_all, client, {}, { concurrency = 0 })
  return { list = out, n = #list, sequential = { one[1].result.x, one[2].result.x },
           bad_opts = { ok = ok, error = plain(bad_opts) } }
end

-- A user transport that yields: it sleeps on nginx's timer, then sends the request
-- through the cosocket transport. Through a C frame this was "attempt to yield
-- across C-call boundary".
function T.user_transport()
  local send = cbngx.transport()
  local seen = 0
  local client = functions.new({ base_url = S.gw_url, token = "test-api-key", transport = function(req)
    ngx.sleep(0.01)
    seen = seen + 1
    return send(req)
  end })
  local r = try(client, "echo", { hello = "yield" })
  local list = client:invoke_all({ { "echo", { k = 1 } }, { "echo", { k = 2 } }, { "nope_fn" } })
  local raises = functions.new({ base_url = S.gw_url, transport = function()
    ngx.sleep(0.001)
    error("transport exploded", 0)
  end })
  local gives_up = functions.new({ base_url = S.gw_url, transport = function()
    ngx.sleep(0.001)
    return nil, "TIMEOUT", "user transport gave up"
  end })
  return {
    result = r, seen = seen,
    all = { list[1].ok and list[1].result.k, list[2].ok and list[2].result.k,
            list[3].ok, list[3].error and list[3].error.code },
    raises = try(raises, "echo", {}),
    gives_up = try(gives_up, "echo", {}),
  }
end

function T.keepalive()
  -- a host name of its own: a pool of its own, untouched by the other handlers
  local host = "test-env.api.tcloudbasegateway.com:" .. S.gw_port
  local client = gw_client({ base_url = "http://" .. host, resolve = { host .. ":127.0.0.1" },
                             pool_size = 4, keepalive_timeout = 30 })
  local before = cbngx.stats()
  for i = 1, 5 do
    client:invoke("echo", { i = i })
  end
  local mid = cbngx.stats()
  -- a call cut short must not leave its connection in the pool
  local drop = try(client, "fault_drop", {})
  local after_drop = cbngx.stats()
  client:invoke("echo", { again = true })
  local after = cbngx.stats()
  return {
    connections = mid.connections - before.connections, reused = mid.reused - before.reused,
    drop = drop, after_drop_new = after.connections - after_drop.connections,
  }
end

-- lua-resty-http as the transport (the in-repo stand-in unless CBF_SPEC_LUA_PATH puts
-- the real library first).
function T.resty_http()
  local http = require "resty.http"
  if http.calls then
    http.calls = {} -- the stand-in's record
  end
  local send = cbngx.resty_http_transport(http, { pool_size = 8, keepalive_timeout = 10 })
  local function client(extra)
    local opts = { base_url = S.gw_url, token = "test-api-key", transport = send }
    for k, v in pairs(extra or {}) do
      opts[k] = v
    end
    return functions.new(opts)
  end
  local c = client()
  local r = try(c, "inspect", { via = "resty" }, { headers = { ["X-Call"] = "resty" } })
  local list = c:invoke_all({ { "sleep", { ms = 100 } }, { "sleep", { ms = 100 } }, { "no_such_fn" } })
  local ok, bad = pcall(cbngx.resty_http_transport, {})
  return {
    library = http._VERSION,
    result = r,
    all = { list[1].ok, list[2].ok, list[3].error and list[3].error.code },
    not_found = try(c, "no_such_fn", {}),
    refused = try(client({ base_url = "http://127.0.0.1:" .. S.closed_port }), "echo", {}),
    timeout = try(client({ timeout = 0.3 }), "sleep", { ms = 3000 }),
    bad_module = { ok = ok, error = plain(bad) },
    stand_in_params = http.calls and http.calls[1] and {
      timeouts = http.calls[1].timeouts, ssl_verify = http.calls[1].params.ssl_verify,
      keepalive_pool = http.calls[1].params.keepalive_pool,
      keepalive_timeout = http.calls[1].params.keepalive_timeout,
    },
  }
end

-- cbngx.new's own options and the functions.new options it refuses.
function T.options()
  local function refused(opts)
    local ok, got = pcall(cbngx.new, opts)
    if ok then
      got:close()
      return { ok = true }
    end
    return { ok = false, error = plain(got) }
  end
  return {
    ca_file = refused({ base_url = S.gw_url, ca_file = "/etc/ssl/certs/ca-certificates.crt" }),
    proxy = refused({ base_url = S.gw_url, proxy = "http://proxy:3128" }),
    transport = refused({ base_url = S.gw_url, transport = function() end }),
    h2c = refused({ base_url = S.gw_url, http2 = "prior-knowledge" }),
    pool_size = refused({ base_url = S.gw_url, pool_size = 0 }),
    keepalive_timeout = refused({ base_url = S.gw_url, keepalive_timeout = "60" }),
    resolve = refused({ base_url = S.gw_url, resolve = { "no-port" } }),
    unknown = refused({ base_url = S.gw_url, colour = "red" }),
    not_a_table = refused("http://x"),
    pool = refused({ base_url = S.gw_url, pool = true }),
    max_idle = refused({ base_url = S.gw_url, max_idle = 30 }),
    preconnect = refused({ base_url = S.gw_url, preconnect = 1 }),
    fine = refused({ base_url = S.gw_url, pool_size = 2, keepalive_timeout = 0.5, http2 = false }),
  }
end

-- The fake gateway (this nginx itself) for framing cases.
function T.framing()
  local client = cbngx.new({ base_url = "http://127.0.0.1:" .. S.own_port, timeout = 2,
                             max_response_size = 4096 })
  local cases = { "chunked", "close_delimited", "interim", "conn_close", "length", "no_status",
                  "chunked_big", "close_big", "length_big", "gzip", "bad_chunk", "short_body", "head_only",
                  "bad_status", "long_header", "bad_length" }
  local out = {}
  local before = cbngx.stats()
  for _, name in ipairs(cases) do
    out[name] = try(client, name, {})
  end
  local after = cbngx.stats()
  out.reused = after.reused - before.reused
  out.connections = after.connections - before.connections
  -- every byte arrives within the read timeout: only the call's total timeout ends it
  local impatient = cbngx.new({ base_url = "http://127.0.0.1:" .. S.own_port, timeout = 0.5 })
  out.trickle = try(impatient, "trickle", {})
  return out
end

-- The stall proof. /t/slow?mode=ngx|blocking makes one 200 ms call; /t/instant answers
-- at once and counts how often it ran while a slow call was in flight.
function T.slow()
  local mode = ngx.var.arg_mode
  local client = mode == "blocking"
    and functions.new({ base_url = S.gw_url, token = "test-api-key", timeout = 10 })
    or gw_client()
  local now = probe:incr("in_flight", 1, 0)
  if now > (probe:get("peak") or 0) then
    probe:set("peak", now)
  end
  local r = try(client, "sleep", { ms = 200 })
  probe:incr("in_flight", -1)
  probe:incr("finished", 1, 0)
  client:close()
  return r
end

function T.instant()
  if (probe:get("in_flight") or 0) > 0 then
    probe:incr("served_during_slow", 1, 0)
  end
  return { finished = probe:get("finished") or 0 }
end

function T.probe_reset()
  for _, key in ipairs({ "in_flight", "peak", "finished", "served_during_slow" }) do
    probe:set(key, 0)
  end
  return { ok = true }
end

function T.probe()
  return { served_during_slow = probe:get("served_during_slow") or 0, peak = probe:get("peak") or 0,
           finished = probe:get("finished") or 0 }
end

-- Raw HTTP answers of the fake gateway, by function name.
local JSON = "Content-Type: application/json\r\n"
local raw = {
  chunked = "HTTP/1.1 200 OK\r\n" .. JSON .. "Transfer-Encoding: chunked\r\n\r\n"
    .. "4;ext=1\r\n{\"a\"\r\n6\r\n:[1,2]\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n",
  close_delimited = "HTTP/1.1 200 OK\r\n" .. JSON .. "Connection: close\r\n\r\n{\"close\":true}",
  interim = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    .. "HTTP/1.1 200 OK\r\n" .. JSON .. "Content-Length: 15\r\n\r\n{\"interim\":\"ok\"}",
  conn_close = "HTTP/1.1 200 OK\r\n" .. JSON .. "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
  length = "HTTP/1.1 200 OK\r\n" .. JSON .. "X-Request-Id: fake-1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
    .. "Content-Length: 11\r\n\r\n{\"len\":true}",
  no_status = "SSH-2.0-OpenSSH_9.2\r\n\r\n",
  chunked_big = "HTTP/1.1 200 OK\r\n" .. JSON .. "Transfer-Encoding: chunked\r\n\r\n"
    .. "1000\r\n" .. string.rep("x", 4096) .. "\r\n1000\r\n" .. string.rep("x", 4096) .. "\r\n0\r\n\r\n",
  close_big = "HTTP/1.1 200 OK\r\n" .. JSON .. "Connection: close\r\n\r\n" .. string.rep("y", 10000),
  length_big = "HTTP/1.1 200 OK\r\n" .. JSON .. "Content-Length: 100000\r\n\r\n" .. string.rep("y", 100),
  gzip = "HTTP/1.1 200 OK\r\n" .. JSON .. "Content-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
  bad_chunk = "HTTP/1.1 200 OK\r\n" .. JSON .. "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
  short_body = "HTTP/1.1 200 OK\r\n" .. JSON .. "Content-Length: 50\r\n\r\n{\"short\":",
  head_only = "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
  bad_status = "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n",
  long_header = "HTTP/1.1 200 OK\r\nX-Long: " .. string.rep("h", 70000) .. "\r\n\r\n",
  bad_length = "HTTP/1.1 200 OK\r\n" .. JSON .. "Content-Length: -5\r\n\r\n",
}

-- Fix the Content-Length of the `length` and `interim` cases to their bodies.
for _, name in ipairs({ "length", "interim" }) do
  local text = raw[name]
  local head, body = text:match("^(.*\r\nContent%-Length: )%d+\r\n\r\n(.*)$")
  raw[name] = head .. #body .. "\r\n\r\n" .. body
end

-- Answers that leave the connection open for the next request (HTTP/1.1 keep-alive).
local keeps_open = { chunked = true, interim = true, length = true, chunked_big = true, head_only = true }

-- Serves requests on the raw downstream socket until an answer closes the connection.
local function fake_gateway(name)
  ngx.req.read_body()
  local sock = assert(ngx.req.socket(true))
  while name do
    if name == "trickle" then -- headers, then a body slower than the client's timeout
      sock:send("HTTP/1.1 200 OK\r\n" .. JSON .. "Content-Length: 20\r\n\r\n{")
      for _ = 1, 30 do
        ngx.sleep(0.1)
        if not sock:send(" ") then
          break
        end
      end
      break
    end
    sock:send(raw[name] or "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    if not keeps_open[name] then
      break
    end
    -- the next request on this connection
    sock:settimeout(2000)
    local line = sock:receive("*l")
    name = line and line:match("^%u+ /v1/functions/([%w_]+)")
    local length = 0
    while name do
      line = sock:receive("*l")
      if not line or line == "" then
        break
      end
      length = tonumber(line:lower():match("^content%-length:%s*(%d+)")) or length
    end
    if name and length > 0 and not sock:receive(length) then
      break
    end
  end
  return ngx.exit(ngx.OK)
end

function M.handle()
  local uri = ngx.var.uri
  if uri == "/health" then
    return ngx.say("ok")
  end
  local fake = uri:match("^/v1/functions/([%w_]+)$")
  if fake then
    return fake_gateway(fake)
  end
  local name = uri:match("^/t/([%w_]+)$")
  local handler = name and T[name]
  if not handler then
    return ngx.exit(404)
  end
  local ok, result = pcall(handler)
  ngx.header["Content-Type"] = "application/json"
  if not ok then
    ngx.status = 500
    result = { raised = tostring(result) }
  end
  local body = cjson.encode(result)
  ngx.header["Content-Length"] = #body
  ngx.print(body)
end

return M
