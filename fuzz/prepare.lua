-- Request building from arbitrary strings: functions.new with client-level qualifier,
-- headers and token, then client:prepare(name, payload, opts) and the same call through
-- a Lua transport, by try_invoke and as one call of invoke_all. Every string may end up
-- on the wire, so:
--   * new() either works or raises an INVALID_ARGUMENT/TOKEN_ERROR error object;
--   * prepare(), try_invoke() and invoke_all() never raise; prepare gives a request or
--     nil, err;
--   * a refused call never reaches the transport, an accepted one reaches it exactly once
--     per call, with the request prepare built;
--   * the request line and headers hold no CR, LF, NUL or other control byte, the method
--     and header names are HTTP tokens, Authorization appears once (none for an empty
--     token), and the URL stays under /v1/functions/{name} with no dot segments (also
--     percent-encoded).
--
-- fields: [1] flags, [2] name, [3] payload, [4] qualifier, [5] client qualifier,
--   [6] header name, [7] header value, [8] client header name, [9] client header value,
--   [10] method, [11] path, [12] query key, [13] query value, [14] token,
--   [15] timeout (a number when it reads as one)
-- flags: "w" webfn, "s" payload as a string (else decoded as JSON, else {}),
--   "f" token as a function, "l" query value as a list
-- An absent field leaves its option out.
local functions = require "cloudbase.functions"
local lib = require "lib"

local BASE = "http://127.0.0.1:9/base"
local NEW_CODES = { INVALID_ARGUMENT = true, TOKEN_ERROR = true }
local CALL_CODES = { INVALID_ARGUMENT = true, ENCODE_ERROR = true, PAYLOAD_TOO_LARGE = true,
                     TOKEN_ERROR = true }
local REPLY = { status = 200, headers = { ["content-type"] = "application/json" }, body = '{"ok":true}' }

local function is_token(s)
  return type(s) == "string" and s:find("^[%w!#$%%&'*+%-.^_`|~]+$") ~= nil
end

-- RFC 3986 dot segments, also written %2e.
local function has_dot_segment(path)
  local decoded = path:gsub("%%2[eE]", ".")
  for segment in (decoded .. "/"):gmatch("([^/]*)/") do
    if segment == "." or segment == ".." then
      return true
    end
  end
  return false
end

