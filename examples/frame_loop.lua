-- A game-style frame loop at 60 fps that calls a 200 ms cloud function every 0.5 s and
-- never stalls a frame: client:start() returns at once, client:poll(0) in every frame
-- moves the calls along, and on_done feeds each result into the game state.
--
--   examples/run frame_loop               the non-blocking loop (the point of it)
--   examples/run frame_loop blocking      the same loop with client:invoke, to compare
--   examples/run frame_loop idle          the loop with no calls: the machine's own jitter
--
-- The last line reads "mode=... frames=... lost=... worst_ms=..." (bench/frame_loop.lua
-- parses it). The client reads CLOUDBASE_BASE_URL and CLOUDBASE_TOKEN from the environment.
local functions = require "cloudbase.functions"
local socket = require "socket" -- the frame clock: gettime() and sleep()

local mode = arg and arg[1] or "nonblocking"
local seconds = tonumber(arg and arg[2]) or 3
local FPS, CALL_EVERY, CALL_MS = 60, 0.5, 200
assert(mode == "nonblocking" or mode == "blocking" or mode == "idle", "mode: nonblocking, blocking or idle")

local client = functions.new { timeout = 5 }
local game = { score = 0, calls = 0, answers = 0 }

local function on_result(result, err)
  game.answers = game.answers + 1
  if result then
    game.score = game.score + result.slept
  else
    print("call failed: " .. tostring(err))
  end
end

local frame_time = 1 / FPS
local start = socket.gettime()
local next_frame, next_call, last_frame = start, start, start
local frames, worst = 0, 0

while socket.gettime() - start < seconds do
  local now = socket.gettime()
  worst = math.max(worst, now - last_frame)
  last_frame = now
  frames = frames + 1

  -- game logic: every CALL_EVERY seconds, ask the cloud for something
  if now >= next_call and mode ~= "idle" then
    next_call = next_call + CALL_EVERY
    game.calls = game.calls + 1
    if mode == "blocking" then
      on_result(client:try_invoke("sleep", { ms = CALL_MS }))
    else
      client:start("sleep", { ms = CALL_MS }, {
        on_done = function(call) on_result(call:try_result()) end,
      })
    end
  end
  client:poll(0) -- runs the on_done of calls that finished; never waits

  -- (render the frame here), then sleep until the next frame is due
  next_frame = next_frame + frame_time
  local late = socket.gettime() - next_frame
  if late > 0 then -- an overrun: drop the frame slots that went by
    next_frame = next_frame + math.ceil(late / frame_time) * frame_time
  end
  socket.sleep(next_frame - socket.gettime())
end

while game.answers < game.calls do -- the last calls, after the loop
  client:poll(1)
end
client:close()

local expected = math.floor(seconds * FPS)
print(string.format("%d calls answered, score %d", game.answers, game.score))
print(string.format("mode=%s frames=%d lost=%d worst_ms=%.1f calls=%d",
  mode, frames, math.max(0, expected - frames), worst * 1000, game.calls))
