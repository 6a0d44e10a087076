-- A hostile HTTP/1.1 server for the hardening specs: raw luasocket on 127.0.0.1, run as
-- a child process (spec/support/hostile.lua starts and stops it).
--
--   lua5.4 spec/support/hostile_server.lua DIR [MAX_SECONDS]
--
-- Writes its port to DIR/port, and every request it reads, byte for byte, to
-- DIR/requests.log as "REQUEST <n>\n<bytes>\n". The scenario is the function name of
-- the request path, /v1/functions/<scenario>[/...]; see `scenarios` below. Exits
-- after MAX_SECONDS (default 180) whatever happens, so it can never outlive a run.
local socket = require "socket"

local dir = assert(arg[1], "usage: hostile_server.lua DIR [MAX_SECONDS]")
local deadline = socket.gettime() + (tonumber(arg[2]) or 180)

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(0)
local log = assert(io.open(dir .. "/requests.log", "ab"))
log:setvbuf("no")

---------------------------------------------------------------------------
-- Cooperative I/O: each connection is a coroutine that yields while it waits.

local function wait_read(c)
  coroutine.yield("read", c)
end

local function sleep(seconds)
  coroutine.yield("sleep", socket.gettime() + seconds)
end

-- A buffered reader over a non-blocking socket.
local function reader(c)
  local buf = ""
  local self = {}
  local function fill()
    while true do
      local data, err, partial = c:receive(65536)
      local chunk = data or partial
      if chunk and chunk ~= "" then
        buf = buf .. chunk
        return true
      end
      if err == "closed" then
        return false
      end
      wait_read(c)
    end
  end
  function self.until_text(text)
    while true do
      local e = buf:find(text, 1, true)
      if e then
        local out = buf:sub(1, e + #text - 1)
        buf = buf:sub(e + #text)
        return out
      end
      if #buf > 4 * 1024 * 1024 or not fill() then
        return nil
      end
    end
  end
  function self.bytes(n)
    while #buf < n do
      if not fill() then
        return nil
      end
    end
    local out = buf:sub(1, n)
    buf = buf:sub(n + 1)
    return out
  end
  return self
end

local function send(c, data)
  local i = 1
  while i <= #data do
    local last, err, partial = c:send(data, i)
    if last then
      return true
    end
    if err == "closed" then
      return false
    end
    i = (partial or i - 1) + 1
    coroutine.yield("write", c)
  end
  return true
end

local function response(status, headers, body)
  local lines = { "HTTP/1.1 " .. status }
  for _, h in ipairs(headers or {}) do
    lines[#lines + 1] = h
  end
  lines[#lines + 1] = "Content-Length: " .. #(body or "")
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

local OK_BODY = '{"ok":true}'
local function ok(c)
  return send(c, response("200 OK", { "Content-Type: application/json", "X-Request-Id: hostile" },
    OK_BODY))
end

local gzip_bomb -- 64 MiB of zeros, gzip-compressed (about 64 KiB), made once
local function bomb()
  if not gzip_bomb then
    local p = assert(io.popen("head -c 67108864 /dev/zero | gzip -c", "r"))
    gzip_bomb = p:read("*a")
    p:close()
  end
  return gzip_bomb
end

---------------------------------------------------------------------------
-- Scenarios: function(conn, request, n) -> keep the connection open?
-- n is the request's position on its connection (1 for a fresh connection).

local scenarios = {}

function scenarios.ok(c)
  return ok(c)
end
scenarios.record = scenarios.ok -- the raw bytes are in the log, as for every request

-- The first request on a fresh connection is answered (so a silent resend of the
-- request succeeds); any later one on the same connection is read and dropped.
function scenarios.dropreused(c, _, n)
  if n == 1 then
    return ok(c)
  end
  return false
end

function scenarios.shortbody(c)
  send(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ok\":")
  return false
end

function scenarios.chunked(c)
  send(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    .. "5\r\n{\"ok\"\r\n6\r\n:true}\r\n0\r\n\r\n")
  return true
end

function scenarios.reset(c)
  send(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"ok\":")
  sleep(0.05)
  c:setoption("linger", { on = true, timeout = 0 }) -- close with RST
  return false
end

function scenarios.bigheaders(c)
  local line = "X-Filler: " .. string.rep("a", 8000)
  local headers = { "Content-Type: application/json" }
  for i = 1, 200 do -- 1.6 MB of header lines, each well under libcurl's line limit
    headers[#headers + 1] = line .. i
  end
  return send(c, response("200 OK", headers, OK_BODY))
end

function scenarios.longheader(c)
  send(c, response("200 OK", { "Content-Type: application/json", "X-Long: " .. string.rep("b", 200000) },
    OK_BODY))
  return false
end

function scenarios.informational(c)
  send(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n")
  return ok(c)
end

function scenarios.gzipbomb(c)
  return send(c, response("200 OK", { "Content-Type: application/json", "Content-Encoding: gzip" },
    bomb()))
end

function scenarios.trickle(c)
  send(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n")
  for i = 1, #OK_BODY do
    sleep(0.1)
    if not send(c, OK_BODY:sub(i, i)) then
      return false
    end
  end
  return true
end

function scenarios.redirect(c, req)
  local port = req.head:match("\r\n[Hh]ost: [^:\r]+:(%d+)") or "1"
  return send(c, response("302 Found", { "Location: http://127.0.0.1:" .. port .. "/v1/functions/ok" }, ""))
end

function scenarios.garbage(c)
  send(c, "SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n")
  return false
end

function scenarios.badstatus(c)
  send(c, response("099 Weird", { "Content-Type: application/json" }, OK_BODY))
  return false
end

-- Answers and says it closes the connection ("Connection: close"), for any method.
function scenarios.closing(c)
  send(c, response("200 OK", { "Content-Type: application/json", "Connection: close" }, OK_BODY))
  return false
end

-- A server with a 1 s idle timeout whose close crosses the client's next request: a
-- request arriving on a connection idle for 1 s or more is read and dropped unanswered.
local answered_at = setmetatable({}, { __mode = "k" })
function scenarios.idledrop(c, _, n)
  if n > 1 and socket.gettime() - answered_at[c] >= 1 then
    return false
  end
  local keep = ok(c)
  answered_at[c] = socket.gettime()
  return keep
end

---------------------------------------------------------------------------

local requests = 0

local function read_request(r)
  local head = r.until_text("\r\n\r\n")
  if not head then
    return nil
  end
  local body = ""
  local length = tonumber(head:lower():match("\r\ncontent%-length: *(%d+)"))
  if length and length > 0 then
    body = r.bytes(length)
    if not body then
      return nil
    end
  end
  requests = requests + 1
  log:write("REQUEST ", requests, " ", #head + #body, "\n", head, body, "\n")
  return { head = head, body = body, name = head:match("^%S+ /v1/functions/([%w_%-]+)") }
end

local function serve(c)
  local r = reader(c)
  local n = 0
  while true do
    local req = read_request(r)
    if not req then
      break
    end
    n = n + 1
    local handler = scenarios[req.name or ""]
    local keep
    if handler then
      keep = handler(c, req, n)
    else
      keep = send(c, response("404 Not Found", { "Content-Type: text/plain" }, "no such scenario"))
    end
    if not keep then
      break
    end
  end
  c:close()
end

local port = select(2, server:getsockname())
local pf = assert(io.open(dir .. "/port.tmp", "wb"))
pf:write(port)
pf:close()
assert(os.rename(dir .. "/port.tmp", dir .. "/port"))

local tasks = {} -- { co =, kind =, arg = }
while socket.gettime() < deadline do
  local readers = { server }
  for _, t in ipairs(tasks) do
    if t.kind == "read" then
      readers[#readers + 1] = t.arg
    end
  end
  local ready = socket.select(readers, nil, 0.01)
  local client = server:accept()
  if client then
    client:settimeout(0)
    client:setoption("tcp-nodelay", true)
    tasks[#tasks + 1] = { co = coroutine.create(serve), arg = client, kind = "start" }
  end
  local now = socket.gettime()
  local still = {}
  for _, t in ipairs(tasks) do
    local run = t.kind == "start" or t.kind == "write" or (t.kind == "read" and ready[t.arg])
      or (t.kind == "sleep" and now >= t.arg)
    if run then
      local resumed, kind, value = coroutine.resume(t.co, t.arg)
      if not resumed then
        io.stderr:write("hostile_server: ", tostring(kind), "\n")
      end
      t.kind, t.arg = kind, value
    end
    if coroutine.status(t.co) ~= "dead" then
      still[#still + 1] = t
    end
  end
  tasks = still
end
