-- The auth option: access tokens refreshed through the gateway's POST /auth/v1/token
-- before they expire, rotated refresh tokens handed to on_refresh, one refresh and one
-- replay on ACCESS_TOKEN_EXPIRED, shared refreshes, and a long run of short-lived
-- tokens with no failure. Against the local gateway (gateway/test/config.json).
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"
local socket = require "socket"

local ROTATE_HOST = "rotate-env.api.tcloudbasegateway.com"

describe("auth", function()
  -- reset = "all" revives the configured refresh tokens before each test
  local gw = gateway.for_describe({ reset = "all" })

  -- A client with `auth` instead of a token.
  local function new(auth, opts)
    return gw:new({ token = gateway.NONE, auth = auth }, opts)
  end

  local function rotate_client(auth, opts)
    return gw:new({ token = gateway.NONE, auth = auth }, gw:at(ROTATE_HOST), opts)
  end

  local function log() return gw:invocations() end

  local function runs_of(id)
    local n = 0
    for _, e in ipairs(log().entries) do
      if e.request_id == id then n = n + 1 end
    end
    return n
  end

  it("refreshes before the access token expires and hands on the rotated tokens", function()
    local seen = {}
    local client = rotate_client({ refresh_token = "rotate-refresh-token", refresh_margin = 0.5,
                                   on_refresh = function(t) seen[#seen + 1] = t end })
    local _, info = client:invoke("inspect", {})
    assert.equals(1, info.attempts)
    assert.equals(1, #seen)
    assert.is_string(seen[1].access_token)
    assert.is_string(seen[1].refresh_token)
    assert.are_not.equal("rotate-refresh-token", seen[1].refresh_token)
    assert.is_true(seen[1].expires_in > 1 and seen[1].expires_in <= 1.5)
    client:invoke("inspect", {}) -- still fresh: no refresh
    assert.equals(1, #seen)
    socket.sleep(1.1) -- inside the margin, not yet expired
    local _, info3 = client:invoke("inspect", {})
    assert.equals(1, info3.attempts) -- refreshed before, never refused
    assert.equals(2, #seen)
    assert.are_not.equal(seen[1].refresh_token, seen[2].refresh_token)
    assert.are_not.equal(seen[1].access_token, seen[2].access_token)
    assert.equals(2, log().refreshes["rotate-env"])
    client:close()
  end)

  it("refreshes and replays once on ACCESS_TOKEN_EXPIRED; the function ran once", function()
    local client = new({ access_token = "test-expired-token", refresh_token = "test-refresh-token" })
    local result, info = client:invoke("echo", { n = 7 })
    assert.equals(7, result.n)
    assert.equals(2, info.attempts)
    assert.equals(1, runs_of(info.request_id))
    assert.equals(1, log().counts.echo)
    assert.equals(1, log().refreshes["test-env"])
    -- the new token serves the next call with no refresh
    local _, info2 = client:invoke("echo", {})
    assert.equals(1, info2.attempts)
    assert.equals(1, log().refreshes["test-env"])
    client:close()
  end)

  it("shares one refresh among concurrent calls (expired answers and expiry ahead)", function()
    local client = new({ access_token = "test-expired-token", refresh_token = "test-refresh-token" })
    local calls = {}
    for i = 1, 10 do calls[i] = { "echo", { i = i } } end
    for i, outcome in ipairs(client:invoke_all(calls, { concurrency = 10 })) do
      assert.is_true(outcome.ok, "call " .. i)
      assert.equals(i, outcome.result.i)
      assert.equals(1, runs_of(outcome.info.request_id))
    end
    assert.equals(1, log().refreshes["test-env"])
    client:close()

    local ahead = new({ access_token = "test-user-token", expires_in = 0,
                        refresh_token = "test-refresh-token-2" })
    for _, outcome in ipairs(ahead:invoke_all(calls, { concurrency = 10 })) do
      assert.is_true(outcome.ok)
      assert.equals(1, outcome.info.attempts)
    end
    local started = ahead:start("echo", {})
    while not started:done() do ahead:poll(0.05) end
    assert.is_truthy(started:result())
    assert.equals(2, log().refreshes["test-env"])
    ahead:close()
  end)

  it("replays a started call answered ACCESS_TOKEN_EXPIRED", function()
    local client = new({ access_token = "test-expired-token", refresh_token = "test-refresh-token" })
    local call = client:start("echo", { s = 1 })
    while not call:done() do client:poll(0.05) end
    local result, info = call:result()
    assert.equals(1, result.s)
    assert.equals(2, info.attempts)
    assert.equals(1, runs_of(info.request_id))
    assert.equals(1, log().refreshes["test-env"])
    client:close()
  end)

  it("ends the call with AUTH_REFRESH_FAILED on invalid_grant, the cause kept", function()
    local client = new({ access_token = "test-expired-token", refresh_token = "no-such-refresh-token" })
    local _, err = client:try_invoke("echo", {})
    assert.equals("AUTH_REFRESH_FAILED", err.code)
    assert.equals("ACCESS_TOKEN_EXPIRED", err.cause.code)
    assert.equals("invalid_grant", err.refresh_error.code)
    assert.equals(400, err.refresh_error.status)
    assert.is_string(err.request_id)
    assert.equals(err.request_id, err.cause.request_id)
    for _, text in ipairs({ tostring(err), err.message, tostring(err.cause), tostring(client) }) do
      assert.is_nil(text:find("no-such-refresh-token", 1, true))
      assert.is_nil(text:find("test-expired-token", 1, true))
    end
    assert.is_nil(log().counts.echo)
    client:close()

    local fresh = new({ refresh_token = "no-such-refresh-token" })
    local _, err2 = fresh:try_invoke("echo", {})
    assert.equals("AUTH_REFRESH_FAILED", err2.code)
    assert.equals("invalid_grant", err2.cause.code)
    assert.truthy(err2.message:find("invalid_grant", 1, true))
    fresh:close()
  end)

  it("keeps a call going when on_refresh raises", function()
    local client = new({ refresh_token = "test-refresh-token-3",
                         on_refresh = function() error("cannot persist") end })
    local result = client:invoke("echo", { ok = 1 })
    assert.equals(1, result.ok)
    client:close()
  end)

  it("refuses bad auth options", function()
    for _, o in ipairs({
      { auth = { refresh_token = "r" }, token = "t" },
      { auth = { access_token = "a" } },
      { auth = { refresh_token = "r", expires_in = 1, expires_at = 2 } },
      { auth = { refresh_token = "r", on_refresh = "no" } },
      { auth = { refresh_token = "r", refresh_margin = -1 } },
      { auth = { refresh_token = "r", secret = 1 } },
      { auth = "r" },
    }) do
      o.base_url = gw.url
      local ok, err = pcall(functions.new, o)
      assert.is_false(ok)
      assert.equals("INVALID_ARGUMENT", err.code)
    end
  end)

  -- Two hours of access token scaled to 1.5 s (rotate-env's access_token_ttl): 12 s of
  -- calls cover 8 token lifetimes, i.e. 16 hours at the real TTL, well over three.
  it("runs through many short token lifetimes with no failure", function()
    local refreshed = 0
    local client = rotate_client({ refresh_token = "rotate-refresh-token", refresh_margin = 0.3,
                                   on_refresh = function() refreshed = refreshed + 1 end })
    local calls, failures, deadline = 0, {}, socket.gettime() + 12
    while socket.gettime() < deadline and calls < 600 do
      if calls % 50 == 25 then
        local batch = {}
        for i = 1, 10 do batch[i] = { "inspect", {} } end
        for _, outcome in ipairs(client:invoke_all(batch, { concurrency = 5 })) do
          if not outcome.ok then failures[#failures + 1] = tostring(outcome.error) end
        end
        calls = calls + 10
      else
        local _, err = client:try_invoke("inspect", {})
        if err and functions.is_error(err) then failures[#failures + 1] = tostring(err) end
        calls = calls + 1
        socket.sleep(0.02)
      end
    end
    assert.same({}, failures)
    assert.is_true(calls >= 200, calls)
    assert.is_true(refreshed >= 6, refreshed)
    local snapshot = log()
    assert.equals(calls, snapshot.counts.inspect)
    assert.equals(refreshed, snapshot.refreshes["rotate-env"])
    client:close()
  end)
end)