local function check_request(req, name, token, where)
  if type(req) ~= "table" then
    lib.fail("%s: request is %s", where, req)
  end
  if not is_token(req.method) then
    lib.fail("%s: method %s is not an HTTP token", where, req.method)
  end
  local url = req.url
  if type(url) ~= "string" or url:find("[%z\1-\32\127]") then
    lib.fail("%s: url %s has a control byte or space", where, url)
  end
  local prefix = BASE .. "/v1/functions/" .. name
  local rest = url:sub(#prefix + 1)
  if url:sub(1, #prefix) ~= prefix or not (rest == "" or rest:find("^[/?]")) then
    lib.fail("%s: url %s left %s", where, url, prefix)
  end
  local path = rest:match("^[^?]*")
  if has_dot_segment(path) then
    lib.fail("%s: url %s has a dot segment", where, url)
  end
  if type(req.headers) ~= "table" then
    lib.fail("%s: headers is %s", where, req.headers)
  end
  local authorization = 0
  for k, v in pairs(req.headers) do
    if not is_token(k) then
      lib.fail("%s: header name %s is not an HTTP token", where, k)
    end
    if type(v) ~= "string" or v:find("[%z\1-\8\10-\31\127]") then
      lib.fail("%s: header %s has value %s with a control byte", where, k, v)
    end
    if k:lower() == "authorization" then
      authorization = authorization + 1
      if v ~= "Bearer " .. token then
        lib.fail("%s: Authorization %s is not the token's", where, v)
      end
    end
  end
  -- An empty token means no credential at all.
  local want = token == "" and 0 or 1
  if authorization ~= want then
    lib.fail("%s: %d Authorization headers for token %s", where, authorization, token)
  end
end

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local function same_request(a, b)
  for _, field in ipairs({ "method", "url", "body" }) do
    if a[field] ~= b[field] then
      lib.fail("transport got %s %s, prepare built %s", field, b[field], a[field])
    end
  end
  -- Each call makes its own request id (a fresh UUID v4); everything else must match.
  local ha, hb = {}, {}
  for k, v in pairs(a.headers) do
    ha[k] = k:lower() == "x-request-id" and v:match(UUID) and "<uuid>" or v
  end
  for k, v in pairs(b.headers) do
    hb[k] = k:lower() == "x-request-id" and v:match(UUID) and "<uuid>" or v
  end
  lib.same(ha, hb, "transport request headers")
end

return function(_, fields)
  local flags = fields[1] or ""
  local name = fields[2] or "echo"
  local token = fields[14] or "fuzz-token"
  local seen = {}

  local options = {
    base_url = BASE,
    token = token,
    qualifier = fields[5],
    transport = function(request)
      seen[#seen + 1] = request
      return REPLY
    end,
  }
  if flags:find("f", 1, true) then
    options.token = function() return token end
  end
  if fields[8] then
    options.headers = { [fields[8]] = fields[9] or "" }
  end
  local created, client = lib.pcall_in_coroutine(functions.new, options)
  if not created then
    lib.check_error(client, "new", NEW_CODES)
    return
  end

  local payload
  if flags:find("s", 1, true) then
    payload = fields[3]
  elseif fields[3] then
    local ok, value = pcall(functions.json.decode, fields[3])
    payload = ok and value or {}
  end
  local opts = {
    qualifier = fields[4],
    webfn = flags:find("w", 1, true) and true or nil,
    method = fields[10],
    path = fields[11],
    timeout = fields[15] and (tonumber(fields[15]) or fields[15]),
  }
  if fields[6] then
    opts.headers = { [fields[6]] = fields[7] or "" }
  end
  if fields[12] then
    local value = fields[13] or ""
    if flags:find("l", 1, true) then
      value = { value, value .. "2" }
    end
    opts.query = { [fields[12]] = value }
  end

  local ok, req, err = lib.pcall_in_coroutine(client.prepare, client, name, payload, opts)
  if not ok then
    lib.fail("prepare raised: %s", req)
  end
  if req == nil then
    lib.check_error(err, "prepare", CALL_CODES)
  else
    check_request(req, name, token, "prepare")
  end

  local invoked, result, info = lib.pcall_in_coroutine(client.try_invoke, client, name, payload, opts)
  if not invoked then
    lib.fail("try_invoke raised: %s", result)
  end
  if req == nil then
    if #seen ~= 0 then
      lib.fail("prepare refused the call (%s) but try_invoke sent it", err)
    end
    lib.check_error(info, "try_invoke", CALL_CODES)
  else
    if #seen ~= 1 then
      lib.fail("an accepted call reached the transport %d times", #seen)
    end
    check_request(seen[1], name, token, "transport")
    same_request(req, seen[1])
    if type(result) ~= "table" or result.ok ~= true then
      lib.fail("try_invoke through the transport gave %s, %s", result, info)
    end
  end

  -- The same call as one entry of invoke_all, where the options sit in the call table.
  local call = { name = name, payload = payload }
  for k, v in pairs(opts) do
    call[k] = v
  end
  local ran, list = lib.pcall_in_coroutine(client.invoke_all, client, { call })
  if not ran then
    lib.fail("invoke_all raised: %s", list)
  end
  local outcome = type(list) == "table" and #list == 1 and list[1]
  if type(outcome) ~= "table" then
    lib.fail("invoke_all of one call returned %s", list)
  end
  if req == nil then
    if outcome.ok or #seen ~= 0 then
      lib.fail("prepare refused the call (%s) but invoke_all sent it", err)
    end
    lib.check_error(outcome.error, "invoke_all", CALL_CODES)
  else
    if not outcome.ok or #seen ~= 2 then
      lib.fail("invoke_all of an accepted call: ok %s, %d transport calls, error %s", outcome.ok,
        #seen, outcome.error)
    end
    same_request(req, seen[2])
  end
  client:close()
end
