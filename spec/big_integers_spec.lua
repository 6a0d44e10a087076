-- Integers past what a Lua number holds exactly: beyond int64 on 5.3/5.4, beyond
-- +-2^53 on 5.1, 5.2 and LuaJIT (numbers are doubles there). By default they decode
-- to the nearest float; big_integers = "string" keeps their text everywhere, and on
-- LuaJIT "cdata" gives int64_t/uint64_t, which encode back exactly.
local gateway = require "spec.support.gateway"
local lv = require "spec.support.lua_version"
local functions = require "cloudbase.functions"
local assertions = require "spec.support.assertions"
local json = functions.json

-- LuaJIT's 64-bit literal for text ("-5" -> -5LL, "5ULL" stays), built by the parser.
local function ll(text)
  return assert(loadstring("return " .. text .. (text:find("U") and "" or "LL")))()
end

local function invalid(fn, ...)
  return assertions.assert_error(assertions.raised(fn, ...), "INVALID_ARGUMENT")
end

-- The last exact integer each way, and the first past it, on this interpreter.
local LAST, FIRST, NLAST, NFIRST
if lv.integers then
  LAST, FIRST = "9223372036854775807", "9223372036854775808"
  NLAST, NFIRST = "-9223372036854775808", "-9223372036854775809"
else
  LAST, FIRST = "9007199254740992", "9007199254740993"
  NLAST, NFIRST = "-9007199254740992", "-9007199254740993"
end

