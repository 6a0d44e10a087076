-- STAND-IN for lua-resty-http, NOT the library. lua-resty-http is not a Debian package
-- and CI has no internet, so the nginx suite tests cloudbase.functions.ngx's
-- resty_http_transport against this module of the same API shape: http.new(),
-- httpc:set_timeouts(connect_ms, send_ms, read_ms), httpc:request_uri(uri, params) ->
-- { status, headers, body } | nil, err (the cosocket error string, e.g. "timeout" or
-- "connection refused"). It moves the bytes with cloudbase.functions.ngx's own transport
-- and records the params it was given, for the spec to check.
--
-- To run the same spec against the real library, put its lib/ directory first on the
-- nginx Lua path: CBF_SPEC_LUA_PATH=/path/to/lua-resty-http/lib busted spec/nginx
local cbngx = require "cloudbase.functions.ngx"

local _M = { _VERSION = "stand-in", calls = {} }
local client = {}
client.__index = client

local send = cbngx.transport()

function _M.new()
  return setmetatable({ timeouts = { 60000, 60000, 60000 } }, client)
end

function client:set_timeouts(connect_ms, send_ms, read_ms)
  self.timeouts = { connect_ms, send_ms, read_ms }
end

function client:request_uri(uri, params)
  _M.calls[#_M.calls + 1] = { uri = uri, params = params, timeouts = self.timeouts }
  local res, code, message = send({
    method = params.method or "GET", url = uri, headers = params.headers or {}, body = params.body,
    connect_timeout = self.timeouts[1] / 1000, timeout = self.timeouts[3] / 1000,
  })
  if not res then
    return nil, code == "TIMEOUT" and "timeout" or message:match(": ([^:]+)$") or message
  end
  return { status = res.status, headers = res.headers, body = res.body }
end

return _M
