-- Start a real nginx + ngx_lua (Debian's nginx-light + libnginx-mod-http-lua, or
-- OpenResty) that loads the LuaJIT build of the module and serves the handlers of
-- spec/nginx/lua/cbf_handlers.lua. The busted specs call its locations over HTTP and assert
-- on what the handlers report.
--
--   local harness = require "spec.nginx.harness"
--   local srv = harness.start{ gateway = gw, canned = canned_port }
--   srv:get("/t/plain") -> status, decoded JSON body (or the raw text), raw body
--   srv:stop()
--
-- nginx runs with its own prefix in a temp dir on a free loopback port; it is stopped by
-- srv:stop(), when the Lua state closes, or by a watcher when this process dies.
local gateway = require "spec.support.gateway"
local cjson = require "cjson"

local M = {}

local root = gateway.root
local quote, run, read_file, write = gateway.quote, gateway.run, gateway.read_file, gateway.write_file

-- The build directory of the LuaJIT module (make LUA_VERSION=jit, or make nginx-module).
M.module_dir = os.getenv("NGINX_MODULE_BUILD") or (root .. "/build/jit")
M.nginx = os.getenv("NGINX") or "/usr/sbin/nginx"

function M.available()
  local f = io.open(M.module_dir .. "/cloudbase/functions.so", "rb")
  if f then
    f:close()
  end
  return f ~= nil, M.module_dir .. "/cloudbase/functions.so is missing: make LUA_VERSION=jit"
end

-- load_module lines unless the binary has ngx_lua built in (OpenResty).
local function module_lines(info)
  if info:find("lua-nginx-module", 1, true) or info:find("openresty", 1, true) then
    return ""
  end
  local dir = info:match("%-%-modules%-path=(%S+)") or "/usr/lib/nginx/modules"
  return ("load_module %s/ndk_http_module.so;\nload_module %s/ngx_http_lua_module.so;\n"):format(dir, dir)
end

