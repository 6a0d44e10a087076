-- The frame-loop figure (issue 9): examples/frame_loop.lua, a 60 fps loop that calls a
-- 200 ms function every 0.5 s, run with no calls (the machine's own jitter), with
-- client:start + poll(0), and with the blocking client:invoke.
--   lua5.4 bench/frame_loop.lua URL TOKEN [ROUNDS] [LUA]
-- Prints MODE_lost=N and MODE_worst_ms=X per mode, the best (lowest) of ROUNDS runs.
local url, token = assert(arg[1], "usage: frame_loop.lua URL TOKEN [ROUNDS] [LUA]"), arg[2] or "test-api-key"
local rounds, lua = tonumber(arg[3]) or 2, arg[4] or "lua5.4"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

for _, mode in ipairs { "idle", "nonblocking", "blocking" } do
  local lost, worst
  for _ = 1, rounds do
    local p = io.popen(string.format(
      "CLOUDBASE_BASE_URL=%s CLOUDBASE_TOKEN=%s %s -e %s examples/frame_loop.lua %s 3 2>&1",
      q(url), q(token), lua, q("package.cpath = './build/5.4/?.so;' .. package.cpath"), mode))
    local text = p:read("*a")
    p:close()
    local l, w = text:match("lost=(%d+) worst_ms=([%d.]+)")
    if not l then
      print(mode .. "_error=" .. text:gsub("\n", " "):sub(1, 200))
      break
    end
    lost = math.min(lost or math.huge, tonumber(l))
    worst = math.min(worst or math.huge, tonumber(w))
  end
  if lost then
    print(string.format("%s_lost=%d\n%s_worst_ms=%.1f", mode, lost, mode, worst))
  end
end
