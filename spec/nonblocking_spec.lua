-- Non-blocking calls (issue 9): client:start returns a call at once, client:poll drives the
-- started calls and runs their on_done callbacks, call:result/try_result/cancel/await, and
-- started calls sharing the client with invoke and invoke_all. All against the local gateway.
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local assert_error = assertions.assert_error
local raised = assertions.raised

local API_KEY = gateway.API_KEY

-- Poll until `cond()` holds; a call that never finishes fails the spec instead of hanging.
local function poll_until(client, cond)
  local rounds = 0
  while not cond() do
    rounds = rounds + 1
    assert.is_true(rounds < 500, "gave up waiting")
    client:poll(0.05)
  end
  return rounds
end

describe("client:start and client:poll", function()
  local gw = gateway.for_describe({ reset = true, client = "each" })

  it("returns a running call at once, and poll(0) never blocks", function()
    local call = gw.client:start("sleep", { ms = 1000 })
    assert.is_false(call:done())
    assert.matches("^cloudbase.functions call %(running%)", tostring(call))
    assert.equals(0, gw.client:poll(0)) -- returned with the 1 s call still running
    assert.equals(0, gw.client:poll())
    assert.is_false(call:done())
    poll_until(gw.client, function() return call:done() end)
    local result, info = call:result()
    assert.same({ slept = 1000 }, result)
    assert.equals(200, info.status)
    assert.is_string(info.request_id)
    assert.matches("%(done%)", tostring(call))
    -- the outcome stays: asking again gives the same values
    assert.equals(result, (call:result()))
    assert.equals(result, (call:try_result()))
  end)

  it("poll(wait) returns as soon as a call finished, with how many finished", function()
    gw.client:start("sleep", { ms = 100 })
    gw.client:start("sleep", { ms = 100 })
    local finished, rounds = 0, 0
    while finished < 2 do
      rounds = rounds + 1
      finished = finished + gw.client:poll(5)
    end
    assert.equals(2, finished)
    assert.is_true(rounds <= 2)
    assert.equals(0, gw.client:poll(5)) -- nothing in flight: returns at once
  end)

  it("runs on_done once per call, from poll and never from start", function()
    local seen = {}
    local call
    call = gw.client:start("echo", { n = 1 }, {
      on_done = function(c)
        assert.equals(call, c)
        seen[#seen + 1] = c:result().n
      end,
    })
    assert.same({}, seen)
    poll_until(gw.client, function() return #seen > 0 end)
    assert.same({ 1 }, seen)
    assert.equals(0, gw.client:poll(0.05))
    assert.same({ 1 }, seen)
  end)

  it("refuses bad input as invoke does, before any I/O; try_start returns nil, err", function()
    local client = gw.client
    assert_error(raised(client.start, client, "bad name!"), "INVALID_ARGUMENT", "function name")
    assert_error(raised(client.start, client, "echo", { 1, 2 }), "INVALID_ARGUMENT")
    assert_error(raised(client.start, client, "echo", { f = print }), "ENCODE_ERROR", "payload.f")
    assert_error(raised(client.start, client, "echo", {}, { nope = 1 }), "INVALID_ARGUMENT", "nope")
    assert_error(raised(client.start, client, "echo", {}, { on_done = 1 }), "INVALID_ARGUMENT", "on_done")
    assert_error(raised(client.start, client, "echo", {}, { timeout = -1 }), "INVALID_ARGUMENT", "timeout")
    local call, err = client:try_start("bad name!")
    assert.is_nil(call)
    assert_error(err, "INVALID_ARGUMENT", "function name")
    call, err = client:try_start("echo", {}, { on_done = "x" })
    assert.is_nil(call)
    assert_error(err, "INVALID_ARGUMENT", "on_done")
    assert.equals(0, client:poll(0.05)) -- refused calls never report
    assert.is_nil(next(gw:invocations().counts))
    assert_error(raised(client.poll, client, -1), "INVALID_ARGUMENT", "wait")
    assert_error(raised(client.poll, client, "1"), "INVALID_ARGUMENT", "wait")
  end)

  it("takes every invoke option", function()
    local call = gw.client:start("web", "hello", {
      webfn = true, method = "PUT", path = "/a/b", query = { q = "1 2" },
      headers = { ["X-Custom"] = "yes" }, timeout = 3, connect_timeout = 2,
    })
    local result, info = call:result()
    assert.equals(200, info.status)
    assert.is_not_nil(result)
    assert.equals("web", gw:invocations().entries[1]["function"])
    assert.equals(200, select(2, gw.client:start("versioned", {}, { qualifier = "2" }):result()).status)
    assert.equals("2", gw:invocations().entries[2].version)
  end)

  it("runs 200 calls at once: in flight together, all results right", function()
    -- 1 s each, so that the calls overlap even on a slow (valgrind, loaded) machine
    local calls, finished = {}, 0
    for i = 1, 200 do
      calls[i] = gw.client:start("sleep", { ms = 1000 }, { on_done = function() finished = finished + 1 end })
    end
    poll_until(gw.client, function() return finished == 200 end)
    for i = 1, 200 do
      assert.same({ slept = 1000 }, (calls[i]:result()))
    end
    local log = gw:invocations()
    assert.equals(200, log.counts.sleep)
    -- all 200 on an idle machine; at least half of them even under valgrind on a loaded one
    assert.is_true(log.max_in_flight.sleep >= 100, "max in flight: " .. log.max_in_flight.sleep)
  end)

  it("delivers TIMEOUT, NETWORK_ERROR and the gateway's errors through the call", function()
    local slow = gw.client:start("sleep", { ms = 3000 }, { timeout = 0.2 })
    local missing = gw.client:start("no_such_function", {})
    local throws = gw.client:start("throws", {})
    poll_until(gw.client, function() return slow:done() and missing:done() and throws:done() end)
    local result, err = slow:try_result()
    assert.is_nil(result)
    assert_error(err, "TIMEOUT")
    assert_error(raised(missing.result, missing), "FUNCTION_NOT_FOUND")
    local e = assert_error(select(2, throws:try_result()), "FUNCTION_INVOCATION_FAILED", "boom")
    assert.equals(500, e.status)
    assert.is_string(e.request_id)

    local dead = functions.new({ base_url = "http://127.0.0.1:1", token = API_KEY, timeout = 2 })
    local refused = dead:start("echo", {})
    assert_error(select(2, refused:try_result()), "NETWORK_ERROR")
    dead:close()
  end)

  it("result() on a running call waits for it, driving the client", function()
    local other_done = false
    gw.client:start("sleep", { ms = 50 }, { on_done = function() other_done = true end })
    local call = gw.client:start("sleep", { ms = 200 })
    assert.same({ slept = 200 }, (call:result()))
    assert.is_true(other_done) -- the wait ran the other call's on_done
  end)

  describe("cancel", function()
    it("ends a running call with CANCELLED; its on_done still runs from poll", function()
      local seen
      local call = gw.client:start("sleep", { ms = 2000 }, { on_done = function(c) seen = c end })
      assert.is_true(call:cancel())
      assert.is_true(call:done())
      assert_error(raised(call.result, call), "CANCELLED", "cancelled")
      assert_error(select(2, call:try_result()), "CANCELLED")
      assert.is_false(call:cancel())
      assert.equals(1, gw.client:poll(0))
      assert.equals(call, seen)
      -- the client goes on, with the cancelled call's transfer back in the pool
      assert.same({ slept = 1 }, (gw.client:invoke("sleep", { ms = 1 })))
    end)

    it("does nothing to a finished call", function()
      local call = gw.client:start("echo", { a = 1 })
      poll_until(gw.client, function() return call:done() end)
      assert.is_false(call:cancel())
      assert.same({ a = 1 }, (call:result()))
    end)
  end)

  describe("close", function()
    it("cancels the started calls; their on_done does not run", function()
      local ran = false
      local a = gw.client:start("sleep", { ms = 2000 }, { on_done = function() ran = true end })
      local b = gw.client:start("sleep", { ms = 2000 })
      gw.client:close()
      assert_error(raised(a.result, a), "CANCELLED", "closed")
      assert_error(select(2, b:try_result()), "CANCELLED")
      assert.is_true(a:done())
      assert.is_false(ran)
      assert_error(raised(gw.client.poll, gw.client), "INVALID_ARGUMENT", "closed")
      assert_error(raised(gw.client.start, gw.client, "echo"), "INVALID_ARGUMENT", "closed")
    end)

    it("keeps the outcome of a call that had finished", function()
      local call = gw.client:start("echo", { k = "v" })
      gw.client:invoke("sleep", { ms = 100 }) -- finishes the call; no poll has reported it
      assert.is_true(call:done())
      gw.client:close()
      assert.same({ k = "v" }, (call:result()))
    end)

    it("from inside on_done stops the poll cleanly", function()
      local a = gw.client:start("echo", {}, { on_done = function() gw.client:close() end })
      local b = gw.client:start("sleep", { ms = 2000 })
      poll_until(gw.client, function() return a:done() end)
      assert.is_true(b:done())
      assert_error(select(2, b:try_result()), "CANCELLED")
    end)
  end)

  describe("garbage collection", function()
    it("a dropped call still finishes, reports and frees its transfer", function()
      local got
      gw.client:start("echo", { dropped = true }, { on_done = function(c) got = c:result() end })
      collectgarbage()
      collectgarbage()
      poll_until(gw.client, function() return got ~= nil end)
      assert.same({ dropped = true }, got)
      assert.equals(1, gw:invocations().counts.echo)
    end)

    it("collects a client with calls in flight, and their calls", function()
      local weak = setmetatable({}, { __mode = "v" })
      do
        local c = gw:new()
        weak.client = c
        weak.call = c:start("sleep", { ms = 2000 })
        c:start("sleep", { ms = 2000 })
      end
      collectgarbage()
      collectgarbage()
      collectgarbage()
      assert.is_nil(weak.call)
      assert.is_nil(weak.client)
    end)
  end)

  describe("when on_done raises", function()
    it("poll finishes its bookkeeping, runs the other callbacks, then raises the first error", function()
      local ran = {}
      local a = gw.client:start("echo", { i = 1 }, { on_done = function() error({ mine = 1 }) end })
      local b = gw.client:start("echo", { i = 2 }, { on_done = function() ran[#ran + 1] = "b" end })
      local c = gw.client:start("echo", { i = 3 }, { on_done = function() error("second") end })
      gw.client:invoke("sleep", { ms = 100 }) -- finishes the three; no on_done has run
      assert.is_true(a:done() and b:done() and c:done())
      local ok, err = pcall(gw.client.poll, gw.client, 0)
      assert.is_false(ok)
      assert.is_true(type(err) == "table" and err.mine == 1 or tostring(err):find("second") ~= nil)
      assert.same({ "b" }, ran)
      assert.equals(0, gw.client:poll(0)) -- reported once only
      assert.same({ i = 1 }, (a:result()))
      assert.same({ i = 3 }, (c:result()))
    end)
  end)

  describe("with invoke and invoke_all on the same client", function()
    it("invoke works while calls are in flight, and moves them along", function()
      local started = gw.client:start("sleep", { ms = 200 })
      assert.same({ slept = 250 }, (gw.client:invoke("sleep", { ms = 250 })))
      assert.is_true(started:done()) -- finished during invoke's wait, without a poll
      assert.equals(1, gw.client:poll(0))
      assert.same({ slept = 200 }, (started:result()))
      assert.equals(2, gw:invocations().max_in_flight.sleep)
    end)

    it("invoke_all works while calls are in flight, and moves them along", function()
      local started = {}
      for i = 1, 3 do
        started[i] = gw.client:start("sleep", { ms = 200 })
      end
      local list = gw.client:invoke_all({
        { "sleep", { ms = 250 } }, { "sleep", { ms = 250 } }, { "echo", { x = 1 } },
      }, { concurrency = 2 })
      assert.equals(3, #list)
      for i = 1, 3 do
        assert.is_true(list[i].ok, tostring(list[i].error))
        assert.is_true(started[i]:done())
      end
      assert.same({ x = 1 }, list[3].result)
      assert.equals(3, gw.client:poll(0))
      assert.equals(5, gw:invocations().max_in_flight.sleep)
    end)

    it("on_done may call invoke, invoke_all and start", function()
      local chained
      gw.client:start("echo", { step = 1 }, {
        on_done = function(c)
          assert.same({ step = 1 }, (c:result()))
          assert.same({ step = 2 }, (gw.client:invoke("echo", { step = 2 })))
          assert.is_true(gw.client:invoke_all({ { "echo", { step = 3 } } })[1].ok)
          chained = gw.client:start("echo", { step = 4 })
        end,
      })
      poll_until(gw.client, function() return chained ~= nil end)
      assert.same({ step = 4 }, (chained:result()))
    end)

    it("a token function cannot wait on a call while invoke_all runs", function()
      local pending
      local c2
      c2 = gw:new({
        token = function()
          if pending then
            local ok, err = pcall(pending.result, pending)
            assert.is_false(ok)
            assert_error(err, "INVALID_ARGUMENT", "busy")
          end
          return API_KEY
        end,
      })
      pending = c2:start("sleep", { ms = 100 })
      assert.is_true(c2:invoke_all({ { "echo", {} } })[1].ok)
      assert.same({ slept = 100 }, (pending:result()))
      c2:close()
    end)
  end)

  describe("with a Lua transport", function()
    it("runs the call at start and reports it through poll", function()
      local c2 = gw:new({
        transport = function()
          return { status = 200, headers = { ["content-type"] = "application/json" }, body = '{"t":1}' }
        end,
      })
      local seen = false
      local call = c2:start("echo", {}, { on_done = function() seen = true end })
      assert.is_true(call:done())
      assert.is_false(seen)
      assert.equals(1, c2:poll(0))
      assert.is_true(seen)
      assert.same({ t = 1 }, (call:result()))
      c2:close()
    end)
  end)
end)

describe("call:await", function()
  local gw = gateway.for_describe({ reset = true, client = "each" })

  it("yields the call inside a coroutine until it is done", function()
    local call = gw.client:start("sleep", { ms = 100 })
    local co = coroutine.create(function()
      return call:await()
    end)
    local ok, yielded = coroutine.resume(co)
    assert.is_true(ok)
    assert.equals(call, yielded)
    local result
    while coroutine.status(co) ~= "dead" do
      gw.client:poll(0.05)
      ok, result = coroutine.resume(co)
      assert.is_true(ok, tostring(result))
    end
    assert.same({ slept = 100 }, result)
  end)

  it("lets a small scheduler run many coroutines on one client", function()
    local tasks, results = {}, {}
    for i = 1, 10 do
      tasks[i] = coroutine.create(function()
        local a = gw.client:start("echo", { i = i }):await()
        local b = gw.client:start("sleep", { ms = 500 }):await() -- long enough to overlap under valgrind
        results[i] = a.i + b.slept
      end)
    end
    local live = #tasks
    while live > 0 do
      gw.client:poll(0.05)
      live = 0
      for _, co in ipairs(tasks) do
        if coroutine.status(co) == "suspended" then
          assert(coroutine.resume(co))
          live = live + (coroutine.status(co) == "dead" and 0 or 1)
        end
      end
    end
    for i = 1, 10 do
      assert.equals(i + 500, results[i])
    end
    assert.equals(10, gw:invocations().max_in_flight.sleep)
  end)

  it("raises the call's error inside the coroutine", function()
    local co = coroutine.create(function()
      return gw.client:start("no_such_function", {}):await()
    end)
    local ok, err
    repeat
      gw.client:poll(0.05)
      ok, err = coroutine.resume(co)
    until coroutine.status(co) == "dead"
    assert.is_false(ok)
    assert_error(err, "FUNCTION_NOT_FOUND")
  end)

  it("outside a coroutine waits, driving the client", function()
    local call = gw.client:start("sleep", { ms = 100 })
    assert.same({ slept = 100 }, (call:await()))
  end)
end)
