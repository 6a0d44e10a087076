-- The gateway dies in the middle of an invoke_all: every call must end (its result or a
-- structured error with a documented code), none may hang, and none may run twice.
-- Each call carries a unique marker; gateway/test/functions/marked.lua writes it to the
-- run dir's markers.log the moment the function starts, and that file outlives a killed
-- worker and a restart on the same run dir, so the runs of every call can be counted.
--
-- No timed assertion: the wall time is bounded by the calls' own timeouts.
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"

local CALLS = 200
local CONCURRENCY = 16
local SLEEP_MS = 300     -- 200 calls at 16 in flight: about 4 s of work
-- The kill comes once this many calls have started: the first wave has answered and the
-- third is in flight, however slow the client runs (valgrind).
local KILL_AFTER_RUNS = 40
-- What a call cut off by a dying server may end with (README, "Errors").
local ENDED_BY_THE_KILL = { NETWORK_ERROR = true, TIMEOUT = true }

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

local function read_lines(path)
  local lines = {}
  local f = io.open(path, "r")
  if f then
    for line in f:lines() do
      lines[#lines + 1] = line
    end
    f:close()
  end
  return lines
end

-- markers.log -> { [marker] = number of runs }, { [worker pid] = true }
local function runs(run_dir)
  local count, pids = {}, {}
  for _, line in ipairs(read_lines(run_dir .. "/markers.log")) do
    local marker, pid = line:match("^(%S+) (%d+)$")
    if marker then
      count[marker] = (count[marker] or 0) + 1
      pids[pid] = true
    end
  end
  return count, pids
end

local function batch(prefix)
  local calls = {}
  for i = 1, CALLS do
    calls[i] = { "marked", { marker = prefix .. i, ms = SLEEP_MS } }
  end
  return calls
end

-- Every call ended: ok with its own marker back, or a documented error. Returns the
-- number of successes and failures.
local function assert_all_ended(list, prefix)
  assert.equals(CALLS, #list)
  local ok, failed = 0, 0
  for i = 1, CALLS do
    local outcome = list[i]
    if outcome.ok then
      ok = ok + 1
      assert.equals(prefix .. i, outcome.result.marker)
    else
      failed = failed + 1
      local err = outcome.error
      assert.is_true(functions.is_error(err), "call " .. i .. ": " .. tostring(err))
      assert.is_true(ENDED_BY_THE_KILL[err.code] == true, "call " .. i .. ": " .. tostring(err))
      assert.is_nil(err.status, "call " .. i .. ": " .. tostring(err))
    end
  end
  return ok, failed
end

-- No marker ran twice; every success ran exactly once.
local function assert_never_twice(list, run_dir, prefix)
  local count = runs(run_dir)
  for marker, n in pairs(count) do
    assert.is_true(n == 1, marker .. " ran " .. n .. " times")
  end
  for i = 1, CALLS do
    if list[i].ok then
      assert.equals(1, count[prefix .. i], prefix .. i .. " succeeded but its run was not recorded")
    end
  end
end

-- A shell snippet that waits (at most 30 s) until markers.log has KILL_AFTER_RUNS lines.
local function wait_for_runs(run_dir)
  return string.format("for i in $(seq 600); do "
    .. "[ $(cat %s/markers.log 2>/dev/null | wc -l) -ge %d ] && break; sleep 0.05; done",
    quote(run_dir), KILL_AFTER_RUNS)
end

-- Runs the shell steps in the background; the last one marks them done (see after_each).
local function in_background(run_dir, steps)
  steps[#steps + 1] = "touch " .. quote(run_dir .. "/killer.done")
  assert.is_true(sh("(" .. table.concat(steps, "; ") .. ") >/dev/null 2>&1 &"))
end

local function wait_for_file_line(path, pattern, tenths)
  for _ = 1, tenths do
    for _, line in ipairs(read_lines(path)) do
      if line:match(pattern) then
        return line
      end
    end
    sh("sleep 0.1")
  end
end

describe("a gateway killed during invoke_all", function()
  local gw, run_dir, client

  before_each(function()
    run_dir = os.tmpname()
    os.remove(run_dir)
    gw = gateway.start { run_dir = run_dir }
    client = gw:new { connect_timeout = 2 }
  end)

  after_each(function()
    -- A failed assertion may come before the background kill (and restart) is over: let
    -- it finish, so it cannot start a gateway after this one is stopped.
    for _ = 1, 400 do
      local done = io.open(run_dir .. "/killer.done", "r")
      if done then
        done:close()
        break
      end
      sh("sleep 0.1")
    end
    if client then
      client:close()
    end
    if gw then
      gw:stop()
    end
    sh("rm -rf " .. quote(run_dir))
  end)

  it("by SIGKILL of its worker: calls in flight fail once, later calls run on the new worker", function()
    -- The master keeps the listening socket and forks a new worker at once, so the calls
    -- after the kill (and any resend of a cut-off call) reach a live server.
    in_background(run_dir, {
      wait_for_runs(run_dir),
      string.format("for w in $(ps -o pid= --ppid %d); do kill -KILL $w; done", gw.pid),
    })
    local list = client:invoke_all(batch("w"), { concurrency = CONCURRENCY })
    local ok, failed = assert_all_ended(list, "w")
    local _, pids = runs(run_dir)
    local workers = 0
    for _ in pairs(pids) do
      workers = workers + 1
    end
    assert.equals(2, workers, "the batch should have run on the killed worker and its successor")
    assert_never_twice(list, run_dir, "w")
    assert.is_true(failed >= 1, "the kill cut no call off")
    assert.is_true(ok >= 1)
    -- The same client goes on working.
    assert.same({ marker = "after" }, client:invoke("marked", { marker = "after", ms = 1 }))
  end)

  it("by SIGKILL of master and worker, then a restart on the same port and run dir", function()
    local restart_out = run_dir .. "/restart.out"
    -- Stop the first start's watcher first: it would otherwise stop the restarted gateway
    -- when it sees its nginx gone.
    in_background(run_dir, {
      wait_for_runs(run_dir),
      "kill $(cat " .. quote(run_dir .. "/watcher.pid") .. ") 2>/dev/null",
      string.format("kill -9 -%d", gw.pid),
      string.format("for i in $(seq 50); do kill -0 -%d 2>/dev/null || break; sleep 0.1; done", gw.pid),
      string.format("%s start --config %s --port %d --run-dir %s --watch-pid $PPID >%s 2>&1",
        quote(gateway.script), quote(gateway.root .. "/gateway/test/config.json"), gw.port,
        quote(run_dir), quote(restart_out .. ".tmp")),
      "mv " .. quote(restart_out .. ".tmp") .. " " .. quote(restart_out),
    })
    local list = client:invoke_all(batch("r"), { concurrency = CONCURRENCY })
    local ok, failed = assert_all_ended(list, "r")
    assert.is_true(ok >= 1, "no call ran before the kill")
    assert.is_true(failed >= 1, "the kill cut no call off")

    local started = wait_for_file_line(restart_out, "^pid=%d+", 150)
    assert.is_truthy(started, "the gateway did not restart: " .. table.concat(read_lines(restart_out), "\n"))
    assert.is_true(tonumber(started:match("%d+")) ~= gw.pid)
    -- The log written before the kill is still there, and nothing ran twice across the
    -- kill, the restart and the calls that follow it.
    assert.equals(ok, #read_lines(run_dir .. "/invocations.log"))
    assert.same({ marker = "after" }, client:invoke("marked", { marker = "after", ms = 1 }))
    assert_never_twice(list, run_dir, "r")
    assert.equals(1, runs(run_dir).after)
  end)
end)
