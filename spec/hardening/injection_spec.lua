-- The injection audit: no byte a caller controls can add a line to the request, end
-- the header block, or move the request out of /v1/functions/{name}. Bad bytes are
-- refused with INVALID_ARGUMENT (TOKEN_ERROR for the token) before any I/O, through
-- invoke, invoke_all and prepare alike; what does go out is checked byte for byte.
local functions = require "cloudbase.functions"
local hostile = require "spec.support.hostile"

local SMUGGLED = "x\r\n\r\nPOST /v1/functions/ok HTTP/1.1\r\nHost: evil\r\n\r\n"
local BAD_VALUES = { "a\rb", "a\nb", "a\0b", "a\1b", "a\31b", "a\127b", "a\r\nX-Injected: 1", SMUGGLED }
local BAD_TOKENS = { "", "a b", "a:b", "a\0b", "a\rb", "a\nb", "a\tb", "a\127b", "a(b", "\0" }

describe("injection audit", function()
  local server = hostile.for_describe({ client = "once", client_defaults = function(s)
    return { base_url = s.url, token = "secret-token", http2 = false }
  end })

  -- The call is refused with `code` by every entry point, and nothing reaches the server.
  local function refused(code, name, payload, opts, c)
    c = c or server.client
    local before = #server:requests()
    local result, err = c:try_invoke(name, payload, opts)
    assert.is_nil(result)
    assert.equal(code, err and err.code, tostring(err))
    local call = { name = name, payload = payload }
    for k, v in pairs(opts or {}) do
      call[k] = v
    end
    local list = c:invoke_all({ call })
    assert.equal(code, list[1].error and list[1].error.code)
    local request, perr = c:prepare(name, payload, opts)
    assert.is_nil(request)
    assert.equal(code, perr and perr.code)
    assert.equal(before, #server:requests())
  end

  it("refuses control bytes in a per-call qualifier", function()
    for _, v in ipairs(BAD_VALUES) do
      refused("INVALID_ARGUMENT", "record", {}, { qualifier = v })
    end
  end)

  it("refuses control bytes in the client's qualifier", function()
    for _, v in ipairs(BAD_VALUES) do
      local ok, err = pcall(functions.new, { base_url = server.url, qualifier = v })
      assert.is_false(ok)
      assert.equal("INVALID_ARGUMENT", err.code)
    end
  end)

  it("refuses control bytes in every string option of new", function()
    for _, v in ipairs(BAD_VALUES) do
      for _, opts in ipairs {
        { base_url = server.url .. "/p" .. v },
        { base_url = server.url, proxy = "http://127.0.0.1:1" .. v },
        { base_url = server.url, ca_file = "/etc/ssl/x" .. v },
        { base_url = server.url, ca_path = "/etc/ssl" .. v },
        { base_url = server.url, resolve = { "h:1:127.0.0.1" .. v } },
        { env = "env" .. v },
      } do
        local ok, err = pcall(functions.new, opts)
        assert.is_false(ok)
        assert.equal("INVALID_ARGUMENT", err.code)
      end
    end
  end)

  it("refuses a method that is not an HTTP token, NUL included", function()
    for _, m in ipairs(BAD_TOKENS) do
      refused("INVALID_ARGUMENT", "record", nil, { webfn = true, method = m })
    end
  end)

  it("refuses bad header names and control bytes in header values, per call", function()
    for _, n in ipairs(BAD_TOKENS) do
      refused("INVALID_ARGUMENT", "record", {}, { headers = { [n] = "v" } })
    end
    for _, v in ipairs(BAD_VALUES) do
      refused("INVALID_ARGUMENT", "record", {}, { headers = { ["X-Custom"] = v } })
    end
  end)

  it("refuses bad header names and values in the client's headers", function()
    for _, n in ipairs(BAD_TOKENS) do
      local ok, err = pcall(functions.new, { base_url = server.url, headers = { [n] = "v" } })
      assert.is_false(ok)
      assert.equal("INVALID_ARGUMENT", err.code)
    end
    for _, v in ipairs(BAD_VALUES) do
      local ok, err = pcall(functions.new, { base_url = server.url, headers = { ["X-Custom"] = v } })
      assert.is_false(ok)
      assert.equal("INVALID_ARGUMENT", err.code)
    end
    local ok, err = pcall(functions.new, { base_url = server.url, headers = { [1] = "v" } })
    assert.is_false(ok)
    assert.equal("INVALID_ARGUMENT", err.code)
  end)

  it("reserves the headers the client or the connection owns", function()
    for _, name in ipairs { "Host", "connection", "TE", "Upgrade", "AUTHORIZATION", "Content-Length",
      "Transfer-Encoding", "Expect" } do
      refused("INVALID_ARGUMENT", "record", {}, { headers = { [name] = "x" } })
      local ok, err = pcall(functions.new, { base_url = server.url, headers = { [name] = "x" } })
      assert.is_false(ok)
      assert.equal("INVALID_ARGUMENT", err.code)
    end
  end)

  it("refuses control bytes in the token, given or returned", function()
    for _, v in ipairs(BAD_VALUES) do
      local c = functions.new { base_url = server.url, token = v }
      refused("TOKEN_ERROR", "record", {}, nil, c)
      c:close()
      c = functions.new { base_url = server.url, token = function() return v end }
      refused("TOKEN_ERROR", "record", {}, nil, c)
      c:close()
    end
  end)

  it("refuses control bytes and spaces in a web function path", function()
    for _, p in ipairs { "/a b", "/a\0b", "/a\rb", "/a\nb", "/a\tb", "/a\127b", "/a?b", "/a#b" } do
      refused("INVALID_ARGUMENT", "record", nil, { webfn = true, path = p })
    end
  end)

  it("refuses '.' and '..' path segments, plain or percent-encoded", function()
    for _, p in ipairs { ".", "..", "/..", "/../_gateway/invocations", "a/./b", "a/../b", "a/..",
      "%2e", "%2E%2e", ".%2E", "/%2e%2e/x", "a%2f..%2fb", "a%2F%2E%2E%2Fb", "a\\..\\b",
      "a%5c..%5Cb", "/a/../../b/" } do
      refused("INVALID_ARGUMENT", "record", nil, { webfn = true, path = p })
    end
  end)

  it("keeps paths whose dots are not whole segments", function()
    for _, p in ipairs { "/a..b", "/...", "/.well-known/x", "/a/b.", "/%2e%2e%2e", "/.a/" } do
      local request = assert(server.client:prepare("record", nil, { webfn = true, path = p }))
      assert.equal(server.url .. "/v1/functions/record" .. p, request.url)
    end
  end)

  it("later changes to the client's headers table have no effect", function()
    local headers = { ["X-Team"] = "blue" }
    local c = functions.new { base_url = server.url, headers = headers }
    headers["X-Team"] = "red\r\nX-Injected: 1"
    headers.Authorization = "Bearer other"
    headers[{}] = "table key"
    headers["X-Late"] = "late"
    local request = assert(c:prepare("record", {}))
    assert.equal("blue", request.headers["X-Team"])
    assert.is_nil(request.headers["X-Late"])
    assert.is_nil(request.headers.Authorization)
    local before = server:count("record")
    assert.same({ ok = true }, c:invoke("record", {}))
    assert.equal(before + 1, server:count("record"))
    local raw = server:requests()[#server:requests()].raw
    assert.matches("\r\nX%-Team: blue\r\n", raw)
    assert.is_nil(raw:find("Injected", 1, true))
    c:close()
  end)

  it("puts exactly one well-formed request on the wire, whatever the legal options", function()
    local c = functions.new { base_url = server.url, token = "tok\tlegal", qualifier = "q v\t1",
      headers = { ["X-Client"] = "c\tv", ["x-mixed-Case"] = "é ü \128\255" } }
    local before = #server:requests()
    local result = c:invoke("record", { s = "\r\n\0" }, {
      qualifier = "$LATEST",
      headers = { ["X-Call"] = "a:b;c=\"d\"", ["!#$%&'*+-.^_`|~"] = "tchars" },
    })
    assert.same({ ok = true }, result)
    local web = c:invoke("record", "raw\r\n\r\nbody", {
      webfn = true, method = "PATCH", path = "/x/%2F/y..z",
      query = { ["k\r\n"] = "v\r\n\0", list = { "1\r", "2\n" } },
    })
    assert.same({ ok = true }, web)
    local list = server:requests()
    assert.equal(before + 2, #list)
    for i = before + 1, #list do
      local raw = list[i].raw
      local head, body = raw:match("^(.-\r\n)\r\n(.*)$")
      assert.is_string(head)
      local lines = {}
      for line in head:gmatch("(.-)\r\n") do
        lines[#lines + 1] = line
      end
      assert.matches("^[A-Z]+ /v1/functions/record[%w%%%-._~/?&=]* HTTP/1%.1$", lines[1])
      local names = {}
      for j = 2, #lines do
        local name, value = lines[j]:match("^([!#$%%&'*+%-.^_`|~%w]+): ?(.*)$")
        assert.is_string(name, lines[j])
        assert.is_nil(value:find("[%z\1-\8\10-\31\127]"), lines[j])
        names[name:lower()] = (names[name:lower()] or 0) + 1
      end
      assert.is_nil(head:find("\r[^\n]") or head:find("[^\r]\n"))
      assert.equal(1, names.authorization)
      assert.equal(1, names.host)
      assert.equal(1, names["content-length"])
      assert.equal(tonumber(head:match("\r\n[Cc]ontent%-[Ll]ength: (%d+)")), #body)
    end
    assert.matches("\r\nAuthorization: Bearer tok\tlegal\r\n", list[before + 1].raw)
    assert.matches("\r\nX%-Qualifier: %$LATEST\r\n", list[before + 1].raw)
    assert.matches("^PATCH /v1/functions/record/x/%%2F/y%.%.z%?", list[before + 2].raw)
    c:close()
  end)
end)
