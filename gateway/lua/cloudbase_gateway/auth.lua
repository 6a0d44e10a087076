-- Identity: Bearer credentials -> identity, token refresh, security rules.
--
-- Identities:
--   { type = "api_key" }                                   administrator
--   { type = "publishable_key", loginType = "ANONYMOUS" }  anonymous user
--   { type = "access_token", uid = ..., loginType = ... }  signed-in user
-- Tokens issued by /auth/v1/token live in the gw_tokens shared dict.
local json = require "cloudbase_gateway.json"

local ngx = ngx
local M = {}

local tokens = ngx.shared.gw_tokens

-- A failure: status, code, message.
local function denied(status, code, message)
  return nil, { status = status, code = code, message = message }
end

local random_seeded = false
local function random_token(prefix)
  if not random_seeded then
    math.randomseed(ngx.now() * 1000 + ngx.worker.pid())
    random_seeded = true
  end
  local parts = { prefix }
  for i = 2, 5 do
    parts[i] = string.format("%08x", math.random(0, 0x7fffffff))
  end
  return table.concat(parts, "-")
end

local function issued(kind, env, token)
  local text = tokens:get(kind .. ":" .. env.id .. ":" .. token)
  if not text then
    return nil
  end
  return json.decode(text)
end

local function check_login(env, login_type)
  local allowed = env.allow.login_types
  if allowed and not allowed[login_type] then
    return denied(403, "ACTION_FORBIDDEN",
      "login method " .. login_type .. " is not allowed in env " .. env.id)
  end
  return true
end

-- identify(env, authorization_header_value) -> identity | nil, failure
function M.identify(env, header)
  if type(header) == "table" then
    header = header[1]
  end
  if header == nil or header:match("^%s*$") then
    return denied(401, "MISSING_CREDENTIALS",
      "missing credentials: send Authorization: Bearer <credential>")
  end
  local credential = header:match("^%s*[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
  if not credential then
    return denied(401, "INVALID_CREDENTIALS",
      "the Authorization header must be: Bearer <credential>")
  end

  local allow = env.allow.credentials
  if env.api_keys[credential] then
    if not allow.api_key then
      return denied(403, "ACTION_FORBIDDEN", "API keys are not allowed in env " .. env.id)
    end
    return { type = "api_key" }
  end

  if env.publishable_keys[credential] then
    if not allow.publishable_key then
      return denied(403, "ACTION_FORBIDDEN",
        "publishable keys are not allowed in env " .. env.id)
    end
    local ok, failure = check_login(env, "ANONYMOUS")
    if not ok then
      return nil, failure
    end
    return { type = "publishable_key", loginType = "ANONYMOUS" }
  end

  local token = env.access_tokens[credential] or issued("at", env, credential)
  if token then
    if not allow.access_token then
      return denied(403, "ACTION_FORBIDDEN",
        "access tokens are not allowed in env " .. env.id)
    end
    if token.expires_at and token.expires_at <= ngx.now() then
      return denied(401, "ACCESS_TOKEN_EXPIRED", "the access token has expired")
    end
    local ok, failure = check_login(env, token.loginType)
    if not ok then
      return nil, failure
    end
    return { type = "access_token", uid = token.uid, loginType = token.loginType }
  end

  return denied(401, "INVALID_CREDENTIALS",
    "the credential is not a valid API key, publishable key or access token of env " .. env.id)
end

-- rules_allow(env, function_name, identity) -> true | nil, failure
-- API keys are administrators: rules do not apply to them.
function M.rules_allow(env, name, identity)
  if identity.type == "api_key" then
    return true
  end
  local pred = env.rules[name] or env.rules["*"]
  if pred(identity) then
    return true
  end
  return denied(403, "EXCEED_AUTHORITY",
    "the security rules of env " .. env.id .. " do not allow this identity to invoke " .. name)
end

-- How long the shared dict remembers tokens: an issued access token answers
-- ACCESS_TOKEN_EXPIRED for an hour after it expires (then INVALID_CREDENTIALS);
-- a used refresh token stays refused for a day.
local EXPIRED_KEPT = 3600
local USED_KEPT = 86400

-- An OAuth2 failure of /auth/v1/token: status, error, description.
local function grant_denied(status, err, description)
  return nil, { status = status, error = err, description = description }
end

-- refresh(env, refresh_token) -> token response table | nil, oauth failure
-- Refresh tokens rotate: each works once. Within env.refresh_token_grace
-- seconds of its use, the same token answers the same new pair again (two
-- tabs or processes racing on one token); after that, invalid_grant.
function M.refresh(env, refresh_token)
  if type(refresh_token) ~= "string" or refresh_token == "" then
    return grant_denied(400, "invalid_request", "refresh_token is required")
  end
  local id = env.id .. ":" .. refresh_token
  local user = issued("rt", env, refresh_token) or env.refresh_tokens[refresh_token]
  if not user then
    return grant_denied(400, "invalid_grant", "the refresh token is invalid")
  end
  -- add() is atomic across workers: exactly one use claims the token.
  if not tokens:add("rt_used:" .. id, true, USED_KEPT) then
    local again = tokens:get("rt_again:" .. id)
    if again then
      return json.decode(again)
    end
    return grant_denied(400, "invalid_grant",
      "the refresh token was already used: refresh tokens rotate, use the newest one")
  end

  ngx.update_time()
  local ttl = user.access_token_ttl or env.access_token_ttl
  local access = random_token("at")
  local refresh = random_token("rt")
  local access_text = json.encode({
    uid = user.uid, loginType = user.loginType, expires_at = ngx.now() + ttl,
  })
  tokens:set("at:" .. env.id .. ":" .. access, access_text, ttl + EXPIRED_KEPT)
  tokens:set("rt:" .. env.id .. ":" .. refresh, json.encode({
    uid = user.uid, loginType = user.loginType, access_token_ttl = user.access_token_ttl,
  }))
  local answer = {
    token_type = "Bearer",
    access_token = access,
    refresh_token = refresh,
    expires_in = ttl,
    sub = user.uid,
  }
  if env.refresh_token_grace > 0 then
    tokens:set("rt_again:" .. id, json.encode(answer), env.refresh_token_grace)
  end
  return answer
end

function M.reset()
  tokens:flush_all()
end

return M
