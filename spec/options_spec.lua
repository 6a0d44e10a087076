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
end)
