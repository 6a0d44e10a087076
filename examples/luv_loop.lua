-- Drive the client from a luv (libuv) event loop, with no polling: libcurl's sockets
-- become uv_poll handles and its timer one uv_timer. client:watch() says what to watch
-- and when libcurl wants to run; client:socket_action() runs it when that happens.
--
--   examples/run luv_loop
--
-- The client reads CLOUDBASE_BASE_URL and CLOUDBASE_TOKEN from the environment.
local uv = require "luv"
local functions = require "cloudbase.functions"

-- Ties a client to the loop. Call the returned sync() after client:start() and after
-- anything else that drives the client outside the loop's callbacks.
local function attach(client)
  local polls, timer = {}, uv.new_timer()
  local sync

  local function on_ready(fd)
    return function(err, events)
      client:socket_action(fd, not err and events or nil) -- nil: libcurl looks itself
      sync()
    end
  end

  local function on_timer()
    client:socket_action() -- no fd: libcurl's timeout is due
    sync()
  end

  sync = function()
    local changes, timeout = client:watch()
    for _, change in ipairs(changes) do
      local poll = polls[change.fd]
      if change.events == "remove" then
        if poll then
          poll:stop()
          poll:close()
          polls[change.fd] = nil
        end
      else
        if not poll then
          poll = uv.new_poll(change.fd)
          polls[change.fd] = poll
        end
        poll:start(change.events, on_ready(change.fd)) -- "r", "w" or "rw", as luv spells them
      end
    end
    timer:stop()
    if timeout then
      timer:start(math.ceil(timeout * 1000), 0, on_timer)
    end
  end

  local function detach()
    for fd, poll in pairs(polls) do
      poll:close()
      polls[fd] = nil
    end
    timer:close()
  end

  return sync, detach
end

local client = functions.new { timeout = 5 }
local sync, detach = attach(client)

-- Something else the loop does meanwhile: a 50 ms ticker.
local ticks = 0
local ticker = uv.new_timer()
ticker:start(50, 50, function() ticks = ticks + 1 end)

local t0 = uv.hrtime()
local pending = 0
local function call(name, payload)
  pending = pending + 1
  client:start(name, payload, {
    on_done = function(c)
      local result, err = c:try_result()
      print(string.format("%6.1f ms  %-6s %s", (uv.hrtime() - t0) / 1e6, name,
        result and functions.json.encode(result) or tostring(err)))
      pending = pending - 1
      if pending == 0 then -- the last one: let the loop end
        ticker:close()
        detach()
      end
    end,
  })
end

for i = 1, 3 do
  call("sleep", { ms = 100 * i })
end
call("echo", { hello = "luv" })
sync()
uv.run()
client:close()
print(string.format("all done; the ticker ticked %d times meanwhile", ticks))