local function temp_path_lines(info, dir)
  local lines = { ("client_body_temp_path %s/tmp/client_body;"):format(dir) }
  for _, mod in ipairs({ "proxy", "fastcgi", "uwsgi", "scgi" }) do
    if not info:find("--without-http_" .. mod .. "_module", 1, true) then
      lines[#lines + 1] = ("%s_temp_path %s/tmp/%s;"):format(mod, dir, mod)
    end
  end
  return table.concat(lines, "\n  ")
end

local function free_port()
  local out = run(quote("lua5.4") .. " " .. quote(root .. "/gateway/tools/gwctl.lua") .. " free-ports 1")
  return assert(tonumber(out:match("%d+")), "no free port")
end

-- Settings the handlers read (init_by_lua), as a Lua literal.
local function settings_literal(t)
  local parts = {}
  for k, v in pairs(t) do
    parts[#parts + 1] = ("[%q] = %q"):format(k, tostring(v))
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

local Server = {}
Server.__index = Server
local live = {}

-- GET path -> status, decoded JSON body (or the text), raw body.
function Server:get(path, timeout)
  local res = gateway.curl({ url = self.url .. path, timeout = timeout or 30 })
  local ok, decoded = pcall(cjson.decode, res.body)
  return res.status, ok and decoded or res.body, res.body
end

-- GET `path` back to back on one kept-alive connection (luasocket) until opts.stop(body)
-- says so, opts.seconds pass, or opts.max requests were made (default 20000). Returns
-- the number of answers and the seconds it took.
function Server:hammer(path, opts)
  local socket = require "socket"
  local conn = assert(socket.connect("127.0.0.1", self.port))
  conn:settimeout(30)
  local started, count = socket.gettime(), 0
  local max, deadline = opts.max or 20000, opts.seconds and started + opts.seconds
  local request = "GET " .. path .. " HTTP/1.1\r\nHost: spec\r\n\r\n"
  while count < max and not (deadline and socket.gettime() >= deadline) do
    assert(conn:send(request))
    local length
    repeat
      local line = assert(conn:receive("*l"))
      length = tonumber(line:lower():match("^content%-length:%s*(%d+)")) or length
    until line == ""
    local body = length and assert(conn:receive(length)) or ""
    count = count + 1
    if opts.stop and opts.stop(body) then
      break
    end
  end
  conn:close()
  return count, socket.gettime() - started
end

function Server:error_log()
  return read_file(self.dir .. "/error.log") or ""
end

function Server:stop()
  if self.stopped then
    return
  end
  self.stopped = true
  live[self] = nil
  if self.pid then
    run("kill -QUIT " .. self.pid .. " 2>/dev/null")
    for _ = 1, 100 do
      if not gateway.group_alive(self.pid) then
        break
      end
      run("sleep 0.05")
    end
    if gateway.group_alive(self.pid) then
      run("kill -KILL -- -" .. self.pid .. " 2>/dev/null")
    end
  end
  if not os.getenv("CLOUDBASE_GW_KEEP_RUN") then
    run("rm -rf " .. quote(self.dir))
  end
end

M._sentinel = setmetatable({}, { __gc = function()
  for srv in pairs(live) do
    srv:stop()
  end
end })

-- start{ settings = { key = value } } -> server. Settings reach the handlers as strings.
function M.start(opts)
  local info = run(quote(M.nginx) .. " -V 2>&1")
  local template = (os.getenv("TMPDIR") or "/tmp") .. "/cbf-nginx-spec.XXXXXX"
  local dir = run("mktemp -d " .. quote(template)):match("%S+")
  run("mkdir -p " .. quote(dir .. "/tmp"))
  local port = free_port()
  local settings = { own_port = port }
  for k, v in pairs(opts.settings or {}) do
    settings[k] = v
  end
  local ca = settings.ca_file
  -- e.g. the real lua-resty-http's lib/ instead of the spec's stand-in
  local extra = os.getenv("CBF_SPEC_LUA_PATH")
  local extra_lua_path = extra and extra ~= "" and (extra .. "/?.lua;") or ""
  local conf = ([[
%s
%s
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000;
  %s
  lua_package_path "%s%s/lua/?.lua;%s/spec/nginx/lua/?.lua;;";
  lua_package_cpath "%s/?.so;;";
  %s
  lua_shared_dict cbf_probe 1m;
  lua_socket_log_errors off;
  init_by_lua_block { require("cbf_handlers").init(%s) }
  server {
    listen 127.0.0.1:%d;
    location / { content_by_lua_block { require("cbf_handlers").handle() } }
  }
}
]]):format(module_lines(info), run("id -u"):match("^0") and "user root;" or "", dir, dir,
           temp_path_lines(info, dir), extra_lua_path, root, root, M.module_dir,
           ca and ("lua_ssl_trusted_certificate %s;\n  lua_ssl_verify_depth 2;"):format(ca) or "",
           settings_literal(settings), port)
  write(dir .. "/nginx.conf", conf)
  local _, ok = run(table.concat({ quote(M.nginx), "-p", quote(dir .. "/"), "-c", quote(dir .. "/nginx.conf"),
                                   "-e", quote(dir .. "/error.log"), "</dev/null >/dev/null 2>&1" }, " "))
  local srv = setmetatable({ dir = dir, port = port, url = "http://127.0.0.1:" .. port }, Server)
  srv.pid = tonumber((read_file(dir .. "/nginx.pid") or ""):match("%d+"))
  if not ok or not srv.pid then
    local log = srv:error_log()
    srv:stop()
    error("nginx did not start:\n" .. log, 2)
  end
  live[srv] = true
  -- stop nginx if this process dies without stopping it
  run(("W=$PPID; setsid sh -c 'while kill -0 \"$1\" && kill -0 \"$2\"; do sleep 0.5; done 2>/dev/null;"
       .. " kill -QUIT \"$2\" 2>/dev/null' watcher \"$W\" %d </dev/null >/dev/null 2>&1 &"):format(srv.pid))
  for _ = 1, 100 do
    if srv:get("/health", 2) == 200 then
      return srv
    end
    run("sleep 0.05")
  end
  local log = srv:error_log()
  srv:stop()
  error("nginx did not answer:\n" .. log, 2)
end

return M
