-- Start and stop spec/support/hostile_server.lua from busted specs.
--
--   local hostile = require "spec.support.hostile"
--   local server = hostile.start()
--   server.url               -- http://127.0.0.1:PORT
--   server:requests()        -- every request read so far: { { raw =, line =, name = } }
--   server:count(name)       -- how many requests for scenario `name`
--   server:stop()
--   server:new{ token = "t" }  -- a client of it: base_url, http2 = false, then these
--   local server = hostile.for_describe{ client = "once" } -- gateway.for_scope's options
--
-- The server runs with HOSTILE_LUA (default lua5.4, which has luasocket here) and exits
-- on its own after max_seconds, so a crashed spec run cannot leave it behind.
local M = {}

local gateway = require "spec.support.gateway"

local shell_quote, read_file = gateway.quote, gateway.read_file

local function sleep(seconds)
  os.execute("sleep " .. seconds)
end

local Server = {}
Server.__index = Server

function Server:requests()
  local text = read_file(self.dir .. "/requests.log") or ""
  local list, pos = {}, 1
  while true do
    local s, e, len = text:find("^REQUEST %d+ (%d+)\n", pos)
    if not s then
      break
    end
    local raw = text:sub(e + 1, e + tonumber(len))
    list[#list + 1] = {
      raw = raw,
      line = raw:match("^([^\r\n]*)"),
      name = raw:match("^%S+ /v1/functions/([%w_%-]+)"),
    }
    pos = e + tonumber(len) + 2
  end
  return list
end

function Server:count(name)
  local n = 0
  for _, r in ipairs(self:requests()) do
    if r.name == name then
      n = n + 1
    end
  end
  return n
end

-- HTTP/1.1: the server speaks nothing else.
function Server:client_defaults()
  return { base_url = self.url, http2 = false }
end
Server.new = gateway.new_client

function Server:stop()
  if self.pid then
    os.execute("kill " .. self.pid .. " 2>/dev/null")
    self.pid = nil
  end
  if self.dir then
    os.execute("rm -rf " .. shell_quote(self.dir))
    self.dir = nil
  end
end

-- start(opts, into): opts.max_seconds (default 180); `into` is the table to fill in.
function M.start(opts, into)
  opts = opts or {}
  local lua = os.getenv("HOSTILE_LUA") or "lua5.4"
  local dir = gateway.tmpdir()
  local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]+$") or "spec/support"
  local cmd = string.format("%s %s %s %d </dev/null >/dev/null 2>>%s & echo $!", lua,
    shell_quote(here .. "/hostile_server.lua"), shell_quote(dir), opts.max_seconds or 180,
    shell_quote(dir .. "/stderr"))
  local p = assert(io.popen(cmd, "r"))
  local pid = tonumber(p:read("*l"))
  p:close()
  local server = setmetatable(into or {}, Server)
  server.pid, server.dir = pid, dir
  for _ = 1, 100 do
    local port = read_file(dir .. "/port")
    if port then
      server.port = tonumber(port)
      server.url = "http://127.0.0.1:" .. port
      return server
    end
    sleep(0.05)
  end
  local why = read_file(dir .. "/stderr") or ""
  server:stop()
  error("hostile server did not start: " .. why)
end

-- The server of the enclosing describe block: gateway.for_scope of start.
function M.for_describe(opts)
  return gateway.for_scope(M.start, opts)
end

return M
