-- Writing responses: the request id, JSON/text bodies and the error shape
-- {code, message, requestId} shared by every failure.
local json = require "cloudbase_gateway.json"

local ngx = ngx
local M = {}

-- A client-sent X-Request-Id is adopted when it is 1 to 128 characters of
-- [A-Za-z0-9._:-] (UUIDs, ULIDs, "svc:trace.span" styles). Anything else
-- (spaces, quotes, CR/LF, non-ASCII, repeats of the header) is ignored and
-- never echoed: it would reach response headers, JSON bodies and log lines.
local CLIENT_ID_MAX = 128

function M.valid_client_id(value)
  return type(value) == "string" and #value >= 1 and #value <= CLIENT_ID_MAX
    and value:find("^[A-Za-z0-9._:%-]+$") ~= nil
end

-- The request id: the client's X-Request-Id when well formed, else one made
-- here, formatted like a UUID. Stable for the whole request, including
-- error_page redirects ($request_id and the request headers survive them).
function M.request_id()
  local ctx = ngx.ctx
  if ctx.request_id then
    return ctx.request_id
  end
  -- $http_x_request_id is cheap but shows one of several copies; the header
  -- table tells a repeated header (a list) apart.
  local sent = ngx.var.http_x_request_id and ngx.req.get_headers(100)["x-request-id"]
  if M.valid_client_id(sent) then
    ctx.request_id = sent
    return sent
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

-- CORS headers for an allowed Origin (handler sets ngx.ctx.cors); a
-- function's own Access-Control-Allow-Origin wins.
local function add_cors()
  local cors = ngx.ctx.cors
  if not cors or ngx.header["Access-Control-Allow-Origin"] then
    return
  end
  for name, value in pairs(cors) do
    ngx.header[name] = value
  end
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
  add_cors()
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

-- The documented failure body, built by hand to keep the key order.
function M.error_body(code, message)
  return string.format('{"code":%s,"message":%s,"requestId":%s}', json.encode(code),
    json.encode(message), json.encode(M.request_id()))
end

-- error(status, code, message[, headers]): the documented failure shape.
function M.error(status, code, message, headers)
  ngx.ctx.error_code = code
  return M.json_text(status, M.error_body(code, message), headers)
end

-- oauth_error(status, error, description): the auth API's OAuth2 form
-- (RFC 6749 section 5.2), which the official client reads on /auth/v1/token.
function M.oauth_error(status, err, description)
  ngx.ctx.error_code = err
  return M.json(status, { error = err, error_description = description })
end

return M
