-- The libcurl transport against a hostile HTTP server (spec/support/hostile_server.lua):
-- each case asserts the exact error code, and that the same client works afterwards.
local functions = require "cloudbase.functions"
local hostile = require "spec.support.hostile"

describe("against a hostile server", function()
  local server = hostile.for_describe({ client = "once", client_defaults = function(s)
    return { base_url = s.url, token = "hostile-token", http2 = false,
             max_response_size = 1024 * 1024, timeout = 5 }
  end })

  local function works_afterwards()
    local result, info = server.client:invoke("ok", {})
    assert.same({ ok = true }, result)
    assert.equal(200, info.status)
  end

  local function fails_with(code, name, opts)
    local result, err = server.client:try_invoke(name, {}, opts)
    assert.is_nil(result)
    assert.is_true(functions.is_error(err), tostring(err))
    assert.equal(code, err.code, tostring(err))
    works_afterwards()
    return err
  end

  it("a body shorter than its Content-Length is a NETWORK_ERROR", function()
    fails_with("NETWORK_ERROR", "shortbody")
  end)

  it("a connection reset mid-body is a NETWORK_ERROR", function()
    fails_with("NETWORK_ERROR", "reset")
  end)

  it("reads a chunked body", function()
    assert.same({ ok = true }, server.client:invoke("chunked", {}))
    works_afterwards()
  end)

  it("1.6 MB of header lines (over libcurl's 300 KB total) is RESPONSE_TOO_LARGE", function()
    fails_with("RESPONSE_TOO_LARGE", "bigheaders")
  end)

  it("a header line over libcurl's limit is RESPONSE_TOO_LARGE", function()
    fails_with("RESPONSE_TOO_LARGE", "longheader")
  end)

  it("skips 1xx responses before the final one", function()
    local result, info = server.client:invoke("informational", {})
    assert.same({ ok = true }, result)
    assert.equal(200, info.status)
    assert.is_nil(info.headers.link)
    works_afterwards()
  end)

  it("a gzip bomb stops at max_response_size with RESPONSE_TOO_LARGE", function()
    fails_with("RESPONSE_TOO_LARGE", "gzipbomb")
  end)

  it("a trickled body past the timeout is a TIMEOUT", function()
    fails_with("TIMEOUT", "trickle", { timeout = 0.4 })
  end)

  it("a trickled body within the timeout is read whole", function()
    assert.same({ ok = true }, server.client:invoke("trickle", {}))
  end)

  it("never follows a redirect: HTTP_ERROR with the status", function()
    local before = server:count("ok")
    local err = fails_with("HTTP_ERROR", "redirect")
    assert.equal(302, err.status)
    assert.equal(before + 1, server:count("ok")) -- only works_afterwards' own call
  end)

  it("a reply that is not HTTP is an INVALID_RESPONSE", function()
    fails_with("INVALID_RESPONSE", "garbage")
  end)

  it("an invalid status (099) is an INVALID_RESPONSE", function()
    fails_with("INVALID_RESPONSE", "badstatus")
  end)

  it("the same cases in one invoke_all each end with their own outcome", function()
    local list = server.client:invoke_all({
      { "ok", {} }, { "shortbody", {} }, { "garbage", {} }, { "chunked", {} },
      { "badstatus", {} }, { "reset", {} }, { "ok", {} },
    }, { concurrency = 3 })
    assert.is_true(list[1].ok)
    assert.equal("NETWORK_ERROR", list[2].error.code)
    assert.equal("INVALID_RESPONSE", list[3].error.code)
    assert.is_true(list[4].ok)
    assert.equal("INVALID_RESPONSE", list[5].error.code)
    assert.equal("NETWORK_ERROR", list[6].error.code)
    assert.is_true(list[7].ok)
    works_afterwards()
  end)

  describe("a reused keep-alive connection closed before any response byte", function()
    local function check(err)
      assert.is_true(functions.is_error(err), tostring(err))
      assert.equal("NETWORK_ERROR", err.code)
      assert.matches("not sent again", err.message)
      assert.is_nil(err.status)
    end

    it("fails the call instead of sending it again (invoke)", function()
      works_afterwards() -- leaves a kept-alive connection for the next call to reuse
      local before = server:count("dropreused")
      local result, err = server.client:try_invoke("dropreused", { n = 1 })
      assert.is_nil(result)
      check(err)
      assert.equal(before + 1, server:count("dropreused"))
      works_afterwards()
    end)

    it("fails the call instead of sending it again (a GET without a body)", function()
      works_afterwards()
      local before = server:count("dropreused")
      local result, err = server.client:try_invoke("dropreused", nil, { webfn = true, method = "GET" })
      assert.is_nil(result)
      check(err)
      assert.equal(before + 1, server:count("dropreused"))
      works_afterwards()
    end)

    it("fails the call instead of sending it again (invoke_all)", function()
      works_afterwards()
      local before = server:count("dropreused")
      local list = server.client:invoke_all({ { "dropreused", {} } })
      check(list[1].error)
      assert.equal(before + 1, server:count("dropreused"))
      works_afterwards()
    end)
  end)
end)
