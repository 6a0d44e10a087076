-- The token lifecycle: short-lived access tokens, rotating refresh tokens
-- with an optional grace period, ACCESS_TOKEN_EXPIRED before the function runs.
local gateway = require "spec.support.gateway"
local socket = require "socket"

local ROTATE = "rotate-env.api.tcloudbasegateway.com"

describe("gateway token lifecycle", function()
  local gw = gateway.for_describe({ reset = "all" })

  local function refresh(token, host)
    return gw:request({ path = "/auth/v1/token", method = "POST", host = host,
      headers = { "Content-Type: application/json" },
      body = '{"grant_type":"refresh_token","refresh_token":"' .. token .. '"}' })
  end

  local function call(token, host)
    return gw:invoke("inspect", "{}", { token = token, host = host })
  end

  it("issues access tokens that expire after the refresh token's access_token_ttl", function()
    local res = refresh("test-short-refresh-token")
    assert.equals(200, res.status, res.body)
    assert.equals(1, res.json.expires_in)
    assert.equals("no-store", res.headers["cache-control"])
    assert.equals(200, call(res.json.access_token).status)
    socket.sleep(1.1)
    local expired = call(res.json.access_token)
    assert.equals(401, expired.status)
    assert.equals("ACCESS_TOKEN_EXPIRED", expired.json.code)
    assert.equals(expired.headers["x-request-id"], expired.json.requestId)
    -- Refused before the function: only the first call ran.
    assert.equals(1, gw:invocations().counts.inspect)
  end)

  it("rotated refresh tokens keep the short lifetime; each rotation works once", function()
    local first = refresh("test-short-refresh-token")
    local second = refresh(first.json.refresh_token)
    assert.equals(200, second.status)
    assert.equals(1, second.json.expires_in)
    assert.not_equals(first.json.refresh_token, second.json.refresh_token)
    assert.equals("invalid_grant", refresh(first.json.refresh_token).json.error)
    assert.equals("invalid_grant", refresh("test-short-refresh-token").json.error)
  end)

  it("a client that refreshes on ACCESS_TOKEN_EXPIRED never fails across many lifetimes", function()
    local tokens = refresh("test-short-refresh-token").json
    local expiries, calls = 0, 0
    local stop = socket.gettime() + 3.5
    while socket.gettime() < stop do
      local res = call(tokens.access_token)
      if res.status == 401 and res.json.code == "ACCESS_TOKEN_EXPIRED" then
        expiries = expiries + 1
        local renewed = refresh(tokens.refresh_token)
        assert.equals(200, renewed.status, renewed.body)
        tokens = renewed.json
        res = call(tokens.access_token)
      end
      assert.equals(200, res.status, res.body)
      assert.equals("user-4", res.json.identity.uid)
      calls = calls + 1
      socket.sleep(0.1)
    end
    assert.is_true(expiries >= 2, "only " .. expiries .. " expiries")
    assert.equals(calls, gw:invocations().counts.inspect)
  end)

  it("within refresh_token_grace a reused refresh token answers the same pair", function()
    local first = refresh("rotate-refresh-token", ROTATE)
    assert.equals(200, first.status, first.body)
    assert.equals(1.5, first.json.expires_in) -- fractional access_token_ttl
    local again = refresh("rotate-refresh-token", ROTATE)
    assert.equals(200, again.status)
    assert.same(first.json, again.json)
    assert.equals(200, call(first.json.access_token, ROTATE).status)
    socket.sleep(1.1)
    local late = refresh("rotate-refresh-token", ROTATE)
    assert.equals(400, late.status)
    assert.equals("invalid_grant", late.json.error)
    assert.matches("already used", late.json.error_description)
    -- The successor is unaffected by the reuse attempts.
    assert.equals(200, refresh(first.json.refresh_token, ROTATE).status)
  end)

  it("a refresh token claimed twice at once is issued once (no grace)", function()
    local out = gateway.run(string.format(
      "for i in 1 2 3 4 5 6; do curl -s -H 'Content-Type: application/json' "
      .. "-d '{\"grant_type\":\"refresh_token\",\"refresh_token\":\"test-refresh-token\"}' "
      .. "%s/auth/v1/token & done; wait", gw.url))
    local _, granted = out:gsub('"access_token"', "")
    local _, refused = out:gsub('"invalid_grant"', "")
    assert.equals(1, granted, out)
    assert.equals(5, refused, out)
  end)
end)
