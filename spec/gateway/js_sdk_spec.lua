-- The official client, unmodified: @cloudbase/js-sdk from npm (the version
-- pinned in spec/js-sdk/package-lock.json) calls the emulator through
-- spec/js-sdk/run.js. Skipped, with the reason, when node or npm is missing
-- or the install fails (offline). The install lives in build/js-sdk.
local gateway = require "spec.support.gateway"
local cjson = require "cjson"

local root = gateway.root
local SDK_DIR = root .. "/build/js-sdk"
local LOCK = root .. "/spec/js-sdk/package-lock.json"
local quote = gateway.quote

local function succeeds(cmd)
  local _, ok = gateway.run(cmd .. " >/dev/null 2>&1")
  return ok
end

-- Install the SDK when its lock changed; nil when ready, else why not.
local function prepare()
  if not succeeds("command -v node") then
    return "node is not installed (Debian: apt-get install nodejs)"
  end
  if not succeeds([[node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)']]) then
    return "node 18 or newer is needed (the SDK uses the global fetch)"
  end
  local lock = gateway.read_file(LOCK)
  if lock ~= nil and gateway.read_file(SDK_DIR .. "/installed.lock") == lock then
    return nil
  end
  if not succeeds("command -v npm") then
    return "npm is not installed (Debian's nodejs package comes without it)"
  end
  local out, ok = gateway.run(table.concat({
    "mkdir -p", quote(SDK_DIR), "&& cp", quote(root .. "/spec/js-sdk/package.json"), quote(LOCK),
    quote(SDK_DIR), "&& cd", quote(SDK_DIR),
    "&& timeout 300 npm ci --ignore-scripts --no-audit --no-fund 2>&1" }, " "))
  if not ok then
    local why = out:match("npm error ([^\n]+)") or out:match("([^\n]+)\n?$") or ""
    return "npm ci of @cloudbase/js-sdk failed (offline?): " .. why
  end
  gateway.run("cp " .. quote(LOCK) .. " " .. quote(SDK_DIR .. "/installed.lock"))
  return nil
end

-- Run one build's scenarios; returns { scenario = outcome }.
local function run_sdk(build, url)
  local modules = SDK_DIR .. "/node_modules"
  if modules:sub(1, 1) ~= "/" then
    modules = "$PWD/" .. modules
  end
  local out = gateway.run("NODE_PATH=\"" .. modules .. "\" timeout 60 node "
    .. quote(root .. "/spec/js-sdk/run.js") .. " " .. build .. " " .. quote(url) .. " 2>&1")
  local results = {}
  for line in out:gmatch("RESULT ([^\n]+)") do
    local outcome = cjson.decode(line)
    results[outcome.scenario] = outcome
  end
  assert(next(results), "run.js printed no results:\n" .. out:sub(-2000))
  return results
end

local function entries_with(log, id)
  local found = {}
  for _, entry in ipairs(log.entries) do
    if entry.request_id == id then
      found[#found + 1] = entry
    end
  end
  return found
end

describe("@cloudbase/js-sdk against the gateway", function()
  local skip
  local gw = gateway.for_describe()
  lazy_setup(function()
    skip = prepare()
  end)

  describe("node build", function()
    local results, log
    lazy_setup(function()
      if skip then return end
      gw:reset_all()
      results = run_sdk("node", gw.url)
      log = gw:invocations()
    end)

    it("calls a function, and the gateway adopts the SDK's request id", function()
      if skip then return pending(skip) end
      local value = assert(results.success.value, cjson.encode(results.success))
      assert.same({ a = 1 }, value.result.event)
      assert.same({ type = "publishable_key", loginType = "ANONYMOUS" }, value.result.identity)
      local sent = value.result.headers["x-request-id"]
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", sent)
      assert.equals(sent, value.result.request_id)
      assert.equals(sent, value.requestId)
      assert.equals(1, #entries_with(log, sent))
    end)

    it("hands gateway errors to the caller with their code and request id", function()
      if skip then return pending(skip) end
      local failed = assert(results.gateway_error.value, cjson.encode(results.gateway_error))
      assert.equals("FUNCTION_INVOCATION_FAILED", failed.code)
      assert.equals("function throws failed: boom", failed.message)
      assert.equals("error", entries_with(log, failed.requestId)[1].status)
      local missing = results.not_found.value
      assert.equals("FUNCTION_NOT_FOUND", missing.code)
      assert.equals(0, #entries_with(log, missing.requestId))
    end)
  end)

  describe("browser build", function()
    local results, log
    lazy_setup(function()
      if skip then return end
      gw:reset_all()
      results = run_sdk("browser", gw.url)
      log = gw:invocations()
    end)

    it("refreshes on ACCESS_TOKEN_EXPIRED and replays the call, which runs once", function()
      if skip then return pending(skip) end
      local value = assert(results.refresh.value, cjson.encode(results.refresh))
      assert.equals("user-2", value.result.identity.uid)
      local used = value.result.headers.authorization
      assert.matches("^Bearer at%-", used)
      assert.not_equals("Bearer test-expired-token", used)
      -- One id for the refused attempt and its replay; only the replay ran.
      assert.equals(1, #entries_with(log, value.requestId))
      assert.equals(1, log.counts.inspect)
      local stored = results.after_refresh.value
      assert.equals(used, "Bearer " .. stored.access_token)
      assert.not_equals("test-refresh-token-2", stored.refresh_token)
      -- The refresh token the SDK used has rotated away.
      local again = gw:request({ path = "/auth/v1/token", method = "POST",
        body = '{"grant_type":"refresh_token","refresh_token":"test-refresh-token-2"}' })
      assert.equals("invalid_grant", again.json.error)
    end)

    it("reads a refused refresh (invalid_grant) as signed out", function()
      if skip then return pending(skip) end
      local thrown = assert(results.refresh_refused.thrown, cjson.encode(results.refresh_refused))
      assert.equals("unauthenticated", thrown.error)
      assert.equals("the refresh token is invalid", thrown.error_description)
      assert.equals("unauthenticated", results.after_refused.value.error)
    end)
  end)
end)
