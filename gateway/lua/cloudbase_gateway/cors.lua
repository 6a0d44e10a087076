-- CORS for browser clients (the official js-sdk's browser build): an allowed
-- Origin gets Access-Control-* headers on every answer, and its preflight
-- (OPTIONS with Access-Control-Request-Method) is answered 204 here, before
-- any credential check. Other origins get no CORS headers at all, so the
-- browser refuses to hand them the response.
local ngx = ngx
local M = {}

local ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
local EXPOSE_HEADERS = "X-Request-Id, Retry-After"

local function allowed(cors, origin)
  if type(origin) ~= "string" or origin == "" then
    return false
  end
  return cors.any or cors.origins[origin:lower()] == true
end

-- apply(cors_config) -> true when it answered a preflight.
-- Otherwise records in ngx.ctx.cors the headers reply.send adds.
function M.apply(cors)
  local origin = ngx.var.http_origin
  if not origin then
    return false
  end
  local preflight = ngx.req.get_method() == "OPTIONS"
    and ngx.var.http_access_control_request_method ~= nil
  if not cors or not allowed(cors, origin) then
    if preflight then
      ngx.status = 204
      return true
    end
    return false
  end
  local out = {
    ["Access-Control-Allow-Origin"] = origin,
    ["Vary"] = "Origin",
  }
  if cors.allow_credentials then
    out["Access-Control-Allow-Credentials"] = "true"
  end
  if preflight then
    out["Access-Control-Allow-Methods"] = ALLOW_METHODS
    out["Access-Control-Allow-Headers"] = cors.allow_headers
    out["Access-Control-Max-Age"] = tostring(cors.max_age)
    for name, value in pairs(out) do
      ngx.header[name] = value
    end
    ngx.status = 204
    return true
  end
  out["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
  ngx.ctx.cors = out
  return false
end

return M
