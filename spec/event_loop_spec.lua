-- An outside event loop drives the client (issue 9): client:watch() lists the sockets
-- libcurl wants watched and the time until it wants to run, client:socket_action() runs
-- it. Here the loop is a real luv (libuv) loop: uv_poll handles for the sockets, one
-- uv_timer, and nothing that polls. A uv_prepare handle counts the loop's iterations.
local gateway = require "spec.support.gateway"
local assertions = require "spec.support.assertions"
local assert_error = assertions.assert_error
local raised = assertions.raised

local has_luv, uv = pcall(require, "luv")

-- Binds a client to the luv loop. Returns the driver: driver.sync() after starting calls,
-- driver.stats (actions, timer fires, iterations), driver.watched (fd -> events),
-- driver.close().
local function bind(client)
  local d = { stats = { actions = 0, timers = 0, iterations = 0 }, watched = {} }
  local polls = {}
  local timer = uv.new_timer()
  local prepare = uv.new_prepare()
  prepare:start(function()
    d.stats.iterations = d.stats.iterations + 1
  end)

  function d.sync()
    if d.closed then
      return
    end
    local changes, timeout = client:watch()
    for _, change in ipairs(changes) do
      local fd, poll = change.fd, polls[change.fd]
      if change.events == "remove" then
        assert(poll, "remove for an fd never added: " .. fd)
        poll:stop()
        poll:close()
        polls[fd], d.watched[fd] = nil, nil
      else
        if not poll then
          poll = uv.new_poll(fd)
          polls[fd] = poll
        end
        d.watched[fd] = change.events
        poll:start(change.events, function(err, events)
          d.stats.actions = d.stats.actions + 1
          client:socket_action(fd, not err and events or nil)
          d.sync()
        end)
      end
    end
    timer:stop()
    if timeout then
      timer:start(math.ceil(timeout * 1000), 0, function()
        d.stats.timers = d.stats.timers + 1
        client:socket_action()
        d.sync()
      end)
    end
  end

  function d.close()
    d.closed = true
    for fd, poll in pairs(polls) do
      poll:stop()
      poll:close()
      polls[fd] = nil
    end
    timer:close()
    prepare:close()
  end

  return d
end

-- Runs the loop until `d` is closed; a watchdog fails the spec instead of hanging.
local function run(d)
  local watchdog = uv.new_timer()
  watchdog:start(10000, 0, function()
    d.close()
    d.timed_out = true
  end)
  watchdog:unref()
  uv.run()
  watchdog:close()
  uv.run("nowait")
  assert.is_nil(d.timed_out, "the loop did not finish")
end

local describe_luv = has_luv and describe or pending

describe_luv("a luv loop driving the client", function()
  local gw = gateway.for_describe({ reset = true, client = "each" })

  it("finishes calls without polling: a few loop iterations while 200 ms calls are in flight", function()
    local d = bind(gw.client)
    local results, left = {}, 3
    for i = 1, 3 do
      gw.client:start("sleep", { ms = 200 }, {
        on_done = function(call)
          results[i] = call:result()
          left = left - 1
          if left == 0 then
            d.close()
          end
        end,
      })
    end
    d.sync()
    run(d)
    for i = 1, 3 do
      assert.same({ slept = 200 }, results[i])
    end
    assert.equals(3, gw:invocations().max_in_flight.sleep)
    -- A busy loop would turn thousands of times in 200 ms; this one wakes for the
    -- connects, the requests and the responses only.
    assert.is_true(d.stats.iterations <= 40, "iterations: " .. d.stats.iterations)
    assert.is_true(d.stats.actions + d.stats.timers <= 40,
      "actions: " .. d.stats.actions .. ", timers: " .. d.stats.timers)
    assert.is_true(d.stats.actions >= 3)
    if os.getenv("SHOW_LOOP_STATS") then
      print(string.format("iterations %d, actions %d, timers %d",
        d.stats.iterations, d.stats.actions, d.stats.timers))
    end
  end)

  it("leaves nothing to watch once the calls are done, and watch() reports each change once", function()
    local d = bind(gw.client)
    local call = gw.client:start("echo", { a = 1 }, { on_done = function() d.close() end })
    d.sync()
    assert.is_number(gw.client:timeout()) -- libcurl wants to run at once: the connect
    run(d)
    assert.same({ a = 1 }, (call:result()))
    local changes = gw.client:watch()
    for _, change in ipairs(changes) do
      assert.equals("remove", change.events)
    end
    assert.same({}, (gw.client:watch()))
  end)

  it("keeps the watch list right when a blocking invoke runs inside a callback", function()
    local d = bind(gw.client)
    local inner, outer
    gw.client:start("sleep", { ms = 50 }, {
      on_done = function()
        inner = gw.client:invoke("echo", { inner = true }) -- moves the loop by itself
        gw.client:start("sleep", { ms = 100 }, {
          on_done = function(call)
            outer = call:result()
            d.close()
          end,
        })
        d.sync()
      end,
    })
    gw.client:start("sleep", { ms = 150 })
    d.sync()
    run(d)
    assert.same({ inner = true }, inner)
    assert.same({ slept = 100 }, outer)
  end)

  it("delivers errors through the loop", function()
    local d = bind(gw.client)
    local err
    gw.client:start("sleep", { ms = 2000 }, {
      timeout = 0.2,
      on_done = function(call)
        err = select(2, call:try_result())
        d.close()
      end,
    })
    d.sync()
    run(d)
    assert_error(err, "TIMEOUT")
  end)
end)

describe("the event-loop methods", function()
  local gw = gateway.for_describe({ client = "each" })

  it("report nothing on an idle client", function()
    local changes, timeout = gw.client:watch()
    assert.same({}, changes)
    assert.is_nil(timeout)
    assert.is_nil(gw.client:timeout())
    assert.equals(0, gw.client:socket_action())
  end)

  it("refuse bad arguments", function()
    assert_error(raised(gw.client.socket_action, gw.client, -1), "INVALID_ARGUMENT", "fd")
    assert_error(raised(gw.client.socket_action, gw.client, "3"), "INVALID_ARGUMENT", "fd")
    assert_error(raised(gw.client.socket_action, gw.client, 3, "x"), "INVALID_ARGUMENT", "events")
    gw.client:close()
    assert_error(raised(gw.client.watch, gw.client), "INVALID_ARGUMENT", "closed")
    assert_error(raised(gw.client.timeout, gw.client), "INVALID_ARGUMENT", "closed")
  end)

  it("list a started call's socket, with the events libcurl waits for", function()
    local call = gw.client:start("sleep", { ms = 200 })
    local seen = {}
    while not call:done() do
      gw.client:socket_action() -- drive the timer by hand, like a loop whose timer fired
      for _, change in ipairs((gw.client:watch())) do
        seen[#seen + 1] = change.events
      end
      gw.client:poll(0.01)
    end
    assert.is_true(#seen >= 1)
    for _, events in ipairs(seen) do
      assert.is_truthy(events == "r" or events == "w" or events == "rw" or events == "remove")
    end
    assert.same({ slept = 200 }, (call:result()))
  end)
end)
