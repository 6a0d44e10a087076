-- Writing responses: the request id, JSON/text bodies and the error shape
-- {code, message, requestId} shared by every failure.
local json = require "cloudbase_gateway.json"

local ngx = ngx
local M = {}

-- The request id, formatted like a UUID, stable for the whole request
-- (including error_page redirects: $request_id is computed once).
function M.request_id()
  local ctx = ngx.ctx
  if ctx.request_id then
    return ctx.request_id
  end
  local hex = ngx.var.request_id or ""
  local id = hex
  if #hex == 32 then
    id = table.concat({ hex:sub(1, 8), hex:sub(9, 12), hex:sub(13, 16),
      hex:sub(17, 20), hex:sub(21, 32) }, "-")
  end
  ctx.request_id = id
  return id
end

-- Set X-Request-Id as early as possible so every response carries it.
function M.stamp()
  local id = M.request_id()
  if not ngx.headers_sent then
    ngx.header["X-Request-Id"] = id
  end
  return id
end

-- send(status, headers, body): write a complete response.
function M.send(status, headers, body)
  body = body or ""
  if not ngx.ctx.body_read then
    -- Never leave an unread body on a keep-alive connection.
    ngx.req.discard_body()
  end
  ngx.status = status
  for name, value in pairs(headers or {}) do
    ngx.header[name] = value
  end
  ngx.header["X-Request-Id"] = M.request_id()
  ngx.header["Content-Length"] = #body
  if body ~= "" and ngx.req.get_method() ~= "HEAD" then
    ngx.print(body)
  end
  return ngx.exit(ngx.OK)
end

function M.json_text(status, text, headers)
  headers = headers or {}
  headers["Content-Type"] = headers["Content-Type"] or "application/json; charset=utf-8"
  return M.send(status, headers, text)
end

function M.json(status, value, headers)
  local text, err = json.encode(value)
  if not text then
    return M.error(500, "SYS_ERR", "cannot encode response: " .. tostring(err))
  end
  return M.json_text(status, text, headers)
end

-- error(status, code, message): the documented failure shape.
function M.error(status, code, message)
  ngx.ctx.error_code = code
  -- Built by hand to keep the documented key order.
  local text = string.format('{"code":%s,"message":%s,"requestId":%s}', json.encode(code),
    json.encode(message), json.encode(M.request_id()))
  return M.json_text(status, text)
end

return M
