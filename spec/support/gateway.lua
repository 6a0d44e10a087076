-- The one set-up for specs: start and drive the local CloudBase gateway emulator, make
-- clients of the module against it, run child interpreters of this run.
--
--   local gateway = require "spec.support.gateway"
--
--   -- A gateway for one describe block: started before its first test, stopped after its
--   -- last; `gw` is the same table before and after, its fields filled in at the start.
--   local gw = gateway.for_describe{ tls = true, h2c = true, reset = true, client = "once" }
--   gw.url, gw.port, gw.tls_url, gw.tls_port, gw.ca_file, gw.h2c_url, gw.h2c_port, gw.run_dir
--   gw:new{ timeout = 1 }   -- functions.new: the client defaults overridden by these
--                           (several tables: each overrides those before)
--   gw.client               -- with client = "once" | "each": a client made and closed for you
--   gw:at(host[, "https"])  -- base_url and resolve that reach it under a real host name
--   gw:count(name)          -- how often the gateway ran function `name`
--   gw:invocations()        -- decoded GET /_gateway/invocations
--   gw:reset()              -- DELETE /_gateway/invocations (reset = true: before each test)
--   gw:reset_all()          -- DELETE /_gateway/state: the log and the tokens (reset = "all")
--   gw:request{...}         -- one HTTP request through curl (see below)
--
--   local other = gateway.start{ keepalive_timeout = 1 }  -- one the spec stops itself
--   other:stop()
--
--   gateway.lua_child(script, args, env)  -- run a Lua file in a child of this interpreter
--   gateway.lua_code(code, args, env)     -- the same for a string of Lua
--   gateway.closed_url(), gateway.trap()  -- where nothing listens; where nothing answers
--   gateway.for_scope(start, opts)        -- for_describe's life for any server (hostile.lua)
--
-- spec/README.md maps the specs to the public surface and shows this module in use.
-- Every gateway started here is stopped when the Lua state closes or
-- os.exit runs, and bin/cloudbase-gateway's watcher stops it if this process
-- dies, so a failing spec never leaves nginx running.
local cjson = require "cjson"

local M = {}

-- The API key gateway/test/config.json accepts.
M.API_KEY = "test-api-key"
-- As an option value given to gw:new: drop that default.
M.NONE = {}

local function repo_root()
  local source = debug.getinfo(1, "S").source
  local dir = source:match("^@(.*)/spec/support/[^/]+$")
  if dir == nil or dir == "" then
    return "."
  end
  return dir
end

M.root = repo_root()
M.script = M.root .. "/bin/cloudbase-gateway"

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = quote

local function read_file(path)
  local fh = io.open(path, "rb")
  if not fh then
    return nil
  end
  local text = fh:read("*a")
  fh:close()
  return text
end
M.read_file = read_file

-- write_file(path, text, ...): the strings, one after the other, as the whole file.
local function write_file(path, ...)
  local fh = assert(io.open(path, "wb"))
  fh:write(...)
  fh:close()
end
M.write_file = write_file

-- run(cmd) -> stdout, ok, exit code (stderr goes where the caller says). The shell
-- prints the status itself: io.popen():close() gives none on Lua 5.1 and LuaJIT.
local function run(cmd)
  local pipe = assert(io.popen("( " .. cmd .. "\n); printf '\\n%d' $?", "r"))
  local out = pipe:read("*a")
  pipe:close()
  local text, code = out:match("^(.*)\n(%d+)$")
  code = tonumber(code)
  return text or out, code == 0, code
end
M.run = run

-- A new empty directory; the caller removes it (run("rm -rf " .. quote(dir))).
function M.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  local out, ok = run("mkdir -p " .. quote(dir) .. " 2>&1")
  assert(ok, out)
  return dir
end

