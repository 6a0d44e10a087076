-- Helper for bin/cloudbase-gateway (Lua 5.4 + luasocket + lua-cjson).
--   lua5.4 gwctl.lua free-ports N     print N distinct free loopback ports
--   lua5.4 gwctl.lua san-hosts CONFIG print the DNS names for the TLS cert
local socket = require "socket"
local cjson = require "cjson"

local function free_ports(n)
  local held, ports = {}, {}
  for i = 1, n do
    local server = assert(socket.bind("127.0.0.1", 0))
    local _, port = server:getsockname()
    held[i] = server
    ports[i] = port
  end
  for _, server in ipairs(held) do
    server:close()
  end
  print(table.concat(ports, " "))
end

local function san_hosts(path)
  local fh = assert(io.open(path, "rb"))
  local config = cjson.decode(fh:read("a"))
  fh:close()
  local seen, out = {}, {}
  local function add(name)
    name = name:lower()
    if not seen[name] and not name:match("^[%d.]+$") and name:match("^[%w.%-]+$") then
      seen[name] = true
      out[#out + 1] = name
    end
  end
  add("localhost")
  local ids = {}
  for id in pairs(config.envs or {}) do
    ids[#ids + 1] = id
  end
  table.sort(ids)
  for _, id in ipairs(ids) do
    add(id .. ".api.tcloudbasegateway.com")
    add(id .. ".api.intl.tcloudbasegateway.com")
    for _, host in ipairs(config.envs[id].hosts or {}) do
      add(host)
    end
  end
  print(table.concat(out, "\n"))
end

local command = arg[1]
if command == "free-ports" then
  free_ports(tonumber(arg[2]) or 1)
elseif command == "san-hosts" and arg[2] then
  san_hosts(arg[2])
else
  io.stderr:write("usage: gwctl.lua free-ports N | san-hosts CONFIG\n")
  os.exit(2)
end
