-- The gateway's request handling: routing, checks in the order the real
-- gateway applies them, running the function under its timeout, and turning
-- its result into the HTTP response.
--
--   init(config_path)  from init_by_lua (master): load + validate the config
--   handle()           from content_by_lua: every request
--   too_large()        from the error_page 413 location
--   log()              from log_by_lua: closes invocations cut short
local config_loader = require "cloudbase_gateway.config"
local json = require "cloudbase_gateway.json"
local reply = require "cloudbase_gateway.reply"
local auth = require "cloudbase_gateway.auth"
local canary = require "cloudbase_gateway.canary"
local invocations = require "cloudbase_gateway.invocations"
local limits = require "cloudbase_gateway.limits"
local cors = require "cloudbase_gateway.cors"

local ngx = ngx
local M = {}

local MAX_PAYLOAD = 6 * 1024 * 1024
local config
-- Directories of the config and of every function file, longest first:
-- removed from error text so no host path reaches a client.
local host_dirs = {}

local function dir_of(path)
  return path:match("^(.*/)[^/]*$")
end

function M.init(path)
  config = config_loader.load(path, ngx.time())
  local seen = {}
  local function add(dir)
    if dir and dir:sub(1, 1) == "/" and not seen[dir] then
      seen[dir] = true
      host_dirs[#host_dirs + 1] = dir
    end
  end
  add(dir_of(config.path))
  add(dir_of(debug.getinfo(1, "S").source:sub(2)))
  for _, env in pairs(config.envs) do
    for _, fn in pairs(env.functions) do
      add(dir_of(fn.file))
    end
  end
  table.sort(host_dirs, function(a, b) return #a > #b end)
end

-- Error text as a client may see it: no chunk positions ("/srv/fns/x.lua:12: ",
-- "[string \"...\"]:3: ") and no host directory the gateway knows of.
local function without_paths(text)
  text = tostring(text)
  text = text:gsub("[^%s\"'(]*%.lua:%d+:%s?", "")
  text = text:gsub('%[string "[^"]*"%]:%d+:%s?', "")
  for _, dir in ipairs(host_dirs) do
    local from = 1
    while true do
      local i, j = text:find(dir, from, true)
      if not i then
        break
      end
      text = text:sub(1, i - 1) .. text:sub(j + 1)
      from = i
    end
  end
  return text
end

local function fail(failure)
  return reply.error(failure.status, failure.code, failure.message)
end

-- The request body as a string ("" when there is none).
local function read_body()
  ngx.req.read_body()
  ngx.ctx.body_read = true
  local body = ngx.req.get_body_data()
  if body then
    return body
  end
  local path = ngx.req.get_body_file()
  if not path then
    return ""
  end
  local fh = io.open(path, "rb")
  if not fh then
    return ""
  end
  body = fh:read("*a")
  fh:close()
  return body
end

local function plain_headers()
  local out = {}
  for name, value in pairs(ngx.req.get_headers(200)) do
    out[name:lower()] = value
  end
  return out
end

local function first(value)
  if type(value) == "table" then
    return value[1]
  end
  return value
end

---------------------------------------------------------------------------
-- What a function may return, besides plain values.

local RESPONSE_MT = {}

-- context.response{status=, headers=, body=}: full control of the answer.
local function make_response(t)
  if type(t) ~= "table" then
    error("context.response expects a table {status=, headers=, body=}", 2)
  end
  return setmetatable({ status = t.status or 200, headers = t.headers or {},
                        body = t.body or "" }, RESPONSE_MT)
end

-- context.gateway_error(status, code, message): answer the gateway's own
-- failure shape, as if the gateway itself had failed (fault functions).
local GATEWAY_ERROR_MT = {}

local function make_gateway_error(status, code, message)
  if type(status) ~= "number" or type(code) ~= "string" then
    error("context.gateway_error expects (status, code[, message])", 2)
  end
  return setmetatable({ status = status, code = code, message = tostring(message or code) },
    GATEWAY_ERROR_MT)
end

-- context.raw_json(text): answer 200 application/json with text verbatim.
local function make_raw_json(text)
  if type(text) ~= "string" then
    error("context.raw_json expects a string of JSON text", 2)
  end
  return setmetatable({ status = 200, body = text,
    headers = { ["Content-Type"] = "application/json; charset=utf-8" } }, RESPONSE_MT)
end

---------------------------------------------------------------------------
-- Running a function.

local TIMED_OUT = {}

-- run(handler, event, context, timeout) -> "ok", result | "error", message
--                                          | "timeout"
local function run(handler, event, context, timeout)
  local worker = ngx.thread.spawn(function()
    return pcall(handler, event, context)
  end)
  local timer = ngx.thread.spawn(function()
    ngx.sleep(timeout)
    return TIMED_OUT
  end)
  local alive, a, b = ngx.thread.wait(worker, timer)
  ngx.thread.kill(worker)
  ngx.thread.kill(timer)
  if not alive then
    return "error", tostring(a)
  end
  if a == TIMED_OUT then
    return "timeout"
  end
  if not a then
    return "error", tostring(b)
  end
  return "ok", b
end

-- Map a function's result to (status, headers, body) or nil, failure message.
local function render_value(result)
  if result == nil then
    return 200, { ["Content-Type"] = "application/json; charset=utf-8" }, "null"
  end
  local kind = type(result)
  if kind == "string" then
    return 200, { ["Content-Type"] = "text/plain; charset=utf-8" }, result
  end
  if kind == "table" or kind == "number" or kind == "boolean" or result == json.null then
    local text, err = json.encode(result)
    if not text then
      return nil, "the function returned a value that is not JSON: " .. tostring(err)
    end
    return 200, { ["Content-Type"] = "application/json; charset=utf-8" }, text
  end
  return nil, "the function returned a " .. kind .. ", which has no JSON form"
end

local function render_web(result)
  if type(result) ~= "table" or getmetatable(result) == RESPONSE_MT
      or result.statusCode == nil then
    return nil
  end
  local status = tonumber(result.statusCode)
  if not status or status < 100 or status > 999 then
    return nil, "statusCode must be an HTTP status number"
  end
  local headers = {}
  for name, value in pairs(result.headers or {}) do
    headers[name] = value
  end
  local body = result.body
  if type(body) == "table" then
    local text, err = json.encode(body)
    if not text then
      return nil, "the web function's body is not JSON: " .. tostring(err)
    end
    body = text
    local has_type = false
    for name in pairs(headers) do
      if name:lower() == "content-type" then
        has_type = true
      end
    end
    if not has_type then
      headers["Content-Type"] = "application/json; charset=utf-8"
    end
  elseif body == nil then
    body = ""
  elseif type(body) ~= "string" then
    body = tostring(body)
  end
  if result.isBase64Encoded then
    body = ngx.decode_base64(body)
    if not body then
      return nil, "isBase64Encoded is set but the body is not base64"
    end
  end
  return status, headers, body
end

local function render(fn, result)
  if type(result) == "table" and getmetatable(result) == RESPONSE_MT then
    local status = tonumber(result.status)
    if not status then
      return nil, "context.response: status must be a number"
    end
    return status, result.headers, tostring(result.body)
  end
  if fn.type == "web" then
    local status, headers, body = render_web(result)
    if status or headers then
      return status, headers, body
    end
  end
  return render_value(result)
end

local function invoke(env, fn, version, identity, event, raw_body, sub_path)
  local request_id = reply.request_id()
  local context = {
    function_name = fn.name,
    version = version.name,
    request_id = request_id,
    env = env.id,
    identity = { type = identity.type, uid = identity.uid, loginType = identity.loginType },
    method = ngx.req.get_method(),
    uri = ngx.var.request_uri,
    path = sub_path,
    headers = plain_headers(),
    raw_body = raw_body,
    timeout = version.timeout,
    response = make_response,
    raw_json = make_raw_json,
    gateway_error = make_gateway_error,
  }
  -- Rate limits last: a refused call is one that would otherwise have run.
  local held, refusal = limits.admit(env, fn)
  if not held then
    invocations.limited(fn.name)
    return reply.error(refusal.status, refusal.code, refusal.message,
      { ["Retry-After"] = tostring(refusal.retry_after) })
  end
  ngx.ctx.limits_held = held
  local record = invocations.start(env.id, fn.name, version.name, request_id)
  ngx.ctx.record = record

  local outcome, result = run(version.handler, event, context, version.timeout)
  limits.release(held)

  if outcome == "timeout" then
    invocations.finish(record, "timeout", 504, "FUNCTION_TIME_LIMIT_EXCEEDED")
    return reply.error(504, "FUNCTION_TIME_LIMIT_EXCEEDED", string.format(
      "function %s (version %s) ran past its %gs timeout", fn.name, version.name,
      version.timeout))
  end
  if outcome == "error" then
    invocations.finish(record, "error", 500, "FUNCTION_INVOCATION_FAILED")
    return reply.error(500, "FUNCTION_INVOCATION_FAILED",
      "function " .. fn.name .. " failed: " .. without_paths(result))
  end
  if getmetatable(result) == GATEWAY_ERROR_MT then
    invocations.finish(record, "error", result.status, result.code)
    return reply.error(result.status, result.code, result.message)
  end
  if ngx.headers_sent then
    -- The function wrote its own response through ngx (fault injection).
    invocations.finish(record, "ok", ngx.status)
    return ngx.exit(ngx.OK)
  end
  local status, headers, body = render(fn, result)
  if not status then
    invocations.finish(record, "error", 500, "FUNCTION_INVOCATION_FAILED")
    return reply.error(500, "FUNCTION_INVOCATION_FAILED",
      "function " .. fn.name .. ": " .. without_paths(headers))
  end
  invocations.finish(record, "ok", status)
  return reply.send(status, headers, body)
end

---------------------------------------------------------------------------
-- Endpoints.

local function admin(uri)
  local method = ngx.req.get_method()
  if uri == "/_gateway/health" then
    return reply.json(200, { status = "ok" })
  elseif uri == "/_gateway/invocations" then
    if method == "GET" then
      return reply.json_text(200, invocations.snapshot_json())
    elseif method == "DELETE" then
      invocations.reset()
      canary.reset()
      limits.refill()
      return reply.json(200, { reset = true })
    end
    return reply.error(405, "METHOD_NOT_ALLOWED", "use GET or DELETE")
  elseif uri == "/_gateway/state" then
    if method == "DELETE" then
      invocations.reset()
      canary.reset()
      limits.refill()
      auth.reset()
      return reply.json(200, { reset = true })
    end
    return reply.error(405, "METHOD_NOT_ALLOWED", "use DELETE")
  end
  return reply.error(404, "RESOURCE_NOT_FOUND", "no such gateway endpoint: " .. uri)
end

local function token_endpoint(env)
  if ngx.req.get_method() ~= "POST" then
    return reply.error(405, "METHOD_NOT_ALLOWED", "use POST")
  end
  local body = read_body()
  -- A JSON object or a form (clients differ; the body says which). Failures
  -- answer in the auth API's OAuth2 form, which the official client reads.
  local params
  if body:match("^%s*[{%[]") then
    params = json.decode_object(body)
  elseif body ~= "" then
    params = ngx.decode_args(body, 100)
  end
  if type(params) ~= "table" then
    return reply.oauth_error(400, "invalid_request", "the body must be a JSON object or a form")
  end
  if params.grant_type ~= "refresh_token" then
    return reply.oauth_error(400, "unsupported_grant_type",
      "only the refresh_token grant is emulated")
  end
  local tokens, failure = auth.refresh(env, params.refresh_token)
  if not tokens then
    return reply.oauth_error(failure.status, failure.error, failure.description)
  end
  invocations.refreshed(env.id)
  return reply.json(200, tokens, { ["Cache-Control"] = "no-store" })
end

local function is_webfn()
  local arg = ngx.var.arg_webfn
  local header = first(ngx.req.get_headers()["x-tcb-webfn"])
  return arg == "true" or (header ~= nil and header:lower() == "true")
end

local function functions_endpoint(env, name, rest)
  if not config_loader.valid_name(name) then
    return reply.error(400, "INVALID_PARAM", "invalid function name: the name must match "
      .. "^[a-zA-Z][a-zA-Z0-9_-]{0,58}[a-zA-Z0-9]$")
  end
  local identity, failure = auth.identify(env, ngx.req.get_headers()["authorization"])
  if not identity then
    return fail(failure)
  end
  local allowed
  allowed, failure = auth.rules_allow(env, name, identity)
  if not allowed then
    return fail(failure)
  end
  local fn = env.functions[name]
  if not fn then
    return reply.error(404, "FUNCTION_NOT_FOUND",
      "function " .. name .. " does not exist in env " .. env.id)
  end
  local method = ngx.req.get_method()
  local webfn = is_webfn()
  if fn.type == "web" then
    if not webfn then
      return reply.error(400, "INVALID_PARAM", "function " .. name
        .. " is a web function: invoke it with ?webfn=true or the header X-Tcb-Webfn: true")
    end
  else
    if webfn then
      return reply.error(400, "INVALID_PARAM", "function " .. name
        .. " is an event function: invoke it without webfn")
    end
    if rest ~= "" then
      return reply.error(404, "RESOURCE_NOT_FOUND",
        "event functions take no sub-path: POST /v1/functions/" .. name)
    end
    if method ~= "POST" then
      return reply.error(405, "METHOD_NOT_ALLOWED",
        "event functions are invoked with POST, not " .. method)
    end
  end
  local version
  version, failure = canary.pick(env, fn, ngx.req.get_headers()["x-qualifier"])
  if not version then
    return fail(failure)
  end

  local body = read_body()
  if #body > MAX_PAYLOAD then
    return reply.error(413, "EXCEED_REQUEST_SIZE_LIMIT", "the request body is over 6 MB")
  end
  local event
  if fn.type == "web" then
    event = {
      method = method,
      path = rest == "" and "/" or rest,
      query = ngx.req.get_uri_args(100),
      raw_query = ngx.var.args or "",
      headers = plain_headers(),
      body = body,
      isBase64Encoded = false,
    }
  else
    local err
    event, err = json.decode_object(body)
    if not event then
      return reply.error(400, "FUNCTION_PARAM_INVALID", "bad http request body: " .. err)
    end
  end
  return invoke(env, fn, version, identity, event, body, rest)
end

function M.handle()
  reply.stamp()
  local uri = ngx.var.uri
  if uri:sub(1, 10) == "/_gateway/" then
    return admin(uri)
  end
  if cors.apply(config.cors) then
    ngx.req.discard_body()
    return ngx.exit(ngx.OK)
  end
  local host = (ngx.var.host or ""):lower()
  local env = config.hosts[host]
  if not env then
    return reply.error(404, "INVALID_HOST",
      "host " .. host .. " is not the gateway of any configured environment")
  end
  if uri == "/auth/v1/token" then
    return token_endpoint(env)
  end
  local name, rest = uri:match("^/v1/functions/([^/]*)(.*)$")
  if not name then
    return reply.error(404, "RESOURCE_NOT_FOUND", "no such endpoint: " .. uri)
  end
  return functions_endpoint(env, name, rest)
end

function M.too_large()
  reply.stamp()
  cors.apply(config.cors) -- ngx.ctx did not survive the error_page redirect
  return reply.error(413, "EXCEED_REQUEST_SIZE_LIMIT", "the request body is over 6 MB")
end

function M.log()
  limits.release(ngx.ctx.limits_held)
  local record = ngx.ctx.record
  if record and not record.finished then
    invocations.finish(record, "aborted", ngx.status)
  end
end

return M
