-- A small coroutine scheduler on one client: each task reads like blocking code
-- (`call:await()`), yet the tasks' calls run at the same time. await() yields the call
-- to the scheduler; the scheduler polls the client and resumes the tasks whose call is
-- done.
--
--   examples/run coroutines
--
-- The client reads CLOUDBASE_BASE_URL and CLOUDBASE_TOKEN from the environment.
local functions = require "cloudbase.functions"

local client = functions.new { timeout = 5 }

local tasks = {}
local function spawn(fn)
  tasks[#tasks + 1] = coroutine.create(fn)
end

-- Resumes each task once; a task waiting on a call that is not done yields again at
-- once. Returns how many tasks are still alive.
local function step()
  local alive = 0
  for _, task in ipairs(tasks) do
    if coroutine.status(task) == "suspended" then
      local ok, err = coroutine.resume(task)
      if not ok then
        print("task failed: " .. tostring(err))
      end
      if coroutine.status(task) ~= "dead" then
        alive = alive + 1
      end
    end
  end
  return alive
end

local function run()
  while step() > 0 do
    client:poll(1) -- sleeps until some call finished (or 1 s)
  end
end

for i = 1, 5 do
  spawn(function()
    local slept = client:start("sleep", { ms = 100 * i }):await().slept
    local echoed = client:start("echo", { task = i, slept = slept }):await()
    print(string.format("task %d: slept %d ms, echo says task %d", i, slept, echoed.task))
  end)
end
-- await() raises the call's error. To get `nil, err` instead, wait by hand and ask
-- try_result() (a pcall around a yield needs Lua 5.2+ or LuaJIT).
local function try_await(call)
  while not call:done() do
    coroutine.yield(call)
  end
  return call:try_result()
end
spawn(function()
  local result, err = try_await(client:start("no_such_function"))
  print("task 6: " .. (result and "unexpected success" or tostring(err)))
end)

local c0 = os.clock()
run()
client:close()
print(string.format("all tasks done, using %.3f s of CPU", os.clock() - c0))
