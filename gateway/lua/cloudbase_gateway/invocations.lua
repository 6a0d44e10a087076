-- The invocation log: per-function counts, in-flight gauges with their
-- high-water marks, and a bounded list of finished entries, all in the
-- gw_invocations shared dict; plus one JSON line per invocation appended to
-- <run dir>/invocations.log.
local json = require "cloudbase_gateway.json"

local ngx = ngx
local M = {}

local dict = ngx.shared.gw_invocations
local MAX_ENTRIES = 10000

local log_file
local function append_line(line)
  if not log_file then
    log_file = io.open(ngx.config.prefix() .. "invocations.log", "a")
    if not log_file then
      return
    end
    log_file:setvbuf("line")
  end
  log_file:write(line, "\n")
end

-- start(name, version, request_id) -> record (kept in ngx.ctx by the caller)
function M.start(env_id, name, version, request_id)
  dict:incr("count:" .. name, 1, 0)
  local now_in_flight = dict:incr("inflight:" .. name, 1, 0)
  local max = dict:get("max:" .. name) or 0
  if now_in_flight > max then
    dict:set("max:" .. name, now_in_flight)
  end
  return {
    env = env_id,
    ["function"] = name,
    version = version,
    request_id = request_id,
    started = ngx.now(),
    -- which client connection carried the call, and its how-manieth request: shows
    -- connection reuse (client:connect, shared pools) from the server's side
    connection = tonumber(ngx.var.connection),
    connection_requests = tonumber(ngx.var.connection_requests),
  }
end

-- finish(record, status[, http_status[, code]]): idempotent. `code` is the
-- gateway error code the caller got (FUNCTION_INVOCATION_FAILED, SYS_ERR...).
function M.finish(record, status, http_status, code)
  if record.finished then
    return
  end
  ngx.update_time()
  record.finished = ngx.now()
  record.status = status
  record.http_status = http_status
  record.code = code
  dict:incr("inflight:" .. record["function"], -1, 0)
  local line = json.encode(record)
  if line then
    local len = dict:rpush("entries", line)
    if len and len > MAX_ENTRIES then
      dict:lpop("entries")
    end
    append_line(line)
  end
end

-- limited(name): a call refused by a rate limit (the function did not run).
function M.limited(name)
  dict:incr("limited:" .. name, 1, 0)
end

-- refreshed(env_id): a refresh token was exchanged (POST /auth/v1/token answered 200).
function M.refreshed(env_id)
  dict:incr("refreshed:" .. env_id, 1, 0)
end

local function prefixed(keys, prefix)
  local out = {}
  local n = 0
  for _, key in ipairs(keys) do
    if key:sub(1, #prefix) == prefix then
      out[key:sub(#prefix + 1)] = dict:get(key)
      n = n + 1
    end
  end
  return out, n
end

-- snapshot() -> JSON text of { counts, max_in_flight, in_flight, limited, refreshes, entries }
function M.snapshot_json()
  local keys = dict:get_keys(0)
  local parts = {}
  for _, field in ipairs({ { "counts", "count:" }, { "max_in_flight", "max:" },
                            { "in_flight", "inflight:" }, { "limited", "limited:" },
                            { "refreshes", "refreshed:" } }) do
    local map, n = prefixed(keys, field[2])
    parts[#parts + 1] = string.format("\"%s\":%s", field[1], n == 0 and "{}" or json.encode(map))
  end
  local entries = {}
  local len = dict:llen("entries") or 0
  for _ = 1, len do
    local line = dict:lpop("entries")
    if line then
      entries[#entries + 1] = line
    end
  end
  for _, line in ipairs(entries) do
    dict:rpush("entries", line)
  end
  parts[#parts + 1] = '"entries":[' .. table.concat(entries, ",") .. "]"
  return "{" .. table.concat(parts, ",") .. "}"
end

function M.reset()
  dict:flush_all()
  dict:flush_expired()
end

return M