-- A loopback port nobody listens on: bound, then closed at once.
function M.closed_port()
  local s = assert(require("socket").bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- A loopback URL nobody listens on.
function M.closed_url()
  return "http://127.0.0.1:" .. M.closed_port()
end

-- True while a live (non-zombie) process is in process group `pgid`; nginx's
-- master leads its own group, so gateway.group_alive(gw.pid) covers the
-- workers too. Zombies waiting for a slow init to reap them do not count.
function M.group_alive(pgid)
  local list = io.popen("ls /proc 2>/dev/null")
  local names = list:read("*a")
  list:close()
  for pid in names:gmatch("%d+") do
    local stat = read_file("/proc/" .. pid .. "/stat")
    if stat then
      local state, group = stat:match("^.*%) (%S+) %S+ (%S+)")
      if state ~= "Z" and tonumber(group) == pgid then
        return true
      end
    end
  end
  return false
end

---------------------------------------------------------------------------
-- Stopping everything, whatever happens.

local live = {}

local function stop_all()
  for gw in pairs(live) do
    gw:stop()
  end
end

-- A finaliser runs when the Lua state closes (busted exits with
-- os.exit(code, true)); the os.exit wrapper covers os.exit(code) too.
M._sentinel = setmetatable({}, { __gc = stop_all })
if not M._wrapped_exit then
  local real_exit = os.exit
  M._wrapped_exit = true
  os.exit = function(...) -- luacheck: ignore 122
    stop_all()
    return real_exit(...)
  end
end

---------------------------------------------------------------------------
-- HTTP through curl.

-- Parse a curl -D dump: the last response's status and lower-case headers
-- (a repeated header becomes a list in arrival order).
local function parse_headers(dump)
  local status, headers = nil, {}
  for line in dump:gmatch("[^\r\n]*") do
    local code = line:match("^HTTP/[%d.]+ (%d%d%d)")
    if code then
      status, headers = tonumber(code), {}
    else
      local name, value = line:match("^([^:%s]+):%s*(.-)%s*$")
      if name then
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
    end
  end
  return status, headers
end
M.parse_headers = parse_headers

-- curl(opts) -> { status, headers, body, http_version, exit_code, stderr }
--   opts.url (full URL) | opts.base + opts.path
--   opts.method, opts.headers = { "Name: value", ... } or { Name = value }
--   opts.body (string; sent verbatim), opts.args = { extra curl args }
--   opts.timeout (seconds, default 20)
function M.curl(opts)
  local url = opts.url or (opts.base .. (opts.path or "/"))
  local tmp = os.tmpname()
  local args = { "curl", "-sS", "--max-time", tostring(opts.timeout or 20),
                 "-o", quote(tmp .. ".body"), "-D", quote(tmp .. ".head"),
                 "-w", quote("%{http_code} %{http_version}") }
  if opts.method then
    args[#args + 1] = "-X " .. quote(opts.method)
  end
  for k, v in pairs(opts.headers or {}) do
    local line = type(k) == "number" and v or (k .. ": " .. v)
    args[#args + 1] = "-H " .. quote(line)
  end
  if opts.body then
    write_file(tmp .. ".req", opts.body)
    args[#args + 1] = "--data-binary " .. quote("@" .. tmp .. ".req")
  end
  for _, a in ipairs(opts.args or {}) do
    args[#args + 1] = quote(a)
  end
  args[#args + 1] = quote(url)
  args[#args + 1] = "2>" .. quote(tmp .. ".err")
  local out, _, code = run(table.concat(args, " "))
  local status, headers = parse_headers(read_file(tmp .. ".head") or "")
  local res = {
    status = status,
    headers = headers,
    body = read_file(tmp .. ".body") or "",
    http_version = out:match("%d+ (%S+)"),
    exit_code = code,
    stderr = read_file(tmp .. ".err") or "",
  }
  for _, suffix in ipairs({ "", ".body", ".head", ".req", ".err" }) do
    os.remove(tmp .. suffix)
  end
  return res
end

-- Decode a JSON body (nil when it is not JSON).
function M.decode(text)
  local ok, value = pcall(cjson.decode, text)
  if ok then
    return value
  end
  return nil
end

---------------------------------------------------------------------------
-- A running gateway.

local Gateway = {}
Gateway.__index = Gateway

-- gw:request{ path=, method=, headers=, body=, token=, host=, ... }
-- `token` adds Authorization: Bearer <token>; `host` sets the Host header.
function Gateway:request(opts)
  local o = {}
  for k, v in pairs(opts) do
    o[k] = v
  end
  o.base = o.base or self.url
  local headers = {}
  for k, v in pairs(opts.headers or {}) do
    headers[k] = v
  end
  if opts.token then
    headers[#headers + 1] = "Authorization: Bearer " .. opts.token
  end
  if opts.host then
    headers[#headers + 1] = "Host: " .. opts.host
  end
  o.headers = headers
  local res = M.curl(o)
  res.json = M.decode(res.body)
  return res
end

-- Invoke an event function with a JSON body (a Lua table or raw text).
function Gateway:invoke(name, body, opts)
  opts = opts or {}
  local o = { path = "/v1/functions/" .. name, method = "POST" }
  for k, v in pairs(opts) do
    o[k] = v
  end
  if type(body) == "table" then
    body = cjson.encode(body)
  end
  o.body = body or "{}"
  if o.token == nil then
    o.token = M.API_KEY
  end
  if o.token == false then
    o.token = nil
  end
  o.headers = o.headers or { "Content-Type: application/json" }
  return self:request(o)
end

-- Invoke an event function n times from ONE curl process (sequential, one
-- kept-alive connection). Returns a list of { status = N, body = text }.
-- Bodies must not contain the line "\n@@<status>@@".
function Gateway:invoke_many(name, body, n, opts)
  opts = opts or {}
  local tmp = os.tmpname()
  write_file(tmp, type(body) == "table" and cjson.encode(body) or body or "{}")
  local args = { "curl", "-sS", "--max-time", "60", "-X", "POST",
                 "-H", quote("Authorization: Bearer " .. (opts.token or M.API_KEY)),
                 "-H", quote("Content-Type: application/json"),
                 "--data-binary", quote("@" .. tmp), "-w", quote("\n@@%{http_code}@@\n") }
  for _, h in ipairs(opts.headers or {}) do
    args[#args + 1] = "-H " .. quote(h)
  end
  args[#args + 1] = quote(self.url .. "/v1/functions/" .. name .. "?n=[1-" .. n .. "]")
  local out = run(table.concat(args, " "))
  os.remove(tmp)
  local results = {}
  for text, code in out:gmatch("(.-)\n@@(%d+)@@\n") do
    results[#results + 1] = { status = tonumber(code), body = text }
  end
  return results
end

function Gateway:invocations()
  local res = M.curl({ base = self.url, path = "/_gateway/invocations" })
  assert(res.status == 200, "GET /_gateway/invocations failed: " .. tostring(res.status))
  return cjson.decode(res.body)
end

function Gateway:reset()
  local res = M.curl({ base = self.url, path = "/_gateway/invocations", method = "DELETE" })
  assert(res.status == 200, "DELETE /_gateway/invocations failed: " .. tostring(res.status))
end

-- Forget issued/used tokens as well (DELETE /_gateway/state).
function Gateway:reset_all()
  local res = M.curl({ base = self.url, path = "/_gateway/state", method = "DELETE" })
  assert(res.status == 200, "DELETE /_gateway/state failed: " .. tostring(res.status))
end

function Gateway:running()
  local _, ok = run(quote(M.script) .. " status --run-dir " .. quote(self.run_dir)
    .. " >/dev/null 2>&1")
  return ok
end

function Gateway:stop()
  if self.stopped then
    return
  end
  self.stopped = true
  live[self] = nil
  run(quote(M.script) .. " stop --run-dir " .. quote(self.run_dir) .. " 2>&1")
  if self.owns_run_dir and not os.getenv("CLOUDBASE_GW_KEEP_RUN") then
    run("rm -rf " .. quote(self.run_dir))
  end
end

-- The client options every gw:new starts from, unless for_describe's `client_defaults`
-- says otherwise: the gateway's plain URL, the test API key and a 5 s timeout.
function Gateway:client_defaults()
  return { base_url = self.url, token = M.API_KEY, timeout = 5 }
end

-- server:new(opts, ...) -> functions.new(server:client_defaults() overridden by each
-- table given, in order); an option given as gateway.NONE drops that default. The
-- method of every server a spec makes clients of (Gateway, the hostile server).
function M.new_client(server, ...)
  local o = server:client_defaults()
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do
      if v == M.NONE then
        o[k] = nil
      else
        o[k] = v
      end
    end
  end
  return require("cloudbase.functions").new(o)
end
Gateway.new = M.new_client

-- gw:at(host) -> the client options that reach this gateway's plain listener under the
-- host name `host` (base_url, and resolve to loopback); gw:at(host, "https") its TLS
-- listener, trusting the run's throw-away CA.
function Gateway:at(host, scheme)
  local tls = scheme == "https"
  local port = tls and self.tls_port or self.port
  return { base_url = (tls and "https" or "http") .. "://" .. host .. ":" .. port,
           resolve = { host .. ":" .. port .. ":127.0.0.1" },
           ca_file = tls and self.ca_file or nil }
end

-- How often the gateway ran function `name` (its invocation log's count).
function Gateway:count(name)
  return self:invocations().counts[name] or 0
end

-- start{ config=, tls=, h2c=, port=, run_dir=, nginx=, keepalive_timeout= } -> gateway
-- config defaults to gateway/test/config.json. Raises with the script's stderr when the
-- gateway does not start. `into` (for for_describe) is the table to fill in.
function M.start(opts, into)
  opts = opts or {}
  local config = opts.config or "gateway/test/config.json"
  if config:sub(1, 1) ~= "/" then
    config = M.root .. "/" .. config
  end
  local cmd = { quote(M.script), "start", "--config", quote(config),
                "--port", tostring(opts.port or 0), "--watch-pid", "$PPID" }
  if opts.tls then
    cmd[#cmd + 1] = "--tls-port " .. (opts.tls == true and "0" or tostring(opts.tls))
  end
  if opts.h2c then
    cmd[#cmd + 1] = "--h2c-port " .. (opts.h2c == true and "0" or tostring(opts.h2c))
  end
  if opts.run_dir then
    cmd[#cmd + 1] = "--run-dir " .. quote(opts.run_dir)
  end
  if opts.nginx then
    cmd[#cmd + 1] = "--nginx " .. quote(opts.nginx)
  end
  if opts.keepalive_timeout then
    cmd[#cmd + 1] = "--keepalive-timeout " .. tostring(opts.keepalive_timeout)
  end
  local errfile = os.tmpname()
  local out, ok = run(table.concat(cmd, " ") .. " 2>" .. quote(errfile))
  local err = read_file(errfile) or ""
  os.remove(errfile)
  local gw = setmetatable(into or {}, Gateway)
  gw.owns_run_dir = opts.run_dir == nil
  for key, value in out:gmatch("([%w_]+)=([^\n]*)") do
    gw[key] = tonumber(value) and key:match("port$") and tonumber(value) or value
  end
  if gw.run_dir then
    live[gw] = true
  end
  if not ok or not gw.url then
    if gw.run_dir then
      gw:stop()
    end
    error("cloudbase-gateway did not start:\n" .. err .. out, 2)
  end
  gw.pid = tonumber(gw.pid)
  return gw
end

-- for_scope(start, opts) -> server: the server of one describe block, returned at once
-- and filled in by start(opts, server) before the block's first test (lazy_setup),
-- stopped (server:stop()) after its last (lazy_teardown). Any server works whose
-- start fills in the table it is given and whose table has :new (see new_client); opts:
--   client = "once"         server.client = server:new() for the whole block, closed after it
--   client = "each"         a fresh server.client for each test, closed after it
--   client_defaults = function(server) -> the options server:new starts from
--   reset = true | "all"    server:reset() (or server:reset_all()) before each test
-- and whatever start takes.
function M.for_scope(start, opts)
  opts = opts or {}
  local busted = require "busted"
  local server, started = {}, false
  if opts.client_defaults then
    server.client_defaults = opts.client_defaults
  end
  local function close_client()
    if server.client then
      server.client:close()
      server.client = nil
    end
  end
  busted.lazy_setup(function()
    start(opts, server)
    started = true
    if opts.client == "once" then
      server.client = server:new()
    end
  end)
  busted.lazy_teardown(function()
    close_client()
    if started then
      server:stop()
    end
  end)
  if opts.reset then
    busted.before_each(function()
      if opts.reset == "all" then
        server:reset_all()
      else
        server:reset()
      end
    end)
  end
  if opts.client == "each" then
    busted.before_each(function()
      server.client = server:new()
    end)
    busted.after_each(close_client)
  end
  return server
end

-- The gateway of one describe block (for_scope of start): gateway/test/config.json
-- unless opts.config says otherwise, plus start's options.
function M.for_describe(opts)
  return M.for_scope(M.start, opts)
end

---------------------------------------------------------------------------
-- Child interpreters and other helpers of client specs.

-- lua_child(script, args, env) -> output (stdout and stderr), ok: runs the Lua file
-- `script` with this run's interpreter (lv.command: make asan's is an instrumented host)
-- and module paths, the list `args` as its arguments and `env` ({ NAME = value }) added
-- to its environment.
function M.lua_child(script, args, env)
  local lv = require "spec.support.lua_version"
  local parts = { "env" }
  for k, v in pairs(env or {}) do
    parts[#parts + 1] = k .. "=" .. quote(v)
  end
  parts[#parts + 1] = lv.child_env()
  parts[#parts + 1] = lv.command .. " " .. quote(script)
  for _, a in ipairs(args or {}) do
    parts[#parts + 1] = quote(a)
  end
  local out, ok = run(table.concat(parts, " ") .. " 2>&1")
  return out, ok
end

-- lua_code(code, args, env): lua_child of a file holding `code`, removed afterwards.
function M.lua_code(code, args, env)
  local script = os.tmpname()
  write_file(script, code)
  local out, ok = M.lua_child(script, args, env)
  os.remove(script)
  return out, ok
end

-- A listener that never answers: it tells whether anything connected to it.
function M.trap()
  local s = assert(require("socket").bind("127.0.0.1", 0))
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

return M
