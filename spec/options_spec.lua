-- The option registries (src/options.h): every option of functions.new, of a call and
-- of invoke_all goes through one checker, so the messages share one shape:
--   unknown option 'x' for <owner>
--   option 'name' must be <what>, got <type, or the number given>
-- The limits they quote come from the constants (1e9 seconds, concurrency 1024).
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

describe("option messages", function()
  it("names the unknown option and its owner", function()
    assert_error(raised(functions.new, { base_url = "http://h", colour = 1 }), "INVALID_ARGUMENT",
                 "unknown option 'colour' for functions.new")
    local c, sent = offline()
    local _, err = c:try_invoke("echo", {}, { timeuot = 1 })
    assert_error(err, "INVALID_ARGUMENT", "unknown option 'timeuot' for a call")
    assert_error(raised(c.invoke_all, c, { { "echo" } }, { conc = 2 }), "INVALID_ARGUMENT",
                 "unknown option 'conc' for invoke_all")
    assert.equals(0, #sent)
    c:close()
  end)

  it("cuts a long unknown name", function()
    local long = ("k"):rep(500)
    local err = raised(functions.new, { base_url = "http://h", [long] = 1 })
    assert_error(err, "INVALID_ARGUMENT", "unknown option '" .. ("k"):rep(60) .. "' for")
    assert.is_true(#err.message < 120, err.message)
  end)

  it("says what a value must be and what it got, for every table", function()
    assert_error(raised(functions.new, { base_url = "http://h", timeout = "5" }), "INVALID_ARGUMENT",
                 "option 'timeout' must be a number of seconds above 0 and below 1e9, got string")
    assert_error(raised(functions.new, { base_url = "http://h", timeout = 1e9 }), "INVALID_ARGUMENT",
                 "option 'timeout' must be a number of seconds above 0 and below 1e9, got 1")
    assert_error(raised(functions.new, { base_url = "http://h", max_request_size = 1.5 }),
                 "INVALID_ARGUMENT", "option 'max_request_size' must be a positive integer (bytes), got 1.5")
    assert_error(raised(functions.new, { base_url = "http://h", intl = "no" }), "INVALID_ARGUMENT",
                 "option 'intl' must be a boolean, got string")
    local c = offline()
    local _, err = c:try_invoke("echo", {}, { timeout = -1 })
    assert_error(err, "INVALID_ARGUMENT",
                 "option 'timeout' must be a number of seconds above 0 and below 1e9, got -1")
    _, err = c:try_invoke("echo", {}, { webfn = "yes" })
    assert_error(err, "INVALID_ARGUMENT", "option 'webfn' must be a boolean, got string")
    local list = c:invoke_all({ { "echo", {}, connect_timeout = 0 } })
    assert_error(list[1].error, "INVALID_ARGUMENT", "option 'connect_timeout' must be a number of seconds")
    assert_error(raised(c.invoke_all, c, { { "echo" } }, { concurrency = 1025 }), "INVALID_ARGUMENT",
                 "option 'concurrency' must be an integer from 1 to 1024, got 1025")
    c:close()
  end)

  it("checks prepare's options the same way as invoke's", function()
    local c = offline()
    local _, a = c:try_invoke("echo", {}, { method = 7 })
    local _, b = c:prepare("echo", {}, { method = 7 })
    assert_error(a, "INVALID_ARGUMENT", "option 'method' must be")
    assert.equals(a.message, b.message)
    c:close()
  end)

  it("refuses options that are not a table, naming the owner", function()
    assert_error(raised(functions.new, "fast"), "INVALID_ARGUMENT",
                 "options for functions.new must be a table, got string")
    local c = offline()
    local _, err = c:try_invoke("echo", {}, 5)
    assert_error(err, "INVALID_ARGUMENT", "options for a call must be a table, got number")
    c:close()
  end)

  it("accepts the boundaries", function()
    local c, sent = offline()
    assert.same({}, c:invoke("echo", {}, { timeout = 1e9 - 1, connect_timeout = 1e-3 }))
    assert.equals(1e9 - 1, sent[1].timeout)
    assert.equals(1, #c:invoke_all({ { "echo" } }, { concurrency = 1024 }))
    c:close()
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
