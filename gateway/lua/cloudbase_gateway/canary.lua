-- Version selection: X-Qualifier, else the canary weights.
--
-- The canary is a deterministic weighted round-robin. Unqualified calls to a
-- function are numbered n = 0, 1, 2, ... (a counter in the gw_state shared
-- dict, reset by DELETE /_gateway/invocations). Call n lands on slot
-- (seed + n * stride) mod W, W being the sum of the weights, and slot s
-- belongs to the version whose weight range covers s. The stride is coprime
-- with W, so every block of W consecutive calls after a reset visits each slot
-- exactly once: the split is exact per block, and the seed only changes the
-- order in which versions come up.
local ngx = ngx
local M = {}

local state = ngx.shared.gw_state

local function gcd(a, b)
  while b ~= 0 do
    a, b = b, a % b
  end
  return a
end

local strides = {}
local function stride_for(total)
  local s = strides[total]
  if s then
    return s
  end
  s = math.max(1, math.floor(total * 0.618))
  while gcd(s, total) ~= 1 do
    s = s + 1
  end
  strides[total] = s
  return s
end

-- pick(env, fn, qualifier) -> version | nil, failure
function M.pick(env, fn, qualifier)
  if type(qualifier) == "table" then
    qualifier = qualifier[1]
  end
  if qualifier ~= nil and qualifier ~= "" then
    local version = fn.versions[qualifier]
    if not version then
      return nil, {
        status = 404, code = "FUNCTION_QUALIFIER_NOT_FOUND",
        message = "function " .. fn.name .. " has no version " .. qualifier,
      }
    end
    return version
  end
  local canary = fn.canary
  if not canary then
    return fn.versions["$LATEST"]
  end
  local n = state:incr("canary:" .. env.id .. ":" .. fn.name, 1, -1)
  local slot = (canary.seed + n * stride_for(canary.total)) % canary.total
  for _, s in ipairs(canary.slots) do
    if slot < s.upto then
      return fn.versions[s.version]
    end
  end
  return fn.versions["$LATEST"]
end

function M.reset()
  state:flush_all()
end

return M