describe("big integers", function()
  describe("json.decode", function()
    it("gives the nearest float by default", function()
      assert.equal("float", lv.number_type(json.decode(FIRST)))
      assert.equal(tonumber(FIRST), json.decode(FIRST))
      assert.equal(tonumber(NFIRST), json.decode(NFIRST, { big_integers = "float" }))
      assert.equal(1e30, json.decode("1000000000000000000000000000000"))
      assert.equal(lv.integers and "integer" or "float", lv.number_type(json.decode(LAST)))
    end)

    it("keeps their exact text with big_integers = \"string\", and the rest as numbers", function()
      local opts = { big_integers = "string" }
      assert.equal(FIRST, json.decode(FIRST, opts))
      assert.equal(NFIRST, json.decode(NFIRST, opts))
      assert.equal(tonumber(LAST), json.decode(LAST, opts))
      assert.equal(tonumber(NLAST), json.decode(NLAST, opts))
      assert.equal("18446744073709551616", json.decode("18446744073709551616", opts))
      assert.equal("-123456789012345678901234567890", json.decode("-123456789012345678901234567890", opts))
      -- not integer-looking: numbers, whatever their size
      assert.equal(1e20, json.decode("1e20", opts))
      assert.equal(2 ^ 64, json.decode("18446744073709551616.0", opts))
      local doc = json.decode('{"id":' .. FIRST .. ',"ids":[1,' .. NFIRST .. ',2.5]}', opts)
      assert.same({ id = FIRST, ids = { 1, NFIRST, 2.5 } }, doc)
    end)

    it("gives int64_t/uint64_t cdata with big_integers = \"cdata\" on LuaJIT only", function()
      if not lv.luajit then
        local err = invalid(json.decode, "1", { big_integers = "cdata" })
        assert.equal('big_integers = "cdata" needs LuaJIT\'s ffi', err.message)
        return
      end
      local ffi = require "ffi"
      local opts = { big_integers = "cdata" }
      local cases = { "9007199254740993", "-9007199254740993", "9223372036854775807",
        "-9223372036854775808", "9223372036854775808ULL", "18446744073709551615ULL" }
      for _, text in ipairs(cases) do
        local v = json.decode((text:gsub("ULL", "")), opts)
        assert.is_true(ffi.istype(text:find("U") and "uint64_t" or "int64_t", v), text)
        assert.equal(ll(text), v)
      end
      assert.equal(2 ^ 53, json.decode("9007199254740992", opts)) -- a double holds it: a number
      assert.equal(2 ^ 64, json.decode("18446744073709551616", opts)) -- past 64 bits: the float
      assert.equal(-(2 ^ 63), json.decode("-9223372036854775809", opts))
    end)

    it("refuses unknown values and options", function()
      invalid(json.decode, "1", { big_integers = "exact" })
      invalid(json.decode, "1", { big_integers = true })
      invalid(json.decode, "1", { big_ints = "string" })
      invalid(json.decode, "1", "string")
    end)
  end)

  describe("json.encode of LuaJIT cdata", function()
    lv.it_with(lv.luajit, "LuaJIT's ffi", "writes int64_t and uint64_t exactly", function()
      local ffi = require "ffi"
      local cases = { { "0", "0" }, { "-1", "-1" }, { "9007199254740993", "9007199254740993" },
        { "9223372036854775807", "9223372036854775807" }, { "-9223372036854775808", "-9223372036854775808" },
        { "18446744073709551615ULL", "18446744073709551615" } }
      for _, case in ipairs(cases) do
        assert.equal(case[2], json.encode(ll(case[1])))
      end
      assert.equal("[7,8]", json.encode({ ffi.new("const int64_t", 7), ffi.new("volatile uint64_t", 8) }))
      -- both ways: decoded cdata encode back to the same text
      local text = '{"a":[9223372036854775807,-9223372036854775808,18446744073709551615,9007199254740993]}'
      assert.equal(text, json.encode(json.decode(text, { big_integers = "cdata" })))
    end)

    lv.it_with(lv.luajit, "LuaJIT's ffi", "refuses every other cdata, whatever its tostring says", function()
      local ffi = require "ffi"
      ffi.cdef("typedef struct { int x; } cbf_spec_fake_int64;")
      local fake = ffi.metatype("cbf_spec_fake_int64", { __tostring = function() return "5LL" end })
      assert.equal("5LL", tostring(fake(1)))
      for _, v in ipairs({ ffi.new("int32_t", 1), ffi.new("double", 1), ffi.new("int64_t[1]"),
                           ffi.cast("void *", 0), fake(1), ffi.new("complex", 1, 2) }) do
        local ok, err = pcall(json.encode, { v })
        assert.is_false(ok)
        assert.equal("ENCODE_ERROR", err.code)
        assert.equal("cannot encode a cdata at value[1]", err.message)
      end
    end)
  end)

  describe("the client option big_integers", function()
    local gw = gateway.for_describe()

    it("is refused when unknown, or cdata without LuaJIT", function()
      invalid(functions.new, { base_url = "http://127.0.0.1:1", big_integers = "exact" })
      if not lv.luajit then
        invalid(functions.new, { base_url = "http://127.0.0.1:1", big_integers = "cdata" })
      end
    end)

    it("decodes results with the client's choice", function()
      local body = '{"id":' .. FIRST .. ',"n":' .. LAST .. '}'
      local response = { status = 200, headers = { ["content-type"] = "application/json" }, body = body }
      local plain, exact = gw:new(), gw:new({ big_integers = "string" })
      assert.same({ id = tonumber(FIRST), n = tonumber(LAST) }, (plain:process(response)))
      assert.same({ id = FIRST, n = tonumber(LAST) }, (exact:process(response)))
      -- and through the gateway, on what echo returns
      local r = exact:invoke("echo", { n = tonumber(LAST), s = FIRST })
      assert.same({ n = tonumber(LAST), s = FIRST }, r)
      plain:close()
      exact:close()
    end)

    lv.it_with(lv.luajit, "LuaJIT's ffi", "sends and receives int64_t ids exactly through echo", function()
      local c = gw:new({ big_integers = "cdata" })
      local ids = { ll("9007199254740993"), ll("-9223372036854775808"), ll("18446744073709551615ULL") }
      local r = c:invoke("echo", { ids = ids, small = 5 })
      assert.equal(5, r.small)
      for i = 1, #ids do assert.equal(ids[i], r.ids[i]) end
      c:close()
    end)
  end)
end)
