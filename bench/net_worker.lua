-- One network measurement per process, driven by bench/net.lua:
--   lua5.4 bench/net_worker.lua seq    who=... url=... [resolve= ca= http=1.1|2] seconds= max=
--   lua5.4 bench/net_worker.lua fanout who=... url=... [...] count= concurrency=
--   lua5.4 bench/net_worker.lua calls  who=... url=... [...] max=   (prints nothing)
-- Prints key=value lines; "error=..." when the measurement could not be made.
-- Loads on Lua 5.1 too: Debian 12's lua-http runs only there.
--
-- Contenders (`who`), each making the module's request (same headers, same
-- payload) and decoding the answer into Lua values:
--   module          client:invoke / client:invoke_all
--   luasocket       socket.http.request (http://) or ssl.https.request (https://):
--                   what Lua users write today, a new connection per call
--   luasocket_kept  one luasocket (+ luasec) connection kept open, HTTP/1.1 by hand:
--                   luasocket's http module sends "Connection: close" and cannot
--   luahttp         lua-http's http.request.new_from_uri(...):go() per call (the
--                   documented way; a new connection each time)
--   luahttp_kept    one http.client connection (HTTP/1.1: one per coroutine;
--                   HTTP/2: one for all, a stream per call)
package.path = "./bench/?.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath -- make's default build

local common = require "common"
local emit, now, cpu = common.emit, common.now, common.cpu

local mode = arg[1]
local opt = common.options(arg, 2)
local function num(k, default)
  local v = tonumber(opt[k])
  if v == nil then v = default end
  return assert(v, "missing " .. k)
end

local PATH = "/v1/functions/echo"
local url = assert(opt.url, "missing url")
local token = opt.token or "test-api-key"
local http2 = opt.http == "2"
local scheme, host, port = url:match("^(https?)://([^:/]+):(%d+)$")
assert(scheme, "url must be scheme://host:port")
port = tonumber(port)
-- Peers without a resolve option connect to the address itself (the gateway's
-- certificate names 127.0.0.1 as well as the host name).
local address = opt.resolve and opt.resolve:match("^[^:]+:%d+:(.+)$") or host
local tls = scheme == "https"

-- The module's headers (src/request.c) and libcurl's Accept-Encoding. The module sends
-- a fresh UUID as X-Request-Id every call; the peers send a new one too (a counter,
-- next_request_id), as over HTTP/2 a value never sent before costs more than a repeated one.
local HEADERS = {
  { "x-request-id", "3f9c2a7e-51d4-4b8e-9a61-000000000000" },
  { "content-type", "application/json" },
  { "accept", "application/json, text/plain;q=0.9, */*;q=0.8" },
  { "user-agent", "lua-cloudbase-functions/0.1.0" },
  { "authorization", "Bearer " .. token },
  { "accept-encoding", "deflate, gzip, br, zstd" },
}

local payload = common.payload()

local request_ids = 0
local function next_request_id()
  request_ids = request_ids + 1
  HEADERS[1][2] = string.format("3f9c2a7e-51d4-4b8e-9a61-%012x", request_ids)
end

-------------------------------------------------------------------- contenders
-- Each returns { call = function() -> decoded answer, body bytes end, close = fn }.
local contenders = {}

local function module()
  local ok, m = pcall(require, "cloudbase.functions")
  if not ok then error("module not built: " .. tostring(m):gsub("\n.*", "")) end
  return m
end

