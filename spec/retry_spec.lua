-- Opt-in safe retries against the local gateway: only what provably did not run is sent
-- again (rate-limit refusals, connections that failed before the request left), the
-- invocation log shows each retried call ran once, and nothing else is retried.
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"
local socket = require "socket"

local API_KEY = gateway.API_KEY


describe("retry", function()
  local gw = gateway.for_describe({ reset = true, client_defaults = function(g)
    return { base_url = g.url, token = API_KEY, timeout = 10 }
  end })

  -- Log entries of the gateway under request id `id`.
  local function runs_of(id)
    local n = 0
    for _, e in ipairs(gw:invocations().entries) do
      if e.request_id == id then n = n + 1 end
    end
    return n
  end

  -- limited_rps: 1 request per second, burst 2 (a reset refills it).
  local function drain_rps(client)
    client:invoke("limited_rps", {})
    client:invoke("limited_rps", {})
  end

  it("is off by default: a rate-limit refusal comes back with retry_after", function()
    local client = gw:new()
    drain_rps(client)
    local _, err = client:try_invoke("limited_rps", {})
    assert.equals("EXCEED_RATELIMIT", err.code)
    assert.equals(429, err.status)
    assert.equals(1, err.attempts)
    assert.is_true(err.retry_after >= 1)
    client:close()
  end)

  it("sends a rate-limited call again after Retry-After; it ran once", function()
    local client = gw:new({ retry = { attempts = 3, base_delay = 0.05, max_delay = 0.5 } })
    drain_rps(client)
    local t0 = socket.gettime()
    local result, info = client:invoke("limited_rps", {})
    assert.is_true(result.ok)
    assert.equals(2, info.attempts)
    assert.is_true(socket.gettime() - t0 >= 0.9) -- waited for Retry-After (1 s), not the backoff
    assert.equals(1, runs_of(info.request_id))
    local log = gw:invocations()
    assert.equals(3, log.counts.limited_rps)
    assert.is_true(log.limited.limited_rps >= 1)
    client:close()
  end)

  it("takes the per-call option over the client's, and false turns it off", function()
    local client = gw:new({ retry = { attempts = 3 } })
    drain_rps(client)
    local _, err = client:try_invoke("limited_rps", {}, { retry = false })
    assert.equals("EXCEED_RATELIMIT", err.code)
    assert.equals(1, err.attempts)
    client:close()
    local plain = gw:new()
    gw:reset()
    drain_rps(plain)
    local _, info = plain:invoke("limited_rps", {}, { retry = { attempts = 2 } })
    assert.equals(2, info.attempts)
    plain:close()
  end)

  it("retries a call over its concurrency limit once the slot is free", function()
    local client = gw:new({ retry = { attempts = 5, base_delay = 0.05 } })
    local sleeper = client:start("limited_concurrency", { ms = 400 })
    local deadline = socket.gettime() + 5
    while (gw:invocations().in_flight.limited_concurrency or 0) < 1 do
      client:poll(0.02)
      assert.is_true(socket.gettime() < deadline)
    end
    local result, info = client:invoke("limited_concurrency", { ms = 1 })
    assert.equals(1, result.slept)
    assert.is_true(info.attempts >= 2)
    assert.equals(1, runs_of(info.request_id))
    -- the started call went on while invoke waited between attempts
    assert.is_true(sleeper:done())
    assert.equals(400, sleeper:result().slept)
    client:close()
  end)

  it("does not wait past the call's timeout: Retry-After beyond it ends the call", function()
    local client = gw:new({ timeout = 0.5, retry = { attempts = 3 } })
    drain_rps(client)
    local t0 = socket.gettime()
    local _, err = client:try_invoke("limited_rps", {})
    assert.equals("EXCEED_RATELIMIT", err.code)
    assert.equals(1, err.attempts)
    assert.is_true(socket.gettime() - t0 < 0.5)
    client:close()
  end)

  it("retries connection refused (nothing sent) and fails after all attempts", function()
    local ids = {}
    local client = functions.new({
      base_url = gateway.closed_url(), timeout = 5,
      retry = { attempts = 4, base_delay = 0.01, max_delay = 0.05 },
      on_request = function(s) ids[#ids + 1] = s.request_id .. "#" .. s.attempt end,
    })
    local _, err = client:try_invoke("echo", {})
    assert.equals("NETWORK_ERROR", err.code)
    assert.equals(4, err.attempts)
    assert.equals(4, #ids)
    local id = err.request_id
    assert.same({ id .. "#1", id .. "#2", id .. "#3", id .. "#4" }, ids)
    client:close()
  end)

  it("never retries SYS_ERR, a 5xx, or a timeout after the request was sent", function()
    local client = gw:new({ retry = { attempts = 5, base_delay = 0.01 } })
    local _, err = client:try_invoke("fault_sys_err", {})
    assert.equals("SYS_ERR", err.code)
    assert.equals(1, err.attempts)
    local _, err2 = client:try_invoke("fault_server_timeout", {})
    assert.equals("SERVER_TIMEOUT", err2.code)
    assert.equals(1, err2.attempts)
    local _, err3 = client:try_invoke("fault_html502", {})
    assert.equals(502, err3.status)
    assert.equals(1, err3.attempts)
    local _, err4 = client:try_invoke("sleep", { ms = 600 }, { timeout = 0.2 })
    assert.equals("TIMEOUT", err4.code)
    assert.equals(1, err4.attempts)
    local log = gw:invocations()
    assert.equals(1, log.counts.fault_sys_err)
    assert.equals(1, log.counts.fault_server_timeout)
    assert.equals(1, log.counts.fault_html502)
    client:close()
  end)

  it("in invoke_all, a call waiting to retry does not hold up the others", function()
    local finished = {}
    local client = gw:new({
      retry = { attempts = 3, base_delay = 0.05 },
      on_response = function(s) finished[#finished + 1] = s.name end,
    })
    local t0 = socket.gettime()
    local list = client:invoke_all({
      { "limited_rps", {} }, { "limited_rps", {} }, { "limited_rps", {} },
      { "sleep", { ms = 300 } }, { "sleep", { ms = 300 } }, { "echo", {} },
    })
    local elapsed = socket.gettime() - t0
    for i, outcome in ipairs(list) do
      assert.is_true(outcome.ok, "call " .. i)
      assert.equals(1, runs_of(outcome.info.request_id))
    end
    assert.equals(2, list[3].info.attempts)
    assert.equals(1, list[4].info.attempts)
    -- the retried call ended last, about 1 s in; the others did not wait for it
    assert.equals("limited_rps", finished[#finished])
    assert.is_true(elapsed < 1.8, elapsed)
    client:close()
  end)

  it("sends a started call again without blocking poll or the event loop", function()
    local attempts = {}
    local client = gw:new({ retry = { attempts = 3, base_delay = 0.05 },
                         on_request = function(s) attempts[#attempts + 1] = s.attempt end })
    drain_rps(client)
    attempts = {}
    local call = client:start("limited_rps", {})
    local t0 = socket.gettime()
    assert.equals(0, client:poll(0.3)) -- the refusal came back and waits (Retry-After: 1)
    assert.is_true(socket.gettime() - t0 < 0.5)
    assert.is_false(call:done())
    assert.same({ 1 }, attempts)
    -- an outside loop: told when to come back (never nil while the call waits), it
    -- calls socket_action() then, and the call goes out again from there
    local deadline = socket.gettime() + 3
    while #attempts < 2 do
      local due = client:timeout()
      assert.is_number(due)
      assert.is_true(due <= 1.0, due)
      socket.sleep(math.min(math.max(due, 0.01), 0.1))
      client:socket_action()
      assert.is_true(socket.gettime() < deadline)
    end
    assert.same({ 1, 2 }, attempts)
    assert.is_true(socket.gettime() - t0 >= 0.9) -- not before Retry-After
    while not call:done() do client:poll(0.05) end
    local result, info = call:result()
    assert.is_true(result.ok)
    assert.equals(2, info.attempts)
    assert.equals(1, runs_of(info.request_id))
    client:close()
  end)

  it("refuses bad options", function()
    for _, bad in ipairs({ { attempts = 0 }, { attempts = 1.5 }, { base_delay = -1 },
                           { tries = 2 }, "yes" }) do
      local ok, err = pcall(gw.new, gw, { retry = bad })
      assert.is_false(ok)
      assert.equals("INVALID_ARGUMENT", err.code)
    end
    local client = gw:new()
    local _, err = client:try_invoke("echo", {}, { retry = { attempts = 101 } })
    assert.equals("INVALID_ARGUMENT", err.code)
    local _, serr = client:try_start("echo", {}, { retry = { attempts = 0 } })
    assert.equals("INVALID_ARGUMENT", serr.code)
    client:close()
  end)
end)
