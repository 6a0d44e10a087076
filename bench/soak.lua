-- make soak: SOAK_CALLS (default 1M) calls through client:invoke, then as many through
-- client:invoke_all (batches of 1000 at concurrency 16), against a local gateway of its
-- own. RSS is sampled every SOAK_SAMPLE calls after a full GC; the growth between the
-- first sample after warm-up and the last is reported, and the run fails (exit 1) when it
-- exceeds SOAK_MAX_GROWTH_MB in either phase, or when any call fails.
--
--   lua5.4 bench/soak.lua            (from the repository root, after `make`)
--   SOAK_CALLS=100000 lua5.4 bench/soak.lua
package.path = "./?.lua;./bench/?.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath -- make's default build

local functions = require "cloudbase.functions"
local gateway = require "spec.support.gateway"
local lib = require "lib"

local function env_number(name, default)
  local v = tonumber(os.getenv(name) or "")
  return v and math.tointeger(v) or v or default
end

local CALLS = env_number("SOAK_CALLS", 1000000)
local WARMUP = env_number("SOAK_WARMUP", 20000)
local SAMPLE = env_number("SOAK_SAMPLE", 50000)
local BATCH = env_number("SOAK_BATCH", 1000)
local CONCURRENCY = env_number("SOAK_CONCURRENCY", 16)
local MAX_GROWTH_MB = env_number("SOAK_MAX_GROWTH_MB", 8)
local FUNCTION = "public" -- gateway/test/functions/ok.lua: returns { ok = true }

local gw = gateway.start { config = "gateway/test/config.json" }
local log_path = gw.run_dir .. "/invocations.log"

-- The gateway appends ~200 bytes per call to its log: empty it at every sample so two
-- million calls do not leave 400 MB on disk. nginx opened it with O_APPEND, so its
-- next line simply starts the new file.
local function truncate_log()
  local f = io.open(log_path, "w")
  if f then
    f:close()
  end
end

local function sample()
  collectgarbage("collect")
  collectgarbage("collect")
  truncate_log()
  return lib.rss_kb(), collectgarbage("count")
end

-- phase(name, step) calls step() until CALLS calls are done; step returns how many it made.
local function phase(name, step)
  local done, t0 = 0, lib.now()
  local first, last
  local next_sample = WARMUP
  while done < CALLS do
    done = done + step()
    if done >= next_sample or done >= CALLS then
      local rss, lua_kb = sample()
      if not first then
        first = rss
      end
      last = rss
      io.write(string.format("  %-10s %8d calls  RSS %7d kB  Lua heap %7.0f kB  %6.0f calls/s\n",
        name, done, rss, lua_kb, done / (lib.now() - t0)))
      io.flush()
      next_sample = next_sample + SAMPLE
    end
  end
  local seconds = lib.now() - t0
  local growth_mb = (last - first) / 1024
  print(string.format("soak %s: %d calls in %.1f s (%.0f/s); RSS %.1f MB after %d warm-up calls, "
    .. "%.1f MB at the end: growth %.2f MB (bound %g MB)", name, done, seconds, done / seconds,
    first / 1024, WARMUP, last / 1024, growth_mb, MAX_GROWTH_MB))
  return growth_mb <= MAX_GROWTH_MB
end

local ok, result = pcall(function()
  local client = functions.new { base_url = gw.url, token = "test-api-key", timeout = 10 }
  local payload = lib.payload()

  local invoke_ok = phase("invoke", function()
    local r = client:invoke(FUNCTION, payload)
    if type(r) ~= "table" or r.ok ~= true then
      error("unexpected result from " .. FUNCTION)
    end
    return 1
  end)

  local calls = {}
  for i = 1, BATCH do
    calls[i] = { FUNCTION, payload }
  end
  local all_ok = phase("invoke_all", function()
    local list = client:invoke_all(calls, { concurrency = CONCURRENCY })
    for i = 1, BATCH do
      if not list[i].ok then
        error("invoke_all call " .. i .. " failed: " .. tostring(list[i].error))
      end
    end
    return BATCH
  end)
  client:close()
  return invoke_ok and all_ok
end)

gw:stop()
if not ok then
  io.stderr:write("soak: ", tostring(result), "\n")
  os.exit(1)
end
if not result then
  io.stderr:write("soak: RSS grew more than ", MAX_GROWTH_MB, " MB\n")
  os.exit(1)
end
print("soak: RSS flat within " .. MAX_GROWTH_MB .. " MB in both phases")
