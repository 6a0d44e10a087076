-- cloudbase.functions.ngx: the client for OpenResty / ngx_lua, on cosockets.
--
--   local cbngx = require "cloudbase.functions.ngx"
--   local client = cbngx.new { base_url = "https://...", token = "...", pool_size = 32 }
--   local result, info = client:invoke("sum", { numbers = { 1, 2 } })  -- yields to nginx
--
-- `new` returns an ordinary cloudbase.functions client whose transport is the cosocket
-- transport below: invoke, try_invoke, invoke_all, prepare, process and close behave as
-- they do with libcurl, but a call waits on nginx's event loop instead of blocking the
-- worker. The C module still validates, builds the request and turns the response into
-- a result or an error; this file only moves HTTP/1.1 bytes.
local functions = require "cloudbase.functions"

local ngx = ngx
if type(ngx) ~= "table" or type(ngx.socket) ~= "table" then
  error("cloudbase.functions.ngx runs inside OpenResty / ngx_lua only: elsewhere use cloudbase.functions", 2)
end
local tcp = ngx.socket.tcp
local concat, insert = table.concat, table.insert
local floor, min = math.floor, math.min
local ipairs, pairs, tonumber, tostring, type = ipairs, pairs, tonumber, tostring, type
local setmetatable, error = setmetatable, error

local M = {}

local DEFAULT_POOL_SIZE = 32
local DEFAULT_KEEPALIVE_TIMEOUT = 60 -- seconds a pooled connection may stay idle
local MAX_HEADER_BYTES = 64 * 1024
local READ_CHUNK = 64 * 1024

-- Per-worker counters: new connections opened, calls served on a pooled one.
local counters = { connections = 0, reused = 0 }

local function raise(message)
  error(setmetatable({ code = "INVALID_ARGUMENT", message = message }, functions.Error), 2)
end

-- "scheme://authority/path" -> parts, or nil. The URL comes from the C core, so it is
-- well formed; this only splits it.
local function split_url(url)
  local scheme, authority, path = url:match("^(https?)://([^/]+)(/.*)$")
  if not scheme then
    return nil
  end
  local host, port = authority:match("^%[(.+)%]:?(%d*)$")
  if not host then
    host, port = authority:match("^([^:]+):?(%d*)$")
  end
  if not host then
    return nil
  end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  return { scheme = scheme, authority = authority, host = host, port = port, path = path }
end

-- { "host:port:address", ... } (curl --resolve) -> { ["host:port"] = address }
local function resolve_map(list)
  local map = {}
  if list == nil then
    return map
  end
  if type(list) ~= "table" then
    raise("resolve must be a list of \"host:port:address\" strings")
  end
  for _, entry in ipairs(list) do
    local host, port, address = tostring(entry):match("^([^:]+):(%d+):(.+)$")
    if not host then
      raise("resolve must be a list of \"host:port:address\" strings")
    end
    map[host:lower() .. ":" .. port] = address:match("^%[(.*)%]$") or address
  end
  return map
end

local function positive(value, name, integer)
  if value == nil then
    return nil
  end
  if type(value) ~= "number" or value <= 0 or (integer and value ~= floor(value)) then
    raise(name .. (integer and " must be a positive integer" or " must be a positive number"))
  end
  return value
end

