-- cloudbase.functions and its client object: the module table, functions.new (the URL,
-- environment variables, tostring) and the client's lifecycle (close, collection, calls
-- and codecs re-entering it), end to end against the local gateway emulator
-- (gateway/test/config.json). What a call sends and returns: invoke_spec.lua; option
-- values: options_spec.lua; errors: errors_spec.lua.
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local lv = require "spec.support.lua_version"
local has = assertions.has
local assert_error = assertions.assert_error
local raised = assertions.raised
local cjson = require "cjson"

local API_KEY = gateway.API_KEY
local SECRET = "SeCrEt-T0ken-7f3a9c1e-do-not-leak"

describe("cloudbase.functions", function()
  local gw = gateway.for_describe({ client = "once" })

  describe("module table", function()
    it("exports the documented API", function()
      assert.is_function(functions.new)
      assert.is_function(functions.is_error)
      assert.is_table(functions.Error)
      assert.is_table(functions.array_mt)
      assert.is_function(functions.json.encode)
      assert.is_function(functions.json.decode)
      assert.is_string(functions.version)
    end)

    it("has a null equal to cjson.null", function()
      assert.equals("userdata", type(functions.null))
      assert.equals(cjson.null, functions.null)
    end)

    it("encodes and decodes JSON, array_mt marking arrays", function()
      assert.equals('{"a":1}', functions.json.encode({ a = 1 }))
      assert.equals("[]", functions.json.encode(setmetatable({}, functions.array_mt)))
      assert.equals("[1,2]", functions.json.encode({ 1, 2 }))
      local v = functions.json.decode('{"a":[1,2,{"b":null}],"s":"x"}')
      assert.same({ 1, 2, { b = functions.null } }, v.a)
      assert.equals("x", v.s)
    end)

    it("is_error is true only for error objects", function()
      local _, err = gw.client:try_invoke("nope-missing")
      assert.is_true(functions.is_error(err))
      assert.is_false(functions.is_error({ code = "X", message = "m" }))
      assert.is_false(functions.is_error("FUNCTION_NOT_FOUND"))
      assert.is_false(functions.is_error(nil))
      assert.is_false(functions.is_error(setmetatable({}, {})))
    end)
  end)

  describe("functions.new", function()
    it("raises INVALID_ARGUMENT without env or base_url", function()
      assert_error(raised(functions.new, {}), "INVALID_ARGUMENT", "base_url")
      assert_error(raised(functions.new), "INVALID_ARGUMENT")
      assert_error(raised(functions.new, "http://x"), "INVALID_ARGUMENT")
    end)

    it("builds the gateway URL from env, and the international one with intl", function()
      local urls = {}
      local function capture(req)
        urls[#urls + 1] = req.url
        return { status = 200, headers = {}, body = "" }
      end
      local c1 = functions.new({ env = "my-env-1", transport = capture })
      local c2 = functions.new({ env = "my-env-1", intl = true, transport = capture })
      c1:invoke("echo")
      c2:invoke("echo")
      assert.same({ "https://my-env-1.api.tcloudbasegateway.com/v1/functions/echo",
                    "https://my-env-1.api.intl.tcloudbasegateway.com/v1/functions/echo" }, urls)
      assert.is_true(has(tostring(c1), "https://my-env-1.api.tcloudbasegateway.com"))
      c1:close()
      c2:close()
    end)

    it("prefers base_url over env and drops trailing slashes", function()
      local c = gw:new({ env = "ignored-env", base_url = gw.url .. "//" })
      local r = c:invoke("inspect", {})
      assert.equals("/v1/functions/inspect", r.uri)
      c:close()
    end)

    it("hides the token from tostring(client)", function()
      local c = gw:new({ token = SECRET })
      local s = tostring(c)
      assert.is_true(has(s, gw.url), s)
      assert.is_false(has(s, SECRET))
      c:close()
      assert.is_false(has(tostring(c), SECRET))
    end)

    describe("environment variables", function()
      -- Runs a one-line program in a child of this run's interpreter with the given
      -- environment.
      local function child(env, code)
        local out, ok = gateway.lua_code("local f = require 'cloudbase.functions' " .. code .. "\n", {}, env)
        assert.is_true(ok, out)
        return (out:gsub("%s+$", ""))
      end

      it("CLOUDBASE_BASE_URL and CLOUDBASE_TOKEN are the defaults", function()
        local out = child({ CLOUDBASE_BASE_URL = gw.url, CLOUDBASE_TOKEN = API_KEY },
          "local r = f.new():invoke('inspect', {}) print(r.headers.authorization, r.identity.type)")
        assert.equals("Bearer " .. API_KEY .. "\tapi_key", out)
      end)

      it("CLOUDBASE_ENV_ID builds the URL", function()
        local out = child({ CLOUDBASE_ENV_ID = "env-from-var" }, "print(tostring(f.new()))")
        assert.is_true(has(out, "https://env-from-var.api.tcloudbasegateway.com"), out)
      end)

      it("explicit options win over the variables", function()
        local out = child({ CLOUDBASE_BASE_URL = gateway.closed_url(),
                            CLOUDBASE_ENV_ID = "other-env", CLOUDBASE_TOKEN = "test-anon-token" },
          "local c = f.new{ base_url = '" .. gw.url .. "', token = '" .. API_KEY .. "' } "
            .. "print(c:invoke('inspect', {}).identity.type)")
        assert.equals("api_key", out)
      end)

      it("an empty CLOUDBASE_TOKEN means no credential", function()
        local out = child({ CLOUDBASE_BASE_URL = gw.url, CLOUDBASE_TOKEN = "" },
          "local _, e = f.new():try_invoke('inspect', {}) print(e.code)")
        assert.equals("MISSING_CREDENTIALS", out)
      end)
    end)
  end)

  describe("lifecycle", function()
    it("a closed client refuses calls with INVALID_ARGUMENT", function()
      local c = gw:new()
      c:invoke("echo", {})
      c:close()
      assert_error(raised(c.invoke, c, "echo", {}), "INVALID_ARGUMENT", "closed")
      local none, err = c:try_invoke("echo", {}) -- try_invoke never raises
      assert.is_nil(none)
      assert_error(err, "INVALID_ARGUMENT", "closed")
      assert_error(raised(c.invoke_all, c, { { "echo" } }), "INVALID_ARGUMENT", "closed")
      c:close() -- twice is fine
      assert.is_true(has(tostring(c), "closed"))
    end)

    -- `<close>` does not parse before Lua 5.4: the test lives in a file only 5.4 loads.
    lv.it_with(lv.close, "the <close> attribute", "<close> closes the client at the end of the scope",
      lv.close and assert(loadfile(gateway.root .. "/spec/lua54/client_close.lua"))(function()
        return gw:new()
      end))

    it("is collected without being closed", function()
      do
        local c = gw:new()
        c:invoke("echo", {})
      end
      collectgarbage()
      collectgarbage()
      assert.same({ a = 2 }, gw.client:invoke("echo", { a = 2 }))
    end)

    it("a token function that closes the client makes the call fail cleanly", function()
      local c
      c = gw:new({ token = function()
        c:close()
        return API_KEY
      end })
      local ok, err = pcall(c.invoke, c, "echo", {})
      assert.is_false(ok)
      assert_error(err, "INVALID_ARGUMENT", "closed")
      assert.is_true(has(tostring(c), "closed"))
    end)

    it("a token function may call another client, and the same client", function()
      local other = gw:new()
      local c, depth, runs = nil, 0, 0
      c = gw:new({ token = function()
        runs = runs + 1
        if depth == 0 then
          depth = 1
          assert.same({ inner = true }, other:invoke("echo", { inner = true }))
          assert.equals("Hello fn", c:invoke("hello")) -- re-entrant on a single invoke
          depth = 0
        end
        return API_KEY
      end })
      assert.same({ outer = true }, c:invoke("echo", { outer = true }))
      assert.equals(2, runs) -- for the outer call and the nested one
      assert.same({ again = true }, c:invoke("echo", { again = true }))
      other:close()
      c:close()
    end)

    it("works with a plugged codec (lua-cjson)", function()
      local c = gw:new({ json = cjson })
      local r, info = c:invoke("echo", { a = "b", n = 5, list = { 1, 2 } })
      assert.same({ a = "b", n = 5, list = { 1, 2 } }, r)
      assert.equals(200, info.status)
      assert.same({ ok = true }, c:invoke("admin_only", {})) -- an API key passes every rule
      local c2 = gw:new({ json = cjson, token = "test-anon-token" })
      local _, err = c2:try_invoke("admin_only", {})
      assert_error(err, "EXCEED_AUTHORITY")
      _, err = c:try_invoke("fault_malformed", {})
      assert_error(err, "INVALID_RESPONSE")
      _, err = c:try_invoke("echo", { f = print })
      assert_error(err, "ENCODE_ERROR")
      c:close()
      c2:close()
    end)

    it("survives a plugged codec that calls and closes its own client mid-call", function()
      -- The outer call is still reading its response body while decode runs: a nested
      -- call must not reuse that buffer, and close() must wait for the call to end.
      local c, nested
      local codec = {
        encode = cjson.encode,
        decode = function(text)
          if not nested then
            nested = true
            assert.equals(1, c:invoke("echo", { inner = 1, pad = ("x"):rep(70000) }).inner)
            c:close()
          end
          return cjson.decode(text)
        end,
      }
      c = gw:new({ json = codec })
      local big = ("y"):rep(100000)
      local r = c:invoke("echo", { outer = big })
      assert.equals(big, r.outer)
      assert.is_true(has(tostring(c), "closed"))
      assert_error(raised(c.invoke, c, "echo", {}), "INVALID_ARGUMENT", "closed")
    end)
  end)
end)
