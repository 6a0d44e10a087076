-- The options of functions.new, of a call and of invoke_all: what each accepts, its
-- boundaries, and what each refuses (with the option's name in the message).
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local assert_error = assertions.assert_error
local raised = assertions.raised

-- A client whose transport records what it was asked to send; nothing leaves the process.
local function offline()
  local sent = {}
  local c = functions.new({
    base_url = "http://127.0.0.1:9",
    transport = function(req)
      sent[#sent + 1] = req
      return { status = 200, headers = { ["content-type"] = "application/json" }, body = "{}" }
    end,
  })
  return c, sent
end

describe("options", function()
  it("accepts the boundaries", function()
    local c, sent = offline()
    assert.same({}, c:invoke("echo", {}, { timeout = 1e9 - 1, connect_timeout = 1e-3 }))
    assert.equals(1e9 - 1, sent[1].timeout)
    assert.equals(1, #c:invoke_all({ { "echo" } }, { concurrency = 1024 }))
    c:close()
  end)

  -- The option parsers work on the stack under the new client: one value left behind
  -- made new return the parsers' scratch table instead of the client.
  it("makes new return the client, whichever options are given", function()
    for _, opts in ipairs({ { base_url = "http://h" }, { base_url = "http://h", big_integers = "string" },
                            { base_url = "http://h", retry = { attempts = 2 }, max_idle = 5 } }) do
      local c = functions.new(opts)
      assert.equals("userdata", type(c))
      assert.is_function(c.invoke)
      assert.is_truthy(tostring(c):find("^cloudbase%.functions client %(http://h%)"))
      c:close()
    end
  end)

  describe("functions.new refuses", function()
    local bad = {
      { "unknown option", { base_url = "http://h", colour = "red" }, "colour" },
      { "timeout 0", { base_url = "http://h", timeout = 0 }, "timeout" },
      { "timeout string", { base_url = "http://h", timeout = "5" }, "timeout" },
      { "negative connect_timeout", { base_url = "http://h", connect_timeout = -1 }, "connect_timeout" },
      { "fractional max_response_size", { base_url = "http://h", max_response_size = 1.5 },
        "max_response_size" },
      { "zero max_request_size", { base_url = "http://h", max_request_size = 0 }, "max_request_size" },
      { "http2 = 'yes'", { base_url = "http://h", http2 = "yes" }, "http2" },
      { "intl = 'no'", { env = "e1", intl = "no" }, "intl" },
      { "numeric token", { base_url = "http://h", token = 42 }, "token" },
      { "headers string", { base_url = "http://h", headers = "X-A: 1" }, "headers" },
      { "transport not a function", { base_url = "http://h", transport = 1 }, "transport" },
      { "json without decode", { base_url = "http://h", json = { encode = tostring } }, "json" },
      { "resolve not a list", { base_url = "http://h", resolve = "h:1:127.0.0.1" }, "resolve" },
      { "ftp base_url", { base_url = "ftp://h" }, "base_url" },
      { "credentials in base_url", { base_url = "http://user:pw@h" }, "base_url" },
      { "query in base_url", { base_url = "http://h/?a=1" }, "base_url" },
      { "env with a dot", { env = "a.b" }, "env" },
      { "qualifier with CRLF", { base_url = "http://h", qualifier = "1\r\nX: y" }, "qualifier" },
      { "Authorization header", { base_url = "http://h", headers = { Authorization = "Bearer x" } },
        "Authorization" },
      { "header value with LF", { base_url = "http://h", headers = { ["X-A"] = "a\nb" } }, "X-A" },
    }
    for _, case in ipairs(bad) do
      it("refuses " .. case[1] .. " with INVALID_ARGUMENT", function()
        assert_error(raised(functions.new, case[2]), "INVALID_ARGUMENT", case[3])
      end)
    end
  end)

  -- One checker for every options table, one message style: "NAME must be WHAT" with the
  -- limit printed from its constant, and unknown keys named in full with what the table takes.
  describe("messages", function()
    local function message(f, ...)
      local ok, err = pcall(f, ...)
      assert.is_false(ok)
      assert_error(err, "INVALID_ARGUMENT")
      return err.message
    end

    it("print the limits", function()
      local c = offline()
      assert.equals("timeout must be a positive number of seconds below 1000000000",
                    message(functions.new, { base_url = "http://h", timeout = 1e9 }))
      assert.equals("timeout must be a positive number of seconds below 1000000000",
                    message(c.invoke, c, "echo", {}, { timeout = 1e9 }))
      assert.equals("max_idle must be an integer from 1 to 86400 (seconds)",
                    message(functions.new, { base_url = "http://h", max_idle = 86401 }))
      assert.equals("concurrency must be an integer from 1 to 1024 (calls in flight at once)",
                    message(c.invoke_all, c, { { "echo" } }, { concurrency = 1025 }))
      assert.equals("connect(n): n must be an integer from 1 to 1024", message(c.connect, c, 1025))
      c:close()
    end)

    it("name an unknown option in full and what the table takes", function()
      local c = offline()
      local long = string.rep("k", 100)
      local m = message(functions.new, { base_url = "http://h", [long] = 1 })
      assert.truthy(m:find("unknown option '" .. long .. "' for functions.new (known: env, ", 1, true))
      assert.truthy(m:find(", big_integers)", 1, true))
      assert.equals("unknown option 'concurency' for invoke_all (known: concurrency)",
                    message(c.invoke_all, c, { { "echo" } }, { concurency = 4 }))
      assert.equals("unknown option [3] for functions.new (known: env, intl, base_url, token, qualifier, "
                    .. "timeout, connect_timeout, headers, max_response_size, max_request_size, ca_file, "
                    .. "ca_path, proxy, resolve, http2, transport, json, auth, retry, on_request, "
                    .. "on_response, pool, preconnect, max_idle, big_integers)",
                    message(functions.new, { base_url = "http://h", [3] = true }))
      -- on_done belongs to start only; name and payload to an invoke_all call only.
      local plain = message(c.invoke, c, "echo", {}, { on_done = print })
      assert.truthy(plain:find("unknown option 'on_done' for a call (known: qualifier, ", 1, true))
      assert.is_nil(plain:find("name", 1, true))
      local _, err = c:try_invoke("echo", {}, { name = "x" })
      assert_error(err, "INVALID_ARGUMENT", "unknown option 'name'")
      local list = c:invoke_all({ { "echo", on_done = print } })
      assert_error(list[1].error, "INVALID_ARGUMENT", "for an invoke_all call (known: ")
      assert.truthy(list[1].error.message:find(", name, payload)", 1, true))
      c:close()
    end)

    it("say what a value must be, whatever its parser", function()
      for option, value in pairs({ transport = 1, on_request = "f", json = {}, pool = {}, auth = "t",
                                   http2 = "h3", token = 42, resolve = { 1 } }) do
        local m = message(functions.new, { base_url = "http://h", [option] = value })
        assert.equals(option .. " must be ", m:sub(1, #option + 9))
      end
    end)
  end)
end)
