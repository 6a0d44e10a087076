-- Rate limits per environment and per function: a token bucket for requests
-- per second (refilled at `rps`, holding up to `burst`) and a counter of
-- invocations in flight, both in the gw_limits shared dict so that every
-- nginx worker sees the same numbers. A refused call never runs.
local ngx = ngx
local M = {}

local dict = ngx.shared.gw_limits

local LOCK_TTL = 0.05     -- seconds; a lock outliving a crashed holder expires
local LOCK_TRIES = 200

-- Serialise a read-modify-write of one bucket across workers: shared dicts
-- offer atomic add/incr but no compare-and-set.
local function locked(key, fn)
  local lock = "lock:" .. key
  for _ = 1, LOCK_TRIES do
    if dict:add(lock, true, LOCK_TTL) then
      local ok, a, b = pcall(fn)
      dict:delete(lock)
      if not ok then
        error(a, 0)
      end
      return a, b
    end
    ngx.sleep(0.001)
  end
  return fn()
end

-- take(key, rps, burst) -> true | false, seconds until a token is back
local function take(key, rps, burst)
  return locked(key, function()
    ngx.update_time()
    local now = ngx.now()
    local state = dict:get("bucket:" .. key)
    local tokens = burst
    if state then
      local t, last = state:match("^([^:]+):(.+)$")
      tokens = math.min(burst, tonumber(t) + math.max(0, now - tonumber(last)) * rps)
    end
    local ok = tokens >= 1
    if ok then
      tokens = tokens - 1
    end
    dict:set("bucket:" .. key, string.format("%.6f:%.6f", tokens, now))
    if ok then
      return true
    end
    return false, (1 - tokens) / rps
  end)
end

local function release_all(held)
  for i = #held, 1, -1 do
    dict:incr("inflight:" .. held[i], -1, 0)
    held[i] = nil
  end
end

local function refused(code, message, retry_after)
  return nil, { status = 429, code = code, message = message, retry_after = retry_after }
end

local function scopes_of(env, fn)
  local scopes = {}
  if env.limits then
    scopes[#scopes + 1] = { key = "env:" .. env.id, limits = env.limits, what = "env " .. env.id }
  end
  if fn.limits then
    scopes[#scopes + 1] = { key = "fn:" .. env.id .. ":" .. fn.name, limits = fn.limits,
                            what = "function " .. fn.name }
  end
  return scopes
end

-- admit(env, fn) -> held | nil, failure
-- Checks requests per second (env, then function), then takes a concurrency
-- slot at each level. `held` lists the slots to hand back to release().
-- A call refused at the function level has still used a token of the env's
-- bucket, as it would have at a real gateway's front door.
function M.admit(env, fn)
  local scopes = scopes_of(env, fn)
  for _, s in ipairs(scopes) do
    local rps = s.limits.rps
    if rps then
      local ok, wait = take(s.key, rps, s.limits.burst)
      if not ok then
        return refused("EXCEED_RATELIMIT", string.format(
          "the request rate limit of %s (%g requests per second) is exceeded", s.what, rps),
          s.limits.retry_after or math.max(1, math.ceil(wait)))
      end
    end
  end
  local held = {}
  for _, s in ipairs(scopes) do
    local limit = s.limits.concurrency
    if limit then
      local now = dict:incr("inflight:" .. s.key, 1, 0)
      if now > limit then
        dict:incr("inflight:" .. s.key, -1, 0)
        release_all(held)
        return refused("EXCEED_CONCURRENT_REQUEST_LIMIT", string.format(
          "the concurrent invocation limit of %s (%d) is reached", s.what, limit),
          s.limits.retry_after or 1)
      end
      held[#held + 1] = s.key
    end
  end
  return held
end

-- release(held): hand the concurrency slots back; safe to call twice.
function M.release(held)
  if held then
    release_all(held)
  end
end

-- Refill every bucket (tests start from a known state). In-flight counters
-- are left alone: running invocations still hold their slots.
function M.refill()
  for _, key in ipairs(dict:get_keys(0)) do
    if key:sub(1, 7) == "bucket:" then
      dict:delete(key)
    end
  end
end

return M
