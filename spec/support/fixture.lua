-- The one set-up for specs that talk to the local gateway: a fixture starts a gateway
-- (gateway/test/config.json plus the given options) and a default client, makes more
-- clients with the spec's defaults, and stops it all.
--
--   local fx = fixture.new({ tls = true })          -- gateway.start options
--   local gw, client
--   lazy_setup(function() gw, client = fx.start() end)
--   lazy_teardown(fx.stop)
--   local new = fx.new                               -- functions.new over the defaults
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"

local M = {}

M.API_KEY = "test-api-key"
-- As an option value given to fx.new: drop that default.
M.NONE = {}

-- gateway_opts: for gateway.start (config defaults to gateway/test/config.json).
-- defaults(gw): the client options every fx.new starts from; by default the gateway's
-- plain URL, the test API key and a 5 s timeout.
function M.new(gateway_opts, defaults)
  local fx = {}

  local function default_options(gw)
    if defaults then
      return defaults(gw)
    end
    return { base_url = gw.url, token = M.API_KEY, timeout = 5 }
  end

  function fx.new(opts)
    local o = default_options(fx.gw)
    for k, v in pairs(opts or {}) do
      if v == M.NONE then
        o[k] = nil
      else
        o[k] = v
      end
    end
    return functions.new(o)
  end

  -- What the gateway logged, and how often function `name` ran.
  function fx.invocations()
    return fx.gw:invocations()
  end

  function fx.count(name)
    return fx.invocations().counts[name] or 0
  end

  function fx.start()
    local o = { config = "gateway/test/config.json" }
    for k, v in pairs(gateway_opts or {}) do
      o[k] = v
    end
    fx.gw = gateway.start(o)
    fx.client = fx.new()
    return fx.gw, fx.client
  end

  function fx.stop()
    if fx.client then
      fx.client:close()
    end
    if fx.gw then
      fx.gw:stop()
    end
  end

  return fx
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
