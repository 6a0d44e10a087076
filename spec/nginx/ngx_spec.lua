-- cloudbase.functions inside a real nginx + ngx_lua (the LuaJIT build of the module):
-- the cosocket client (cloudbase.functions.ngx) and Lua transports that yield, calling
-- the local gateway from request handlers. See spec/nginx/lua/cbf_spec.lua for the
-- handlers and spec/nginx/harness.lua for the server.
local gateway = require "spec.support.gateway"
local harness = require "spec.nginx.harness"
local socket = require "socket"

local function closed_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

describe("cloudbase.functions in nginx", function()
  local gw, srv

  lazy_setup(function()
    assert(harness.available())
    gw = gateway.start({ config = "gateway/test/config.json", tls = true })
    srv = harness.start({ settings = { gw_url = gw.url, tls_port = gw.tls_port, ca_file = gw.ca_file,
                                       closed_port = closed_port() } })
  end)

  lazy_teardown(function()
    if srv then
      srv:stop()
    end
    if gw then
      gw:stop()
    end
  end)

  local function get(path)
    local status, body, raw = srv:get(path)
    assert.equals(200, status, raw .. "\n" .. srv:error_log())
    return body
  end

  it("invokes over a cosocket: result, info and every prepared header", function()
    for _, t in ipairs({ "errors", "tls", "invoke_all", "user_transport", "keepalive", "framing" }) do
      local status, body, raw = srv:get("/t/" .. t)
      print(t, status, raw)
    end
  end)
end)