local function module_options(extra)
  local o = { base_url = url, token = token, timeout = 30, ca_file = opt.ca,
    resolve = opt.resolve and { opt.resolve } or nil, http2 = http2 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

function contenders.module()
  local client = module().new(module_options())
  local size
  return {
    call = function()
      local r, info = client:invoke("echo", payload)
      size = size or tonumber(info.headers["content-length"])
      return r, size
    end,
    close = function() client:close() end,
  }
end

local cjson = require "cjson"

local function request_text(body)
  local lines = { "POST " .. PATH .. " HTTP/1.1", "Host: " .. host .. ":" .. port }
  for _, h in ipairs(HEADERS) do lines[#lines + 1] = h[1] .. ": " .. h[2] end
  lines[#lines + 1] = "Content-Length: " .. #body
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. body
end

-- luasec's parameters: verify the chain against the run's CA (its default is to
-- verify nothing). luasec never checks the host name.
local function ssl_params()
  return { mode = "client", protocol = "any", verify = "peer", cafile = opt.ca,
    options = { "all", "no_sslv2", "no_sslv3" } }
end

function contenders.luasocket()
  local ltn12 = require "ltn12"
  local request
  if tls then
    local https = require "ssl.https"
    local params = ssl_params()
    request = function(t)
      for k, v in pairs(params) do t[k] = v end
      return https.request(t)
    end
  else
    request = require("socket.http").request
  end
  local target = scheme .. "://" .. address .. ":" .. port .. PATH
  return {
    call = function()
      next_request_id()
      local body = cjson.encode(payload)
      local chunks = {}
      local headers = { ["content-length"] = tostring(#body) }
      for _, h in ipairs(HEADERS) do headers[h[1]] = h[2] end
      local ok, code = request {
        url = target, method = "POST", headers = headers,
        source = ltn12.source.string(body), sink = ltn12.sink.table(chunks),
      }
      if not ok or code ~= 200 then error("call failed: " .. tostring(code)) end
      local text = table.concat(chunks)
      return cjson.decode(text), #text
    end,
    close = function() end,
  }
end

function contenders.luasocket_kept()
  local socket = require "socket"
  local sock
  local function connect()
    local s = assert(socket.tcp())
    s:setoption("tcp-nodelay", true)
    s:settimeout(30)
    assert(s:connect(address, port))
    if tls then
      local ssl = require "ssl"
      s = assert(ssl.wrap(s, ssl_params()))
      s:sni(host)
      assert(s:dohandshake())
    end
    return s
  end
  local function read_body(headers)
    local len = tonumber(headers["content-length"])
    if len then return assert(sock:receive(len)) end
    assert((headers["transfer-encoding"] or ""):lower() == "chunked", "no length")
    local parts = {}
    while true do
      local size = tonumber(assert(sock:receive("*l")):match("^%x+"), 16)
      if size == 0 then
        assert(sock:receive("*l"))
        return table.concat(parts)
      end
      parts[#parts + 1] = assert(sock:receive(size))
      assert(sock:receive("*l"))
    end
  end
  return {
    call = function()
      next_request_id()
      sock = sock or connect()
      assert(sock:send(request_text(cjson.encode(payload))))
      local status = assert(sock:receive("*l"))
      local code = tonumber(status:match("^HTTP/1%.%d (%d%d%d)"))
      local headers = {}
      while true do
        local line = assert(sock:receive("*l"))
        if line == "" then break end
        local k, v = line:match("^([^:]+):%s*(.-)%s*$")
        headers[k:lower()] = v
      end
      local text = read_body(headers)
      if code ~= 200 then error("call failed: " .. tostring(code)) end
      if (headers.connection or ""):lower() == "close" then
        sock:close()
        sock = nil
      end
      return cjson.decode(text), #text
    end,
    close = function() if sock then sock:close() end end,
  }
end

-- One TLS context per process, as a program would keep it (building one loads the
-- system's CA bundle).
local ctx_made
local function luahttp_ctx()
  if not tls then return nil end
  if ctx_made then return ctx_made end
  local http_tls = require "http.tls"
  local x509 = require "openssl.x509"
  local ctx = http_tls.new_client_context()
  local f = assert(io.open(assert(opt.ca, "missing ca"), "rb"))
  ctx:getStore():add(x509.new(f:read("*a")))
  f:close()
  ctx_made = ctx
  return ctx
end

local function luahttp_headers(body)
  local headers = require("http.headers").new()
  headers:append(":method", "POST")
  headers:append(":scheme", scheme)
  headers:append(":authority", address .. ":" .. port)
  headers:append(":path", PATH)
  for _, h in ipairs(HEADERS) do headers:append(h[1], h[2]) end
  headers:append("content-length", tostring(#body))
  return headers
end

local function luahttp_check(headers, stream)
  local text = assert(stream:get_body_as_string(30))
  if headers:get(":status") ~= "200" then error("call failed: " .. headers:get(":status")) end
  return cjson.decode(text), #text
end

function contenders.luahttp()
  local request = require "http.request"
  local ctx = luahttp_ctx()
  local target = scheme .. "://" .. address .. ":" .. port .. PATH
  return {
    call = function()
      next_request_id()
      local body = cjson.encode(payload)
      local req = request.new_from_uri(target)
      req.ctx = ctx
      req.version = http2 and 2 or 1.1
      req.headers:upsert(":method", "POST")
      for _, h in ipairs(HEADERS) do req.headers:upsert(h[1], h[2]) end
      req:set_body(body)
      local headers, stream = req:go(30)
      if not headers then error("call failed: " .. tostring(stream)) end
      return luahttp_check(headers, stream)
    end,
    close = function() end,
  }
end

-- One kept connection; `shared` (fan-out over HTTP/2) is handed in by the caller.
function contenders.luahttp_kept(shared)
  local client = require "http.client"
  local ctx = luahttp_ctx()
  local conn = shared
  return {
    call = function()
      next_request_id()
      conn = conn or assert(client.connect({ host = address, port = port, tls = tls, ctx = ctx,
        version = http2 and 2 or 1.1 }, 30))
      local body = cjson.encode(payload)
      local stream = assert(conn:new_stream())
      assert(stream:write_headers(luahttp_headers(body), false, 30))
      assert(stream:write_chunk(body, true, 30))
      local headers = assert(stream:get_headers(30))
      local r, size = luahttp_check(headers, stream)
      stream:shutdown()
      return r, size
    end,
    close = function() if conn and not shared then conn:close() end end,
  }
end

------------------------------------------------------------------------- modes
local modes = {}

local function median(t)
  table.sort(t)
  local n = #t
  if n == 0 then return nil end
  if n % 2 == 1 then return t[(n + 1) / 2] end
  return (t[n / 2] + t[n / 2 + 1]) / 2
end

-- Features other work adds to the module later; measured once they exist.
-- client:connect(n): wall time of the first call after it returned.
local function after_connect()
  local functions = module()
  local client = functions.new(module_options())
  if type(client.connect) ~= "function" then
    client:close()
    return nil, "not implemented"
  end
  local ok, err = pcall(client.connect, client)
  if not ok then
    client:close()
    return nil, "connect failed: " .. tostring(type(err) == "table" and err.message or err)
  end
  local t0 = now()
  client:invoke("echo", payload)
  local dt = now() - t0
  client:close()
  return dt
end

-- A second client sharing the first one's connections (functions.pool() handed
-- to both, or share = true): wall time of its first call.
local function shared_first()
  local functions = module()
  local how
  if type(functions.pool) == "function" then
    local pool = functions.pool()
    how = function() return functions.new(module_options({ pool = pool })) end
  else
    local ok, c = pcall(functions.new, module_options({ share = true }))
    if not ok then return nil, "not implemented" end
    c:close()
    how = function() return functions.new(module_options({ share = true })) end
  end
  local a = how()
  a:invoke("echo", payload)
  local b = how()
  local t0 = now()
  b:invoke("echo", payload)
  local dt = now() - t0
  b:close()
  a:close()
  return dt
end

-- The first call on a new contender (connection set-up included), then calls
-- until `seconds` have passed or `max` were made.
function modes.seq()
  local make = assert(contenders[opt.who], "unknown contender " .. tostring(opt.who))
  local seconds, max = num("seconds"), num("max")
  local c = make()
  local t0 = now()
  local first, size = c.call()
  emit("first_seconds", now() - t0)
  if not common.equal(first, payload) then
    emit("error", "echo did not return the payload")
    return
  end
  local times, n = {}, 0
  local c0 = cpu()
  t0 = now()
  local t = t0
  while n < max do
    c.call()
    local t1 = now()
    n = n + 1
    times[n] = t1 - t
    t = t1
    if t - t0 >= seconds then break end
  end
  local cpu_s = cpu() - c0
  c.close()
  emit("calls", n)
  emit("seconds", t - t0)
  emit("rate", n / (t - t0))
  emit("warm_median_seconds", median(times))
  emit("cpu_us", cpu_s * 1e6 / n)
  emit("response_bytes", size or "?")
  if opt.who == "module" and tls then
    local dt, why = after_connect()
    emit("after_connect_seconds", dt or why)
    dt, why = shared_first()
    emit("shared_first_seconds", dt or why)
  end
end


-- A first call, then `max` more and nothing else: what bench/callgrind.lua counts the
-- instructions of (seq's clock reads and median sort would count as the contender's).
function modes.calls()
  local c = assert(contenders[opt.who], "unknown contender " .. tostring(opt.who))()
  for _ = 0, num("max") do c.call() end
  c.close()
end

-- `count` calls at `concurrency`, twice on the same client: cold (a new client:
-- its connections are opened inside) and warm. CPU per call of the last batch.
-- lua-http's idiomatic way opens a connection per call: passes=1 runs it once.
local fanout = {}

function fanout.module(count, conc)
  local client = module().new(module_options())
  local list = {}
  for i = 1, count do list[i] = { "echo", payload } end
  local out = {}
  for pass = 1, 2 do
    local t0, c0 = now(), cpu()
    local results = client:invoke_all(list, { concurrency = conc })
    out[pass], out.cpu = now() - t0, cpu() - c0
    local failed, why = common.count_failures(results, count, payload)
    if failed > 0 then error(failed .. " calls failed: " .. tostring(why)) end
  end
  client:close()
  return out[1], out[2], out.cpu
end

-- lua-http under cqueues: `conc` coroutines take calls from a shared counter.
-- `drive`, when given, runs in one more coroutine while they work (see below).
local function luahttp_fanout(count, conc, make_worker, drive)
  local cqueues = require "cqueues"
  local out = {}
  local workers = {}
  for pass = 1, num("passes", 2) do
    local cq = cqueues.new()
    local left, failures, active = count, 0, conc
    local t0, c0 = now(), cpu()
    for w = 1, conc do
      cq:wrap(function()
        workers[w] = workers[w] or make_worker()
        while left > 0 do
          left = left - 1
          -- No pcall: on Lua 5.1 a coroutine cannot yield inside one. An error
          -- ends cq:loop() with its message.
          if not common.equal(workers[w].call(), payload) then failures = failures + 1 end
        end
        active = active - 1
      end)
    end
    if drive then cq:wrap(function() drive(function() return active > 0 end) end) end
    local ok, err = cq:loop()
    if not ok then error(err) end
    out[pass], out.cpu = now() - t0, cpu() - c0
    if failures > 0 then error(failures .. " calls did not echo the payload") end
  end
  for _, w in pairs(workers) do w.close() end
  return out[1], out[2], out.cpu
end

function fanout.luahttp(count, conc)
  return luahttp_fanout(count, conc, contenders.luahttp)
end

function fanout.luahttp_kept(count, conc)
  if not http2 then return luahttp_fanout(count, conc, contenders.luahttp_kept) end
  -- HTTP/2: one connection for all coroutines (opened by the first, inside the
  -- cold batch), a stream per call.
  local condition = require "cqueues.condition"
  local ready, state = condition.new(), nil -- nil, "connecting" or the connection
  local function shared()
    if state == nil then
      state = "connecting"
      state = assert(require("http.client").connect({ host = address, port = port, tls = tls,
        ctx = luahttp_ctx(), version = 2 }, 30))
      ready:signal()
    end
    while state == "connecting" do ready:wait() end
    return state
  end
  -- lua-http 0.4: when several coroutines wait for streams of one HTTP/2
  -- connection, some never wake (measured: 4 of 64 calls at c16 time out) unless
  -- a coroutine keeps stepping the connection; so one does, as a program would.
  local function drive(busy)
    while busy() do
      if type(state) == "table" then assert(state:step(0.005)) else ready:wait(0.005) end
    end
  end
  local cold, warm, cpu_s = luahttp_fanout(count, conc, function()
    return contenders.luahttp_kept(shared())
  end, drive)
  state:close()
  return cold, warm, cpu_s
end

function modes.fanout()
  local fn = assert(fanout[opt.who], "no fan-out for " .. tostring(opt.who))
  local count = num("count")
  local cold, warm, cpu_s = fn(count, num("concurrency"))
  emit("cold_seconds", cold)
  if warm then emit("warm_seconds", warm) end
  emit("cpu_us", cpu_s * 1e6 / count)
end

common.dispatch(modes, mode, "usage: lua5.4 bench/net_worker.lua seq|fanout key=value...")
