-- The nginx figure of make bench: requests/s of an instant location while eight
-- handlers keep 200 ms calls in flight, with the blocking C invoke (libcurl) and with
-- the cosocket client (cloudbase.functions.ngx), against an idle baseline.
--
--   lua5.4 bench/nginx_stall.lua URL        (URL: a running gateway, e.g. bench/run's)
--
-- Prints key=value lines: idle=, ngx=, blocking= (requests/s of /t/instant, best of
-- BENCH_REPEATS rounds) or error=. It runs the nginx of the nginx spec suite
-- (spec/nginx/harness.lua, handlers in spec/nginx/lua/cbf_handlers.lua) with one worker,
-- and needs the LuaJIT build (make nginx-module). The load is one client loop on a
-- kept-alive connection (Server:hammer), the same in every mode.
package.path = "./?.lua;" .. package.path

local harness = require "spec.nginx.harness"
local gateway = require "spec.support.gateway"

local url = assert(arg[1], "usage: lua5.4 bench/nginx_stall.lua GATEWAY_URL")
local repeats = tonumber(os.getenv("BENCH_REPEATS") or "") or 3
local SLOW = 8        -- handlers each making 200 ms calls back to back
local SECONDS = 2     -- wrk's sample

local ok, why = harness.available()
if not ok then
  print("error=" .. why)
  os.exit(0)
end

local srv = harness.start({ settings = { gw_url = url } })
local q = gateway.quote

local function instant_rate()
  local ok_, count, seconds = pcall(srv.hammer, srv, "/t/instant", { seconds = SECONDS, max = 1e9 })
  if not ok_ then
    return nil, tostring(count)
  end
  return count / seconds
end

-- /t/instant's rate while SLOW curl processes each make `calls` 200 ms calls back to
-- back through /t/slow?mode=MODE (one process and one kept-alive connection each, so
-- that the load itself costs little CPU). `calls` covers the sample: with the cosocket
-- client the SLOW calls overlap, with the blocking invoke they queue behind each other.
local function loaded_rate(mode, calls)
  local cmd = ("curl -s -o /dev/null --max-time 60 %s"):format(
    q(("%s/t/slow?mode=%s&n=[1-%d]"):format(srv.url, mode, calls)))
  local jobs = {}
  for i = 1, SLOW do
    jobs[i] = cmd .. " &"
  end
  local bg = io.popen(table.concat(jobs, " ") .. " wait")
  gateway.run("sleep 0.5")
  local rate, text = instant_rate()
  bg:read("*a")
  bg:close()
  return rate, text
end

local best = {}
local function keep(name, rate, text)
  if not rate then
    print("error=" .. (text or ""):gsub("\n", " "):sub(1, 200))
    srv:stop()
    os.exit(0)
  end
  best[name] = math.max(best[name] or 0, rate)
end

for _ = 1, repeats do
  keep("idle", instant_rate())
  keep("ngx", loaded_rate("ngx", math.ceil((SECONDS + 1) / 0.2)))
  keep("blocking", loaded_rate("blocking", math.ceil((SECONDS + 1) / 0.2 / SLOW)))
end
srv:stop()
for _, name in ipairs({ "idle", "ngx", "blocking" }) do
  print(("%s=%.1f"):format(name, best[name]))
end
