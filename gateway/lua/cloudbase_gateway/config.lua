-- Load, validate and normalise the gateway's JSON config (see README.md).
-- Runs once, in init_by_lua: any error stops nginx from starting, with the
-- message in the error log.
local json = require "cloudbase_gateway.json"
local rules = require "cloudbase_gateway.rules"

local M = {}

local NAME_MAX = 60
local DEFAULT_TIMEOUT = 3
local DEFAULT_TOKEN_TTL = 7200
local CREDENTIAL_TYPES = { api_key = true, publishable_key = true, access_token = true }

-- The documented function name rule:
-- ^[a-zA-Z][a-zA-Z0-9_-]{0,58}[a-zA-Z0-9]$
function M.valid_name(name)
  return type(name) == "string"
    and #name >= 2 and #name <= NAME_MAX
    and name:match("^%a[%w_%-]*%w$") ~= nil
end

local function fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end

local function read_file(path)
  local fh, err = io.open(path, "rb")
  if not fh then
    return nil, err
  end
  local text = fh:read("*a")
  fh:close()
  return text
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function resolve(base, path)
  if path:sub(1, 1) == "/" then
    return path
  end
  return base .. "/" .. path
end

local function list_of_strings(value, what)
  if value == nil then
    return {}
  end
  if type(value) ~= "table" then
    fail("%s must be a list of strings", what)
  end
  local out = {}
  for i, v in ipairs(value) do
    if type(v) ~= "string" or v == "" then
      fail("%s[%d] must be a non-empty string", what, i)
    end
    out[#out + 1] = v
  end
  return out
end

local function as_set(list)
  local set = {}
  for _, v in ipairs(list) do
    set[v] = true
  end
  return set
end

-- Expiry of a configured access token: expires_at (unix seconds) or
-- expires_in (seconds from gateway start, may be negative); neither means
-- the token never expires.
local function expiry(entry, what, now)
  if entry.expires_at ~= nil then
    if type(entry.expires_at) ~= "number" then
      fail("%s.expires_at must be a number (unix seconds)", what)
    end
    return entry.expires_at
  end
  if entry.expires_in ~= nil then
    if type(entry.expires_in) ~= "number" then
      fail("%s.expires_in must be a number of seconds", what)
    end
    return now + entry.expires_in
  end
  return nil
end

local function positive_number(value, what, default)
  if value == nil then
    return default
  end
  if type(value) ~= "number" or value <= 0 or value ~= value or value == math.huge then
    fail("%s must be a positive number", what)
  end
  return value
end

-- An optional integer >= min; `unit` ends the error message.
local function integer_at_least(value, min, what, unit)
  if value ~= nil and (type(value) ~= "number" or value < min or value % 1 ~= 0) then
    fail("%s must be %s integer%s", what, min > 0 and "a positive" or "a non-negative", unit)
  end
  return value
end

-- limits = {rps =, burst =, concurrency =, retry_after =}: all optional.
local function load_limits(raw, where)
  if raw == nil then
    return nil
  end
  if type(raw) ~= "table" then
    fail("%s.limits must be an object", where)
  end
  for key in pairs(raw) do
    if key ~= "rps" and key ~= "burst" and key ~= "concurrency" and key ~= "retry_after" then
      fail("%s.limits: unknown key %q (rps, burst, concurrency, retry_after)", where, key)
    end
  end
  local limits = {
    rps = positive_number(raw.rps, where .. ".limits.rps", nil),
    concurrency = integer_at_least(raw.concurrency, 1, where .. ".limits.concurrency", ""),
    retry_after = integer_at_least(raw.retry_after, 0, where .. ".limits.retry_after",
      " (seconds)"),
  }
  limits.burst = positive_number(raw.burst, where .. ".limits.burst", nil)
  if limits.burst and not limits.rps then
    fail("%s.limits.burst needs limits.rps", where)
  end
  limits.burst = limits.burst or (limits.rps and math.max(1, limits.rps))
  if not limits.rps and not limits.concurrency then
    return nil
  end
  return limits
end

-- cors = {allow_origins = [...], allow_headers = [...], max_age =,
-- allow_credentials =}: the browser origins allowed to call the gateway.
local DEFAULT_CORS_HEADERS = { "Authorization", "Content-Type", "X-Request-Id", "X-Qualifier",
  "X-Tcb-Webfn", "X-SDK-Version", "X-Device-Id", "X-TCB-Region", "X-TCB-Trace",
  "X-Request-Timestamp", "Accept", "Accept-Language" }

local function load_cors(raw)
  if raw == nil then
    return nil
  end
  if type(raw) ~= "table" then
    fail("cors must be an object")
  end
  local origins = {}
  local any = false
  for _, origin in ipairs(list_of_strings(raw.allow_origins, "cors.allow_origins")) do
    if origin == "*" then
      any = true
    elseif not origin:match("^https?://[^/%s]+$") then
      fail("cors.allow_origins: %q is not an origin (scheme://host[:port], no path) or \"*\"",
        origin)
    else
      origins[origin:lower()] = true
    end
  end
  local headers = raw.allow_headers and list_of_strings(raw.allow_headers, "cors.allow_headers")
    or DEFAULT_CORS_HEADERS
  local max_age = integer_at_least(raw.max_age, 0, "cors.max_age", " (seconds)") or 600
  if raw.allow_credentials ~= nil and type(raw.allow_credentials) ~= "boolean" then
    fail("cors.allow_credentials must be true or false")
  end
  return {
    any = any,
    origins = origins,
    allow_headers = table.concat(headers, ", "),
    max_age = max_age,
    allow_credentials = raw.allow_credentials == true,
  }
end

local function token_table(list, what, now, with_expiry)
  local map = {}
  if list == nil then
    return map
  end
  if type(list) ~= "table" then
    fail("%s must be a list of objects", what)
  end
  for i, entry in ipairs(list) do
    local where = string.format("%s[%d]", what, i)
    if type(entry) ~= "table" or type(entry.token) ~= "string" or entry.token == "" then
      fail("%s needs a non-empty \"token\"", where)
    end
    if entry.uid ~= nil and type(entry.uid) ~= "string" then
      fail("%s.uid must be a string", where)
    end
    local login = entry.loginType or "USERNAME"
    if type(login) ~= "string" then
      fail("%s.loginType must be a string", where)
    end
    map[entry.token] = {
      uid = entry.uid,
      loginType = login,
      expires_at = with_expiry and expiry(entry, where, now) or nil,
      -- refresh tokens only: lifetime of the access tokens issued from this
      -- token and its rotated successors (else the env's access_token_ttl)
      access_token_ttl = not with_expiry and positive_number(entry.access_token_ttl,
        where .. ".access_token_ttl", nil) or nil,
    }
  end
  return map
end

-- Load a function file: the chunk returns function(event, context), or a
-- table with a `main` function (the CloudBase Node.js convention).
local function load_function(path, cache)
  if cache[path] then
    return cache[path]
  end
  local chunk, err = loadfile(path)
  if not chunk then
    fail("cannot load function file: %s", err)
  end
  local ok, result = pcall(chunk)
  if not ok then
    fail("function file %s failed while loading: %s", path, tostring(result))
  end
  if type(result) == "table" and type(result.main) == "function" then
    result = result.main
  end
  if type(result) ~= "function" then
    fail("function file %s must return function(event, context)", path)
  end
  cache[path] = result
  return result
end

local function load_versions(fn, spec, where, base, cache)
  local versions = {}
  local latest = { name = "$LATEST", handler = fn.handler, timeout = fn.timeout }
  versions["$LATEST"] = latest
  local raw = spec.versions
  if raw == nil then
    return versions
  end
  if type(raw) ~= "table" then
    fail("%s.versions must be a list of names or an object", where)
  end
  local entries = {}
  if raw[1] ~= nil then
    for _, name in ipairs(raw) do
      entries[tostring(name)] = {}
    end
  else
    for name, v in pairs(raw) do
      if type(v) ~= "table" then
        fail("%s.versions[%q] must be an object", where, name)
      end
      entries[name] = v
    end
  end
  for name, v in pairs(entries) do
    local vwhere = string.format("%s.versions[%q]", where, name)
    local handler = fn.handler
    if v.file ~= nil then
      if type(v.file) ~= "string" then
        fail("%s.file must be a string", vwhere)
      end
      handler = load_function(resolve(base, v.file), cache)
    end
    versions[name] = {
      name = name,
      handler = handler,
      timeout = positive_number(v.timeout, vwhere .. ".timeout", fn.timeout),
    }
  end
  return versions
end

local function load_canary(spec, versions, where)
  local canary = spec.canary
  if canary == nil then
    return nil
  end
  if type(canary) ~= "table" or type(canary.weights) ~= "table" then
    fail("%s.canary needs a \"weights\" object", where)
  end
  local slots, total = {}, 0
  local names = {}
  for name in pairs(canary.weights) do
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local w = canary.weights[name]
    if not versions[name] then
      fail("%s.canary.weights names unknown version %q", where, name)
    end
    if type(w) ~= "number" or w < 0 or w % 1 ~= 0 then
      fail("%s.canary.weights[%q] must be a non-negative integer", where, name)
    end
    if w > 0 then
      slots[#slots + 1] = { version = name, upto = total + w }
      total = total + w
    end
  end
  if total == 0 then
    fail("%s.canary.weights must add up to more than 0", where)
  end
  local seed = canary.seed or 0
  if type(seed) ~= "number" or seed % 1 ~= 0 then
    fail("%s.canary.seed must be an integer", where)
  end
  return { slots = slots, total = total, seed = seed }
end

local function load_functions(env, spec, base, cache)
  local functions = {}
  local raw = spec.functions or {}
  if type(raw) ~= "table" then
    fail("envs[%q].functions must be an object", env.id)
  end
  local dir = spec.functions_dir or "functions"
  if type(dir) ~= "string" then
    fail("envs[%q].functions_dir must be a string", env.id)
  end
  dir = resolve(base, dir)
  for name, fspec in pairs(raw) do
    local where = string.format("envs[%q].functions[%q]", env.id, name)
    if not M.valid_name(name) then
      fail("%s: invalid function name", where)
    end
    if type(fspec) ~= "table" then
      fail("%s must be an object", where)
    end
    local kind = fspec.type or "event"
    if kind ~= "event" and kind ~= "web" then
      fail("%s.type must be \"event\" or \"web\"", where)
    end
    local file = fspec.file and resolve(base, fspec.file) or (dir .. "/" .. name .. ".lua")
    local fn = {
      name = name,
      type = kind,
      file = file,
      timeout = positive_number(fspec.timeout, where .. ".timeout", DEFAULT_TIMEOUT),
      handler = load_function(file, cache),
      limits = load_limits(fspec.limits, where),
    }
    fn.versions = load_versions(fn, fspec, where, base, cache)
    fn.canary = load_canary(fspec, fn.versions, where)
    functions[name] = fn
  end
  return functions
end

local function load_rules(spec, env_id)
  local raw = spec.security_rules
  if raw == nil then
    raw = { ["*"] = { invoke = "auth != null" } }
  end
  if type(raw) ~= "table" then
    fail("envs[%q].security_rules must be an object", env_id)
  end
  if raw["*"] == nil then
    fail("envs[%q].security_rules needs the mandatory \"*\" entry", env_id)
  end
  local compiled = {}
  for name, entry in pairs(raw) do
    if type(entry) ~= "table" or entry.invoke == nil then
      fail("envs[%q].security_rules[%q] must be {\"invoke\": RULE}", env_id, name)
    end
    local pred, err = rules.compile(entry.invoke)
    if not pred then
      fail("envs[%q].security_rules[%q]: %s", env_id, name, err)
    end
    compiled[name] = pred
  end
  return compiled
end

local function load_allow(spec, env_id)
  local allow = spec.allow or {}
  if type(allow) ~= "table" then
    fail("envs[%q].allow must be an object", env_id)
  end
  local creds = list_of_strings(allow.credentials, "allow.credentials")
  if allow.credentials == nil then
    creds = { "api_key", "publishable_key", "access_token" }
  end
  for _, c in ipairs(creds) do
    if not CREDENTIAL_TYPES[c] then
      fail("envs[%q].allow.credentials: unknown credential type %q", env_id, c)
    end
  end
  local logins = nil
  if allow.login_types ~= nil then
    logins = as_set(list_of_strings(allow.login_types, "allow.login_types"))
  end
  return { credentials = as_set(creds), login_types = logins }
end

local function load_env(id, spec, is_default, base, cache, now)
  if type(spec) ~= "table" then
    fail("envs[%q] must be an object", id)
  end
  local env = { id = id }
  local hosts = spec.hosts and list_of_strings(spec.hosts, "hosts") or {
    id .. ".api.tcloudbasegateway.com",
    id .. ".api.intl.tcloudbasegateway.com",
  }
  if is_default then
    hosts[#hosts + 1] = "127.0.0.1"
    hosts[#hosts + 1] = "localhost"
  end
  env.hosts = hosts
  env.api_keys = as_set(list_of_strings(spec.api_keys, "api_keys"))
  env.publishable_keys = as_set(list_of_strings(spec.publishable_keys, "publishable_keys"))
  env.access_tokens = token_table(spec.access_tokens, "access_tokens", now, true)
  env.refresh_tokens = token_table(spec.refresh_tokens, "refresh_tokens", now, false)
  env.access_token_ttl = positive_number(spec.access_token_ttl, "access_token_ttl",
    DEFAULT_TOKEN_TTL)
  local grace = spec.refresh_token_grace or 0
  if type(grace) ~= "number" or grace < 0 then
    fail("envs[%q].refresh_token_grace must be a non-negative number of seconds", id)
  end
  env.refresh_token_grace = grace
  env.limits = load_limits(spec.limits, string.format("envs[%q]", id))
  env.allow = load_allow(spec, id)
  env.rules = load_rules(spec, id)
  env.functions = load_functions(env, spec, base, cache)
  return env
end

-- load(path, now) -> config; raises a string error on any problem.
-- config = { path, default_env, envs = {id = env}, hosts = {host = env} }
function M.load(path, now)
  local text, err = read_file(path)
  if not text then
    fail("cannot read config %s: %s", path, tostring(err))
  end
  local raw, derr = json.decode(text)
  if type(raw) ~= "table" then
    fail("config %s is not a JSON object: %s", path, tostring(derr))
  end
  if type(raw.envs) ~= "table" or next(raw.envs) == nil then
    fail("config %s needs a non-empty \"envs\" object", path)
  end
  local default_id = raw.default_env
  if default_id == nil then
    local ids = {}
    for id in pairs(raw.envs) do
      ids[#ids + 1] = id
    end
    if #ids ~= 1 then
      fail("config %s has several envs: set \"default_env\"", path)
    end
    default_id = ids[1]
  end
  if raw.envs[default_id] == nil then
    fail("config %s: default_env %q is not in \"envs\"", path, tostring(default_id))
  end
  local base = dirname(path)
  local cache = {}
  local config = { path = path, envs = {}, hosts = {}, cors = load_cors(raw.cors) }
  for id, spec in pairs(raw.envs) do
    local env = load_env(id, spec, id == default_id, base, cache, now)
    config.envs[id] = env
    for _, host in ipairs(env.hosts) do
      local h = host:lower()
      if config.hosts[h] and config.hosts[h] ~= env then
        fail("host %q belongs to two envs", host)
      end
      config.hosts[h] = env
    end
  end
  config.default_env = config.envs[default_id]
  return config
end

return M