local function request_text(req, url)
  local lines = { req.method .. " " .. url.path .. " HTTP/1.1" }
  local has_host = false
  for name, value in pairs(req.headers) do
    if name:lower() == "host" then
      has_host = true
    end
    lines[#lines + 1] = name .. ": " .. value
  end
  if not has_host then
    insert(lines, 2, "Host: " .. url.authority)
  end
  local body = req.body
  if body then
    lines[#lines + 1] = "Content-Length: " .. #body
  elseif req.method == "POST" or req.method == "PUT" or req.method == "PATCH" then
    lines[#lines + 1] = "Content-Length: 0"
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = body or ""
  return concat(lines, "\r\n")
end

-- Reads from a cosocket through a small buffer with receiveany, so that every wait is
-- bounded by what is left of the call's total timeout: a receive(n) re-arms its timer
-- whenever a byte arrives, and a server trickling bytes would never time out.
local function reader(sock, deadline)
  local buf = ""
  local r = {}

  local function fill(max)
    ngx.update_time()
    local ms = floor((deadline - ngx.now()) * 1000)
    if ms <= 0 then
      return nil, "timeout"
    end
    sock:settimeout(ms)
    return sock:receiveany(max)
  end

  -- a line without its CR LF; at most `limit` bytes
  function r.line(limit)
    while true do
      local lf = buf:find("\n", 1, true)
      if lf then
        local line = buf:sub(1, lf - 1):gsub("\r$", "")
        buf = buf:sub(lf + 1)
        return line
      end
      if #buf > limit then
        return nil, "line too long"
      end
      local data, err = fill(READ_CHUNK)
      if not data then
        return nil, err
      end
      buf = buf .. data
    end
  end

  -- exactly n bytes, appended to `parts`
  function r.bytes(n, parts)
    if #buf > 0 then
      local take = buf:sub(1, n)
      buf = buf:sub(#take + 1)
      parts[#parts + 1] = take
      n = n - #take
    end
    while n > 0 do
      local data, err = fill(min(n, READ_CHUNK))
      if not data then
        return nil, err
      end
      parts[#parts + 1] = data
      n = n - #data
    end
    return true
  end

  -- everything up to the server's close, appended to `parts`; false once over `max`
  function r.rest(parts, max)
    local size = #buf
    parts[#parts + 1] = buf
    buf = ""
    while size <= max do
      local data, err = fill(READ_CHUNK)
      if not data then
        if err == "closed" then
          return true
        end
        return nil, err
      end
      size = size + #data
      parts[#parts + 1] = data
    end
    return false
  end

  return r
end

-- Status line and headers, 1xx interim responses skipped.
-- Returns status, minor version, headers | nil, code, message.
-- Error codes follow the libcurl transport's: what is not HTTP is INVALID_RESPONSE,
-- headers over the limit are RESPONSE_TOO_LARGE.
local function read_head(rd, fail)
  while true do
    local line, err = rd.line(MAX_HEADER_BYTES)
    if not line then
      return fail("reading the status line from", err)
    end
    local minor, code = line:match("^HTTP/1%.(%d) (%d%d%d)")
    local status = tonumber(code)
    if not minor or status < 100 or status > 599 then
      return nil, "INVALID_RESPONSE", "the reply is not HTTP/1.x (no valid status line)"
    end
    local headers, budget = {}, MAX_HEADER_BYTES
    while true do
      line, err = rd.line(budget)
      if err == "line too long" or (line and #line > budget) then
        return nil, "RESPONSE_TOO_LARGE", ("response headers are over %d bytes"):format(MAX_HEADER_BYTES)
      elseif not line then
        return fail("reading headers from", err)
      end
      if line == "" then
        break
      end
      budget = budget - #line
      local name, value = line:match("^([^:%s]+):%s*(.-)%s*$")
      if not name then
        return nil, "INVALID_RESPONSE", "malformed response header line"
      end
      name = name:lower()
      local old = headers[name]
      if old == nil then
        headers[name] = value
      elseif type(old) == "table" then
        old[#old + 1] = value
      else
        headers[name] = { old, value }
      end
    end
    if status >= 200 or status == 101 then
      return status, minor, headers
    end
  end
end

-- A chunked body into `parts`. Returns true | nil, code, message.
local function read_chunked(rd, parts, max, fail, too_large)
  local size = 0
  while true do
    local line, err = rd.line(1024)
    if not line then
      return fail("reading a chunk from", err)
    end
    local hex = line:match("^%s*(%x+)")
    local n = hex and tonumber(hex, 16)
    if not n then
      return nil, "NETWORK_ERROR", "malformed chunked body"
    end
    if n == 0 then
      repeat -- trailers, up to the empty line
        line, err = rd.line(MAX_HEADER_BYTES)
        if not line then
          return fail("reading trailers from", err)
        end
      until line == ""
      return true
    end
    size = size + n
    if size > max then
      return too_large()
    end
    local ok
    ok, err = rd.bytes(n, parts)
    if not ok then
      return fail("reading a chunk from", err)
    end
    line, err = rd.line(2)
    if line == nil then
      return fail("reading a chunk from", err)
    elseif line ~= "" then
      return nil, "NETWORK_ERROR", "malformed chunked body"
    end
  end
end

-- One exchange on a connected socket. Returns response, reusable | nil, code, message.
local function exchange(sock, req, url, deadline, reused)
  local function fail(what, err)
    if err == "closed" and reused and what == "reading the status line from" then
      -- as the libcurl transport: never sent twice behind the caller's back
      return nil, "NETWORK_ERROR", "the connection closed before any response: the request may"
        .. " have reached the server, and was not sent again"
    end
    if err == "timeout" then
      return nil, "TIMEOUT", ("timed out after %gs while %s %s"):format(req.timeout, what, url.authority)
    end
    return nil, "NETWORK_ERROR", ("%s %s: %s"):format(what, url.authority, tostring(err))
  end
  local max = req.max_response_size or 64 * 1024 * 1024
  local function too_large()
    return nil, "RESPONSE_TOO_LARGE", ("response body exceeds max_response_size (%d bytes)"):format(max)
  end

  ngx.update_time()
  local ms = floor((deadline - ngx.now()) * 1000)
  if ms <= 0 then
    return fail("sending to", "timeout")
  end
  sock:settimeout(ms)
  local _, err = sock:send(request_text(req, url))
  if err then
    return fail("sending to", err)
  end

  local rd = reader(sock, deadline)
  local status, minor, headers = read_head(rd, fail)
  if not status then
    return nil, minor, headers
  end
  local function joined(name)
    local v = headers[name]
    return type(v) == "table" and concat(v, ", ") or v
  end
  local encoding = joined("content-encoding")
  if encoding and encoding:lower() ~= "identity" then
    -- libcurl's CURLE_BAD_CONTENT_ENCODING maps to INVALID_RESPONSE too
    return nil, "INVALID_RESPONSE", "content-encoding " .. encoding
      .. " is not decoded by the ngx transport (it does not send Accept-Encoding)"
  end

  local parts, complete = {}, true
  local ok
  local te, length = joined("transfer-encoding"), joined("content-length")
  if req.method == "HEAD" or status == 204 or status == 304 or status == 101 then
    te, length = nil, "0" -- no body, whatever the headers say
  end
  if te and te:lower():find("chunked", 1, true) then
    local code, message
    ok, code, message = read_chunked(rd, parts, max, fail, too_large)
    if not ok then
      return nil, code, message
    end
  elseif length then
    local n = tonumber(length:match("^%s*(%d+)%s*$"))
    if not n then
      return nil, "INVALID_RESPONSE", "bad Content-Length"
    end
    if n > max then
      return too_large()
    end
    ok, err = rd.bytes(n, parts)
    if not ok then
      return fail("reading the body from", err)
    end
  else -- the body ends when the server closes the connection
    complete = false
    ok, err = rd.rest(parts, max)
    if ok == false then
      return too_large()
    elseif not ok then
      return fail("reading the body from", err)
    end
  end

  local connection = (joined("connection") or ""):lower()
  local reusable = complete and not connection:find("close", 1, true)
    and (minor ~= "0" or connection:find("keep-alive", 1, true) ~= nil)
  return { status = status, headers = headers, body = concat(parts) }, reusable
end

--- transport(opts) -> function(request) -> response | nil, code, message
-- opts: pool_size (connections kept per pool, default 32), keepalive_timeout (seconds
-- an idle pooled connection is kept, default 60), resolve ({ "host:port:address" }).
function M.transport(opts)
  opts = opts or {}
  local pool_size = positive(opts.pool_size, "pool_size", true) or DEFAULT_POOL_SIZE
  local idle = positive(opts.keepalive_timeout, "keepalive_timeout") or DEFAULT_KEEPALIVE_TIMEOUT
  local idle_ms = floor(idle * 1000)
  local resolve = resolve_map(opts.resolve)

  return function(req)
    local url = split_url(req.url)
    if not url then
      return nil, "INVALID_ARGUMENT", "the ngx transport takes http:// and https:// URLs"
    end
    ngx.update_time()
    local deadline = ngx.now() + req.timeout
    local tls = url.scheme == "https"
    local address = resolve[url.host:lower() .. ":" .. url.port] or url.host
    local server_name = tls and url.host or nil
    if tls and (url.host:find("^[%d.]+$") or url.host:find(":", 1, true)) then
      return nil, "TLS_ERROR", "ngx_lua checks a certificate against a host name, not an address:"
        .. " use the host name in base_url (and the resolve option to choose the address)"
    end
    -- never share a connection between different schemes, hosts, addresses or TLS names
    local pool = ("cloudbase.functions|%s|%s|%s|%d|verify"):format(url.scheme, url.host, address, url.port)
    local sock = tcp()
    local connect_ms = floor(min(req.connect_timeout, req.timeout) * 1000)
    sock:settimeout(connect_ms)
    local ok, err = sock:connect(address, url.port, { pool = pool, pool_size = pool_size })
    if not ok then
      if err == "timeout" then
        return nil, "TIMEOUT", ("connect to %s timed out after %gs"):format(url.authority, connect_ms / 1000)
      end
      return nil, "NETWORK_ERROR", ("connect to %s failed: %s"):format(url.authority, tostring(err))
    end
    local reused = sock:getreusedtimes() > 0
    if reused then
      counters.reused = counters.reused + 1
    else
      counters.connections = counters.connections + 1
      if tls then
        -- verify = true: the chain against lua_ssl_trusted_certificate, and the name
        local ms = floor((deadline - ngx.now()) * 1000)
        sock:settimeout(ms > 0 and ms or 1)
        -- pcall: resty.core asserts instead of returning an error when a handshake that
        -- completed at once failed verification
        local done, session, why = pcall(sock.sslhandshake, sock, nil, server_name, true)
        ok, err = done and session, why
        if not done then
          err = "certificate verification failed"
        end
        if not ok then
          sock:close()
          if err == "timeout" then
            return nil, "TIMEOUT", ("TLS handshake with %s timed out"):format(url.authority)
          end
          return nil, "TLS_ERROR", ("TLS handshake with %s failed: %s"):format(url.authority, tostring(err))
        end
      end
    end
    local res, reusable, message = exchange(sock, req, url, deadline, reused)
    if res and reusable then
      sock:setkeepalive(idle_ms, pool_size)
    else
      sock:close()
    end
    if not res then
      return nil, reusable, message -- reusable holds the error code here
    end
    return res
  end
end

-- Options of functions.new that do not apply to cosockets, and what to do instead.
local refused = {
  ca_file = "the trusted CAs come from nginx's lua_ssl_trusted_certificate",
  ca_path = "the trusted CAs come from nginx's lua_ssl_trusted_certificate",
  proxy = "cosockets connect directly",
  transport = "it sets its own transport: use functions.new for another one",
  pool = "cosockets share nginx's per-worker connection pool (pool_size)",
  max_idle = "idle cosocket connections follow keepalive_timeout",
  preconnect = "cosockets connect on the first call",
}
local own_options = { pool_size = true, keepalive_timeout = true }

--- new(options) -> client: functions.new's options (but ca_file, ca_path, proxy and
-- transport) plus the transport's pool_size and keepalive_timeout.
function M.new(options)
  if options == nil then
    options = {}
  elseif type(options) ~= "table" then
    raise("cloudbase.functions.ngx.new expects a table of options")
  end
  local copy = {}
  for key, value in pairs(options) do
    if refused[key] then
      raise(tostring(key) .. " is not supported by cloudbase.functions.ngx: " .. refused[key])
    end
    if not own_options[key] then
      copy[key] = value
    end
  end
  if options.http2 == "prior-knowledge" then
    raise("cosockets speak HTTP/1.1: http2 = \"prior-knowledge\" is not supported")
  end
  copy.transport = M.transport {
    pool_size = options.pool_size,
    keepalive_timeout = options.keepalive_timeout,
    resolve = options.resolve,
  }
  return functions.new(copy)
end

--- resty_http_transport(http [, opts]) -> function(request) -> response | nil, code, message
-- A transport over lua-resty-http (`http = require "resty.http"`), for sites that
-- already use it: one request_uri per call, certificate verification on, the pool set
-- by opts.pool_size and opts.keepalive_timeout as in transport(). lua-resty-http reads
-- the whole body before the core checks max_response_size, its timeouts apply to each
-- socket operation rather than to the whole call, and it resolves host names with
-- nginx's `resolver` (no resolve option).
function M.resty_http_transport(http, opts)
  if type(http) ~= "table" or type(http.new) ~= "function" then
    raise("resty_http_transport expects the lua-resty-http module (require \"resty.http\")")
  end
  opts = opts or {}
  local pool_size = positive(opts.pool_size, "pool_size", true) or DEFAULT_POOL_SIZE
  local idle = positive(opts.keepalive_timeout, "keepalive_timeout") or DEFAULT_KEEPALIVE_TIMEOUT

  return function(req)
    local httpc, err = http.new()
    if not httpc then
      return nil, "NETWORK_ERROR", "lua-resty-http: " .. tostring(err)
    end
    local url = split_url(req.url)
    local host = url and url.host
    local connect_ms = floor(min(req.connect_timeout, req.timeout) * 1000)
    local io_ms = floor(req.timeout * 1000)
    httpc:set_timeouts(connect_ms, io_ms, io_ms)
    local res
    res, err = httpc:request_uri(req.url, {
      method = req.method,
      headers = req.headers,
      body = req.body,
      ssl_verify = true,
      ssl_server_name = host,
      keepalive_timeout = floor(idle * 1000),
      keepalive_pool = pool_size,
    })
    if res then
      return { status = res.status, headers = res.headers, body = res.body }
    end
    err = tostring(err)
    if err:find("timeout", 1, true) then
      return nil, "TIMEOUT", "lua-resty-http: " .. err
    elseif err:find("handshake", 1, true) or err:find("certificate", 1, true) or err:find("ssl", 1, true) then
      return nil, "TLS_ERROR", "lua-resty-http: " .. err
    end
    return nil, "NETWORK_ERROR", "lua-resty-http: " .. err
  end
end

--- stats() -> { connections = n, reused = n } for this worker: connections opened,
-- and calls that went out on a pooled connection.
function M.stats()
  return { connections = counters.connections, reused = counters.reused }
end

return M
