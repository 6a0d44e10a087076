-- Identity: API keys, publishable keys, access tokens, refresh, allowed types.
local gateway = require "spec.support.gateway"

local LOCKED = "locked-env.api.tcloudbasegateway.com"
local NOKEYS = "nokeys-env.api.tcloudbasegateway.com"

describe("gateway identity", function()
  local gw = gateway.for_describe()

  local function assert_error(res, status, code)
    assert.equals(status, res.status, res.body)
    assert.equals(code, res.json.code)
    assert.equals(res.headers["x-request-id"], res.json.requestId)
  end

  it("maps an API key to the administrator", function()
    local res = gw:invoke("inspect", "{}", { token = "test-api-key" })
    assert.equals(200, res.status)
    assert.same({ type = "api_key" }, res.json.identity)
  end)

  it("maps a publishable key to an anonymous user", function()
    local res = gw:invoke("inspect", "{}", { token = "test-publishable-key" })
    assert.equals(200, res.status)
    assert.same({ type = "publishable_key", loginType = "ANONYMOUS" }, res.json.identity)
  end)

  it("maps access tokens to their users", function()
    local res = gw:invoke("inspect", "{}", { token = "test-user-token" })
    assert.equals(200, res.status)
    assert.same({ type = "access_token", uid = "user-1", loginType = "USERNAME" },
      res.json.identity)
    res = gw:invoke("inspect", "{}", { token = "test-anon-token" })
    assert.same({ type = "access_token", uid = "anon-1", loginType = "ANONYMOUS" },
      res.json.identity)
  end)

  it("accepts the scheme in any case", function()
    local res = gw:invoke("hello", "{}", { token = false,
      headers = { "Authorization: bearer test-api-key" } })
    assert.equals(200, res.status)
  end)

  it("answers MISSING_CREDENTIALS without an Authorization header", function()
    assert_error(gw:invoke("hello", "{}", { token = false }), 401, "MISSING_CREDENTIALS")
    assert_error(gw:invoke("hello", "{}", { token = false, headers = { "Authorization:" } }),
      401, "MISSING_CREDENTIALS")
  end)

  it("answers INVALID_CREDENTIALS for an unknown credential or scheme", function()
    assert_error(gw:invoke("hello", "{}", { token = "nope" }), 401, "INVALID_CREDENTIALS")
    assert_error(gw:invoke("hello", "{}", { token = false,
      headers = { "Authorization: Basic dGVzdDp0ZXN0" } }), 401, "INVALID_CREDENTIALS")
    assert_error(gw:invoke("hello", "{}", { token = "test-refresh-token" }), 401,
      "INVALID_CREDENTIALS")
  end)

  it("answers ACCESS_TOKEN_EXPIRED for an expired access token", function()
    gw:reset()
    assert_error(gw:invoke("hello", "{}", { token = "test-expired-token" }), 401,
      "ACCESS_TOKEN_EXPIRED")
    assert.is_nil(gw:invocations().counts.hello)
  end)

  describe("ACTION_FORBIDDEN", function()
    it("refuses a credential type the env does not allow", function()
      assert_error(gw:invoke("inspect", "{}", { host = LOCKED, token = "locked-publishable-key" }),
        403, "ACTION_FORBIDDEN")
      assert_error(gw:invoke("inspect", "{}", { host = NOKEYS, token = "nokeys-api-key" }),
        403, "ACTION_FORBIDDEN")
      local res = gw:invoke("inspect", "{}", { host = NOKEYS, token = "nokeys-user-token" })
      assert.equals(200, res.status)
    end)

    it("refuses a login method the env does not allow", function()
      assert_error(gw:invoke("inspect", "{}", { host = LOCKED, token = "locked-anon-token" }),
        403, "ACTION_FORBIDDEN")
      assert_error(gw:invoke("inspect", "{}", { host = LOCKED, token = "locked-phone-token" }),
        403, "ACTION_FORBIDDEN")
      local res = gw:invoke("inspect", "{}", { host = LOCKED, token = "locked-user-token" })
      assert.equals(200, res.status)
      assert.equals("user-9", res.json.identity.uid)
      res = gw:invoke("inspect", "{}", { host = LOCKED, token = "locked-api-key" })
      assert.equals(200, res.status)
    end)
  end)

  describe("POST /auth/v1/token (refresh_token grant)", function()
    before_each(function()
      gw:reset_all()
    end)

    -- Refresh failures use the auth API's OAuth2 form (RFC 6749 5.2), not the
    -- gateway's {code, message, requestId}: the official client reads `error`.
    local function assert_grant_error(res, err)
      assert.equals(400, res.status, res.body)
      local keys = {}
      for key in pairs(res.json) do
        keys[#keys + 1] = key
      end
      table.sort(keys)
      assert.same({ "error", "error_description" }, keys)
      assert.equals(err, res.json.error)
      assert.is_string(res.json.error_description)
      assert.is_string(res.headers["x-request-id"])
    end

    local function refresh(token, opts)
      opts = opts or {}
      return gw:request({ path = "/auth/v1/token", method = "POST", host = opts.host,
        headers = { "Content-Type: " .. (opts.form and "application/x-www-form-urlencoded"
          or "application/json") },
        body = opts.form and ("grant_type=refresh_token&refresh_token=" .. token)
          or ('{"grant_type":"refresh_token","refresh_token":"' .. token .. '"}') })
    end

    it("issues a working access token and a new refresh token", function()
      local res = refresh("test-refresh-token")
      assert.equals(200, res.status, res.body)
      assert.equals("Bearer", res.json.token_type)
      assert.is_string(res.json.access_token)
      assert.is_string(res.json.refresh_token)
      assert.not_equals("test-refresh-token", res.json.refresh_token)
      assert.is_true(res.json.expires_in > 0)
      local who = gw:invoke("inspect", "{}", { token = res.json.access_token })
      assert.equals(200, who.status)
      assert.same({ type = "access_token", uid = "user-1", loginType = "USERNAME" },
        who.json.identity)
    end)

    it("kills the old refresh token at once; the new one works once too", function()
      local first = refresh("test-refresh-token")
      assert.equals(200, first.status)
      assert_grant_error(refresh("test-refresh-token"), "invalid_grant")
      local second = refresh(first.json.refresh_token)
      assert.equals(200, second.status)
      assert.not_equals(first.json.access_token, second.json.access_token)
      assert_grant_error(refresh(first.json.refresh_token), "invalid_grant")
      -- Access tokens issued earlier stay valid until they expire.
      assert.equals(200, gw:invoke("hello", "{}", { token = first.json.access_token }).status)
    end)

    it("accepts a form-encoded body", function()
      local res = refresh("test-refresh-token-2", { form = true })
      assert.equals(200, res.status, res.body)
      local who = gw:invoke("inspect", "{}", { token = res.json.access_token })
      assert.equals("user-2", who.json.identity.uid)
    end)

    it("refuses unknown refresh tokens, other grant types and other envs' tokens", function()
      assert_grant_error(refresh("nope"), "invalid_grant")
      assert_grant_error(refresh("test-refresh-token", { host = LOCKED }), "invalid_grant")
      local res = gw:request({ path = "/auth/v1/token", method = "POST",
        body = '{"grant_type":"password","username":"u","password":"p"}' })
      assert_grant_error(res, "unsupported_grant_type")
      assert_grant_error(gw:request({ path = "/auth/v1/token", method = "POST",
        body = '{"grant_type":"refresh_token"}' }), "invalid_request")
      assert_grant_error(gw:request({ path = "/auth/v1/token", method = "POST",
        body = '[1]' }), "invalid_request")
      assert_error(gw:request({ path = "/auth/v1/token", method = "GET" }), 405,
        "METHOD_NOT_ALLOWED")
    end)

    it("issued tokens only work in their own env", function()
      local res = refresh("test-refresh-token-3")
      assert.equals(200, res.status)
      assert_error(gw:invoke("inspect", "{}", { host = LOCKED, token = res.json.access_token }),
        401, "INVALID_CREDENTIALS")
    end)
  end)
end)
