-- The OpenResty example's handler: each location calls CloudBase functions through
-- cloudbase.functions.ngx, so a call waits on nginx's event loop (a cosocket) while
-- the worker goes on serving other requests.
--
--   GET /sum?numbers=1,2,3   one call: client:invoke
--   GET /fanout              five calls at once: client:invoke_all on ngx.thread
--   GET /error               a failing call: try_invoke's structured error
local cjson = require "cjson"
local cbngx = require "cloudbase.functions.ngx"

local M = {}

-- One client per worker, made on first use (its base URL and token come from the
-- CLOUDBASE_* variables named by `env` in nginx.conf). It holds no connection of its
-- own: the cosocket pool is nginx's.
local client
local function get_client()
  if not client then
    client = cbngx.new { timeout = 5, pool_size = 16 }
  end
  return client
end

local routes = {}

function routes.sum()
  local numbers = {}
  for n in (ngx.var.arg_numbers or "1,2,3"):gmatch("[^,]+") do
    numbers[#numbers + 1] = tonumber(n)
  end
  local result, info = get_client():invoke("sum", { numbers = numbers })
  return { sum = result.sum, count = result.count, request_id = info.request_id }
end

function routes.fanout()
  local calls = {}
  for i = 1, 4 do
    calls[i] = { "greeting", {} }
  end
  calls[5] = { name = "sum", payload = { numbers = { 40, 2 } } }
  local out = {}
  for i, r in ipairs(get_client():invoke_all(calls, { concurrency = 5 })) do
    out[i] = r.ok and r.result or { error = r.error.code }
  end
  return out
end

function routes.error()
  local result, err = get_client():try_invoke("no_such_function", {})
  if result == nil and err then
    return { code = err.code, status = err.status, message = err.message, request_id = err.request_id }
  end
  return { unexpected = result }
end

function M.handle()
  local route = routes[ngx.var.uri:match("^/(%w+)$") or ""]
  if not route then
    ngx.status = 404
    return ngx.say(cjson.encode({ routes = { "/sum?numbers=1,2,3", "/fanout", "/error" } }))
  end
  local ok, body = pcall(route)
  if not ok then -- invoke raises the module's error objects
    ngx.status = 502
    body = { error = tostring(body) }
  end
  ngx.say(cjson.encode(body))
end

return M
