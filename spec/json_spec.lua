-- functions.json: the module's own codec. Exact for Lua 5.4 numbers, strict
-- about UTF-8 and grammar, and checked against Debian's lua-cjson 2.1.0 on the
-- documents where cjson itself is exact. Runs on every Lua: where numbers are
-- doubles (5.1, 5.2, LuaJIT) the number specs assert what is exact there, and
-- integers past 2^53 are in big_integers_spec.lua.
local functions = require "cloudbase.functions"
local gateway = require "spec.support.gateway"
local lv = require "spec.support.lua_version"
local json = functions.json
local cjson = require "cjson"
local u = lv.utf8_char
-- the number subtype of a decoded JSON integer: 5.3+ has integers, before every number is a double
local INTEGER = lv.integers and "integer" or "float"

-- the integer of the text: a Lua integer from 5.3 on, a number within +-2^53 where
-- numbers are doubles (json writes those as integers), else nil (5.1, 5.2) or
-- LuaJIT's int64_t cdata, which json takes both ways
local function integer(text)
  local n = tonumber(text)
  if lv.integers or (string.format("%.0f", n) == text and math.abs(n) <= 2 ^ 53) then return n end
  if lv.luajit then return assert(loadstring("return " .. text .. "LL"))() end
end

local function encode_error(value)
  local ok, err = pcall(json.encode, value)
  assert.is_false(ok, "expected an encode error")
  assert.equal("table", type(err))
  assert.equal("ENCODE_ERROR", err.code)
  return err.message
end

local function decode_error(text)
  local ok, err = pcall(json.decode, text)
  assert.is_false(ok, "expected a decode error for " .. string.format("%q", text))
  assert.equal("table", type(err))
  assert.equal("DECODE_ERROR", err.code)
  return err.message
end

-- Deep equality, metatables ignored; numbers compare with == (so 5 == 5.0), or, when
-- `exact`, must also agree in math.type (where there is one).
local function equal(a, b, exact)
  if type(a) ~= type(b) then return false end
  if exact and type(a) == "number" then return lv.number_type(a) == lv.number_type(b) and a == b end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not equal(v, b[k], exact) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function same(a, b) return equal(a, b, false) end
local function identical(a, b) return equal(a, b, true) end

describe("functions.json", function()
  describe("integers", function()
    local cases = {
      "0", "-1",
      "9007199254740993", -- 2^53 + 1: not a double
      "123456789012345", "9223372036854775807", "-9223372036854775808",
    }
    for _, text in ipairs(cases) do
      local value = integer(text)
      lv.it_with(value ~= nil, "64-bit integers", "round-trips " .. text .. " exactly", function()
        assert.equal(text, json.encode(value))
        if type(value) == "number" then
          local back = json.decode(text)
          assert.equal(INTEGER, lv.number_type(back))
          assert.equal(value, back)
        else -- LuaJIT past 2^53: the int64_t cdata comes back when asked for
          assert.equal(value, json.decode(text, { big_integers = "cdata" }))
        end
      end)
    end

    it("decodes integer-looking numbers to integers and the rest to floats", function()
      assert.equal(INTEGER, lv.number_type(json.decode("1")))
      assert.equal("1", tostring(json.decode("1")))
      assert.equal("float", lv.number_type(json.decode("1.0")))
      assert.equal(lv.integers and "1.0" or "1", tostring(json.decode("1.0")))
      assert.equal("float", lv.number_type(json.decode("1e2")))
      assert.equal(100.0, json.decode("1E2"))
      assert.equal(INTEGER, lv.number_type(json.decode("-0")))
    end)

    it("decodes integers beyond int64 to the nearest float", function()
      local big = json.decode("9223372036854775808")
      assert.equal("float", lv.number_type(big))
      assert.equal(2.0 ^ 63, big)
      assert.equal(-(2.0 ^ 64), json.decode("-18446744073709551616"))
      assert.equal(1e30, json.decode("1000000000000000000000000000000"))
    end)

    lv.it_with(lv.integers or lv.luajit, "64-bit integers", "keeps integers exact inside documents",
      function()
        local text = '{"id": 9007199254740993, "ids": [123456789012345, -9223372036854775808]}'
        local doc = json.decode(text, lv.integers and {} or { big_integers = "cdata" })
        assert.equal(integer("9007199254740993"), doc.id)
        assert.equal(integer("-9223372036854775808"), doc.ids[2])
        assert.equal('[9007199254740993,123456789012345]', json.encode({ doc.id, doc.ids[1] }))
      end)
  end)

  describe("floats", function()
    -- { value, text[, text where numbers are doubles and integral ones are integers] }
    local cases = {
      { 0.1, "0.1" },
      { 1.0, "1.0", "1" },
      { -0.0, "-0.0" },
      { 3.0, "3.0", "3" },
      { 1e300, "1e+300" },
      { 5e-324, "5e-324" },
      { 1 / 3, "0.3333333333333333" },
      { math.pi, "3.141592653589793" },
      { 2.0 ^ 53, "9007199254740992.0", "9007199254740992" },
      { 1e23, "1e+23" },
      { 123.456, "123.456" },
      { -1.5e-7, "-1.5e-07" },
      { 1.7976931348623157e308, "1.7976931348623157e+308" },
      -- where plain Grisu2 gives more digits than needed
      { 97.810257, "97.810257" },
      { 8.30221333000822e-131, "8.30221333000822e-131" },
    }
    for _, case in ipairs(cases) do
      local text = not lv.integers and case[3] or case[2]
      it("writes " .. text .. " and reads it back as the same float", function()
        assert.equal(text, json.encode(case[1]))
        local back = json.decode(text)
        assert.equal("float", lv.number_type(back))
        assert.equal(case[1], back)
        assert.equal(1 / case[1], 1 / back) -- the same sign of zero too
      end)
    end

    it("keeps the sign of -0.0", function()
      assert.equal(-math.huge, 1 / json.decode(json.encode(-0.0)))
      assert.equal(-math.huge, 1 / json.decode("-0.0"))
    end)

    -- Any finite double: random bits (5.3+), or on 5.1, 5.2 and LuaJIT a random sign,
    -- 52-bit fraction and exponent put together by exact arithmetic.
    local function random_double()
      if string.pack then
        local bits = string.pack("<I4I4", math.random(0, 0xffffffff), math.random(0, 0xffffffff))
        return string.unpack("<d", bits)
      end
      local fraction = math.random(0, 2 ^ 26 - 1) * 2 ^ 26 + math.random(0, 2 ^ 26 - 1)
      local exponent = math.random(0, 2046)
      local x = exponent == 0 and fraction * 2 ^ -1074 or (2 ^ 52 + fraction) * 2 ^ (exponent - 1075)
      return math.random(2) == 1 and x or -x
    end

    it("round-trips random doubles with the shortest text", function()
      math.randomseed(20240611)
      for _ = 1, 400 do
        local x
        repeat
          x = random_double()
        until x == x and x ~= math.huge and x ~= -math.huge
        local text = json.encode(x)
        local back = json.decode(text)
        assert.equal("float", lv.number_type(back))
        assert(back == x, text)
        -- the fewest significant digits that read back, found by brute force
        local p = 1
        while tonumber(string.format("%." .. p .. "g", x)) ~= x do p = p + 1 end
        local mantissa = text:gsub("^%-", ""):gsub("[eE].*$", ""):gsub("%.0$", ""):gsub("%.", "")
        local digits = #mantissa:gsub("^0+", ""):gsub("0+$", "")
        assert(digits <= p, text .. " is longer than " .. string.format("%." .. p .. "g", x))
      end
    end)

    it("decodes floats correctly rounded", function()
      assert.equal(0.1, json.decode("0.1"))
      assert.equal(0.3, json.decode("0.3"))
      assert.equal(1.7976931348623157e308, json.decode("1.7976931348623157e308"))
      assert.equal(5e-324, json.decode("4.9406564584124654e-324"))
      assert.equal(2.2250738585072014e-308, json.decode("2.2250738585072014e-308"))
      assert.equal(123456.789e-3, json.decode("123456.789e-3"))
      assert.equal(0.1, json.decode("0.1000000000000000000000000001"))
      assert.equal(1e-7, json.decode("0.0000001"))
    end)

    it("decodes and encodes the same under a comma decimal-point locale", function()
      -- A de_DE locale is compiled into a temporary directory (localedef, package
      -- locales) and a child interpreter runs the checks with LOCPATH pointing there.
      local dir = gateway.tmpdir()
      local out, ok = gateway.run("localedef -i de_DE -f UTF-8 " .. gateway.quote(dir .. "/de_DE.UTF-8")
        .. " 2>&1")
      assert(ok, out)
      out, ok = gateway.lua_code([[
        local json = require("cloudbase.functions").json
        assert(os.setlocale("de_DE.UTF-8", "numeric"), "locale not found")
        assert(os.setlocale(nil, "numeric") == "de_DE.UTF-8", "the locale is not in force")
        -- PUC Lua formats through the C library; LuaJIT's formatter ignores the locale
        assert(jit or string.format("%.1f", 1.5) == "1,5", "the locale is not in force")
        assert(json.decode("1.2345678901234567e-300") == 1.2345678901234567e-300)
        assert(json.decode("0.5") == 0.5 and json.decode("-12.25e1") == -122.5)
        assert(json.decode(json.encode(1.2345678901234567e-300)) == 1.2345678901234567e-300)
        assert(json.encode(1.5e-300) == "1.5e-300" and json.encode(0.1) == "0.1")
        assert(json.encode({ x = 2.5 }) == '{"x":2.5}')
        print("ok")
      ]], {}, { LOCPATH = dir })
      gateway.run("rm -rf " .. gateway.quote(dir))
      assert(ok, out)
      assert.equal("ok\n", out)
    end)

    it("refuses NaN and infinities", function()
      assert.equal("cannot encode NaN at value", encode_error(0 / 0))
      assert.equal("cannot encode inf at value.x", encode_error({ x = math.huge }))
      assert.equal("cannot encode -inf at value[2]", encode_error({ 1, -math.huge }))
    end)
  end)

  describe("strings", function()
    it("writes non-ASCII raw and escapes only what JSON requires", function()
      assert.equal('"é日本😀"', json.encode("é日本😀"))
      assert.equal('"a/b"', json.encode("a/b"))
      assert.equal([["\"\\"]], json.encode('"\\'))
      assert.equal([["\b\f\n\r\t\u0001\u001f\u0000"]], json.encode("\b\f\n\r\t\1\31\0"))
      assert.equal('"\127"', json.encode("\127"))
    end)

    it("decodes escapes, BMP and astral \\u escapes and raw UTF-8", function()
      assert.equal("é", json.decode([["\u00e9"]]))
      assert.equal("€", json.decode([["\u20AC"]]))
      assert.equal("😀", json.decode([["\ud83d\ude00"]]))
      assert.equal("a\0b", json.decode([["a\u0000b"]]))
      assert.equal("\"\\/\b\f\n\r\t", json.decode([["\"\\\/\b\f\n\r\t"]]))
      assert.equal("日本語 😀", json.decode('"日本語 😀"'))
      assert.equal(string.rep("x", 1000) .. "é", json.decode('"' .. string.rep("x", 1000) .. '\\u00e9"'))
    end)

    it("round-trips every code point class", function()
      local points = { 0, 0x1f, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff }
      for _, cp in ipairs(points) do
        local s = "<" .. u(cp) .. ">"
        assert.equal(s, json.decode(json.encode(s)))
      end
    end)

    local invalid = {
      ["a lone continuation byte"] = "\128",
      ["an invalid byte"] = "\255",
      ["an overlong form"] = "\192\175",
      ["an overlong 3-byte form"] = "\224\128\175",
      ["a surrogate encoded in UTF-8"] = "\237\160\128",
      ["a code point past U+10FFFF"] = "\244\144\128\128",
      ["a truncated sequence"] = "\230\151",
    }
    for what, bytes in pairs(invalid) do
      it("rejects " .. what .. " on both sides", function()
        assert.equal("invalid UTF-8 in string at value.s", encode_error({ s = "ok" .. bytes }))
        assert.equal("invalid UTF-8 at byte 4", decode_error('"ok' .. bytes .. '"'))
      end)
    end

    -- The scanners work on 16-byte blocks (a whole-block test and a UTF-8
    -- DFA), with a byte loop for the last few bytes: every case below is put
    -- at each offset across two blocks and the tail, inside and at the end.
    local every_invalid = {
      "\128", "\191", "\254", "\255",                             -- stray bytes
      "\192\128", "\193\191",                                      -- overlong 2-byte
      "\224\128\128", "\224\159\191",                              -- overlong 3-byte
      "\240\128\128\128", "\240\143\191\191",                      -- overlong 4-byte
      "\248\136\128\128\128", "\252\132\128\128\128\128",          -- 5- and 6-byte forms
      "\237\160\128", "\237\191\191",                              -- surrogates
      "\244\144\128\128", "\245\128\128\128", "\247\191\191\191",  -- past U+10FFFF
      "\195", "\230\151", "\240\159\152",                          -- truncated
      "\195\195\169", "\230\065\151", "\240\159\152\065",          -- cut by ASCII
    }

    it("rejects invalid UTF-8 at every offset of a block, both ways", function()
      for _, bytes in ipairs(every_invalid) do
        for n = 0, 40 do
          for _, tail in ipairs({ "", "é", string.rep("z", 17) }) do
            local s = string.rep("x", n) .. bytes .. tail
            assert.equal("invalid UTF-8 in string at value", encode_error(s))
            assert.equal("invalid UTF-8 at byte " .. (n + 2), decode_error('"' .. s .. '"'))
            assert.equal("invalid UTF-8 at byte " .. (n + 3), decode_error('["' .. s .. '"]'))
          end
          -- after an escape, where the decoder copies into its scratch space
          local s = "\n" .. string.rep("x", n) .. bytes
          assert.equal("invalid UTF-8 in string at value", encode_error(s))
          assert.equal("invalid UTF-8 at byte " .. (n + 4),
            decode_error('"\\n' .. string.rep("x", n) .. bytes .. '"'))
          -- at the very end of the input, no closing quote
          assert.equal("invalid UTF-8 at byte " .. (n + 2),
            decode_error('"' .. string.rep("x", n) .. bytes))
        end
      end
    end)

    it("rejects a sequence cut by a byte that needs escaping, at every offset", function()
      for n = 0, 40 do
        local x = string.rep("x", n)
        for _, cut in ipairs({ "\n", '"', "\\", "\0" }) do
          assert.equal("invalid UTF-8 in string at value", encode_error(x .. "\195" .. cut .. "\169"))
          assert.equal("invalid UTF-8 in string at value", encode_error(x .. "\240\159" .. cut .. "\152\128"))
        end
        assert.equal("invalid UTF-8 at byte " .. (n + 2), decode_error('"' .. x .. '\195\\n\169"'))
        assert.equal("invalid UTF-8 at byte " .. (n + 2), decode_error('"' .. x .. '\230\151"'))
        assert.equal("invalid UTF-8 at byte " .. (n + 2), decode_error('"' .. x .. '\230\151\n"'))
      end
    end)

    it("keeps valid sequences that straddle block boundaries, both ways", function()
      local chars = { u(0x80), u(0x7ff), u(0x800), u(0xd7ff), u(0xe000), u(0xffff),
        u(0x10000), "😀", u(0x10ffff) }
      for _, ch in ipairs(chars) do
        for n = 0, 40 do
          for _, tail in ipairs({ "", "y", "\n", string.rep("é", 9) }) do
            local s = string.rep("x", n) .. ch .. tail .. ch
            local text = json.encode(s)
            assert.equal('"' .. s:gsub("\n", "\\n") .. '"', text)
            assert.equal(s, json.decode(text))
            assert.equal(s, json.decode("[" .. text .. "]")[1])
            assert.equal("\t" .. s, json.decode('"\\t' .. text:sub(2)))
          end
        end
      end
    end)

    it("takes 4-byte sequences up to U+10FFFF, raw and as surrogate pairs", function()
      assert.equal('"' .. u(0x10ffff) .. '"', json.encode(u(0x10ffff)))
      assert.equal(u(0x10ffff), json.decode('"' .. u(0x10ffff) .. '"'))
      assert.equal(u(0x10ffff), json.decode([["\udbff\udfff"]]))
      assert.equal(u(0x10000), json.decode([["\ud800\udc00"]]))
      assert.equal(u(0xf0000) .. u(0x10fffd), json.decode('"' .. u(0xf0000) .. u(0x10fffd) .. '"'))
      assert.equal(string.rep("😀𝄞", 20), json.decode('"' .. string.rep("😀𝄞", 20) .. '"'))
      local escaped = string.rep([[\ud83d\ude00\ud834\udd1e]], 20)
      assert.equal(string.rep("😀𝄞", 20), json.decode('"' .. escaped .. '"'))
    end)

    it("decodes \\u escapes of every length at every distance from the end", function()
      local cases = { { [[\u0041]], "A" }, { [[\u00e9]], "é" }, { [[\u07ff]], u(0x7ff) },
        { [[\u0800]], u(0x800) }, { [[\uFFFF]], u(0xffff) }, { [[\ud83d\ude00]], "😀" },
        { [[\u0000]], "\0" } }
      for _, c in ipairs(cases) do
        for n = 0, 20 do
          local pad = string.rep("x", n)
          assert.equal(c[2] .. pad, json.decode('"' .. c[1] .. pad .. '"'))
          assert.equal(pad .. c[2], json.decode('"' .. pad .. c[1] .. '"'))
          assert.equal(pad .. c[2] .. c[2], json.decode('"' .. pad .. c[1] .. c[1] .. '"'))
        end
      end
      for n = 0, 12 do
        local pad = string.rep("x", n)
        assert.equal("lone surrogate at byte " .. (n + 2), decode_error('"' .. pad .. [[\ud83d"]] .. pad))
        local text = '"' .. pad .. [[\ud83d\u0041"]] .. pad
        assert.equal("lone surrogate at byte " .. (n + 2), decode_error(text))
        assert.equal("lone surrogate at byte " .. (n + 2), decode_error('"' .. pad .. [[\ude00"]] .. pad))
        assert.equal("invalid \\u escape at byte " .. (n + 8),
          decode_error('"' .. pad .. [[\ud83d\ude0g"]] .. pad))
        assert.equal("invalid \\u escape at byte " .. (n + 2), decode_error('"' .. pad .. [[\u00g9"]] .. pad))
        assert.equal("invalid escape at byte " .. (n + 2), decode_error('"' .. pad .. [[\a"]] .. pad))
      end
    end)

    it("rejects invalid UTF-8 in keys", function()
      assert.equal("invalid UTF-8 in key at value.t", encode_error({ t = { ["\255"] = 1 } }))
      assert.equal("invalid UTF-8 at byte 3", decode_error('{"\255":1}'))
    end)

    it("rejects lone surrogates and bad \\u escapes", function()
      assert.equal("lone surrogate at byte 2", decode_error([["\ud800"]]))
      assert.equal("lone surrogate at byte 2", decode_error([["\udc00x"]]))
      assert.equal("lone surrogate at byte 3", decode_error([["a\ud83dx"]]))
      assert.equal("lone surrogate at byte 2", decode_error([["\ud83d\u0041"]]))
      assert.equal("invalid \\u escape at byte 2", decode_error([["\u12"]]))
      assert.equal("invalid \\u escape at byte 2", decode_error([["\uzzzz"]]))
      assert.equal("invalid \\u escape at byte 8", decode_error([["\ud83d\u12x4"]]))
      assert.equal("invalid escape at byte 2", decode_error([["\x41"]]))
      assert.equal("unexpected end of input", decode_error([["\u00]]))
    end)

    it("rejects raw control characters in strings", function()
      assert.equal("unexpected character '\\x0a' at byte 3", decode_error('"a\nb"'))
      assert.equal("unexpected character '\\x00' at byte 2", decode_error('"\0"'))
    end)
  end)

  describe("null", function()
    it("is the NULL light userdata shared with cjson", function()
      assert.equal("userdata", type(functions.null))
      assert.equal(functions.null, json.null)
      assert.equal(cjson.null, json.decode("null"))
      assert.equal(functions.null, json.decode("null"))
      assert.equal(functions.null, json.decode('{"a":null}').a)
      assert.equal(functions.null, json.decode("[1,null]")[2])
    end)

    it("encodes from functions.null, cjson.null and nil", function()
      assert.equal("null", json.encode(functions.null))
      assert.equal("null", json.encode(cjson.null))
      assert.equal("null", json.encode(nil))
      assert.equal("[null,1]", json.encode({ functions.null, 1 }))
    end)
  end)

  describe("tables", function()
    it("keeps empty arrays and empty objects apart", function()
      local empty = json.decode("[]")
      assert.equal(json.array_mt, getmetatable(empty))
      assert.equal("[]", json.encode(empty))
      assert.equal("{}", json.encode(json.decode("{}")))
      assert.equal("{}", json.encode({}))
      assert.equal("[]", json.encode(setmetatable({}, json.array_mt)))
      assert.equal('{"a":[]}', json.encode(json.decode('{"a":[]}')))
      assert.equal('[[],{},[[]]]', json.encode(json.decode(' [ [ ] , { } , [ [ ] ] ] ')))
      assert.is_nil(getmetatable(json.decode("[1]")))
    end)

    it("encodes arrays, objects and nested documents", function()
      assert.equal("[1,2,3]", json.encode({ 1, 2, 3 }))
      assert.equal('{"a":{"b":[true,false]}}', json.encode({ a = { b = { true, false } } }))
      assert.equal("[1,2]", json.encode(setmetatable({ 1, 2 }, json.array_mt)))
      local obj = json.decode(json.encode({ x = 1, y = "two", z = { 3 } }))
      assert.is_true(identical({ x = 1, y = "two", z = { 3 } }, obj))
    end)

    it("lets the last duplicate key win", function()
      assert.equal(2, json.decode('{"a":1,"a":2}').a)
      local parts = {}
      for i = 1, 40 do parts[i] = string.format('"k%d":%d', i % 30, i) end
      local obj = json.decode("{" .. table.concat(parts, ",") .. "}")
      assert.equal(31, obj.k1)  -- k1 at 1 and 31: across the 16-item batch
      assert.equal(40, obj.k10) -- k10 at 10 and 40
      assert.equal(29, obj.k29)
      local n = 0
      for _ in pairs(obj) do n = n + 1 end
      assert.equal(30, n)
    end)

    it("decodes containers of every size in order", function()
      for _, size in ipairs({ 1, 15, 16, 17, 33, 1000 }) do
        local items, fields = {}, {}
        for i = 1, size do
          items[i] = tostring(i)
          fields[i] = string.format('"f%d":%d', i, i)
        end
        local arr = json.decode("[" .. table.concat(items, ",") .. "]")
        assert.equal(size, #arr)
        for i = 1, size do assert.equal(i, arr[i]) end
        local obj = json.decode("{" .. table.concat(fields, ",") .. "}")
        for i = 1, size do assert.equal(i, obj["f" .. i]) end
      end
    end)
  end)

  describe("depth", function()
    local function nested(n) return string.rep("[", n) .. string.rep("]", n) end
    local function nested_table(n)
      local t = {}
      local cur = t
      for _ = 2, n do
        cur[1] = {}
        cur = cur[1]
      end
      return t
    end

    it("accepts 1000 levels both ways", function()
      assert.equal(nested(1000), json.encode(json.decode(nested(1000))))
      assert.equal(2000, #json.encode(nested_table(1000)))
    end)

    it("refuses 1001 levels both ways", function()
      assert.equal("nesting deeper than 1000 at byte 1001", decode_error(nested(1001)))
      assert.equal("nesting deeper than 1000 at byte 5001", decode_error(string.rep('{"a":', 1000) .. "[]"))
      assert.equal("nesting deeper than 1000 at byte 5001", decode_error(string.rep('{"a":', 1001)))
      local msg = encode_error(nested_table(1001))
      assert.matches("^nesting deeper than 1000 at value%[1%]%[1%]", msg)
      assert(#msg <= 255, "the message is bounded")
    end)
  end)

  describe("encode errors name the path", function()
    it("for values it cannot encode", function()
      assert.equal("cannot encode a function at value.items[3]", encode_error({ items = { 1, 2, print } }))
      assert.equal("cannot encode a userdata at value", encode_error(io.stdout))
      assert.equal('cannot encode a thread at value["odd key"][1]',
        encode_error({ ["odd key"] = { coroutine.create(function() end) } }))
      assert.equal([[cannot encode a function at value["say \"hi\""]._x1]],
        encode_error({ ['say "hi"'] = { _x1 = print } }))
    end)

    lv.it_with(debug.upvalueid ~= nil, "debug.upvalueid, to make a light userdata in Lua",
      "for a light userdata other than null", function()
        local light = debug.upvalueid(function() return encode_error end, 1)
        assert.equal("userdata", type(light))
        assert.equal("cannot encode a light userdata at value.p", encode_error({ p = light }))
      end)

    it("for cycles", function()
      local t = { a = {} }
      t.a.b = t
      assert.equal("cycle at value.a.b", encode_error(t))
      local s = {}
      s[1] = s
      assert.equal("cycle at value[1]", encode_error(s))
      local root = {}
      local cur = root
      for _ = 1, 20 do
        cur.n = {}
        cur = cur.n
      end
      cur.back = root
      assert.equal("cycle at value.x" .. string.rep(".n", 20) .. ".back", encode_error({ x = root }))
    end)

    it("for tables that are neither arrays nor objects", function()
      assert.equal("mixed keys (integer and string) at value.t", encode_error({ t = { 1, 2, x = 3 } }))
      assert.equal("mixed keys (integer and string) at value", encode_error({ [1] = 1, y = 2 }))
      assert.equal("sparse array at value", encode_error({ 1, 2, nil, 4 }))
      assert.equal("sparse array at value", encode_error({ [2] = "b" }))
      assert.equal("sparse array at value", encode_error({ [0] = "zero", "one" }))
      assert.equal("unsupported key type (boolean) at value", encode_error({ [true] = 1 }))
      assert.equal("unsupported key type (float) at value.f", encode_error({ f = { [1.5] = 1 } }))
      assert.equal("mixed keys (array and string) at value",
        encode_error(setmetatable({ 1, x = 2 }, json.array_mt)))
    end)

    it("and leave the encoder usable", function()
      for _ = 1, 3 do encode_error({ 1, print }) end
      assert.equal('[1,"x"]', json.encode({ 1, "x" }))
    end)
  end)

  describe("decode errors", function()
    local cases = {
      { "", "unexpected end of input" },
      { "   ", "unexpected end of input" },
      { "[1,", "unexpected end of input" },
      { '{"a"', "unexpected end of input" },
      { '"abc', "unexpected end of input" },
      { "nul", "unexpected end of input" },
      { "[1,]", "unexpected character ']' at byte 4" },
      { '{"a":1,}', "unexpected character '}' at byte 8" },
      { "01", "unexpected character '1' at byte 2" },
      { "-x", "unexpected character 'x' at byte 2" },
      { "1.e5", "unexpected character 'e' at byte 3" },
      { "NaN", "unexpected character 'N' at byte 1" },
      { "[1] x", "unexpected character 'x' at byte 5" },
      { "[1 2]", "unexpected character '2' at byte 4" },
      { "{'a':1}", "unexpected character ''' at byte 2" },
      { '{"a" 1}', "unexpected character '1' at byte 6" },
      { "{1:2}", "unexpected character '1' at byte 2" },
      { "// c\n1", "unexpected character '/' at byte 1" },
      { "tru", "unexpected end of input" },
      { "trux", "unexpected character 'x' at byte 4" },
      { "+1", "unexpected character '+' at byte 1" },
      { "\239\187\1911", "unexpected character '\\xef' at byte 1" },
    }
    for _, case in ipairs(cases) do
      it(string.format("%q -> %s", case[1], case[2]), function()
        assert.equal(case[2], decode_error(case[1]))
      end)
    end

    it("allow whitespace around the value", function()
      assert.equal(1, json.decode(" \t\r\n1 \n"))
      assert.is_true(json.decode("\ntrue\t"))
    end)
  end)

  describe("against lua-cjson", function()
    local strings = { "", "a", "hello world", "é", "日本語", "😀 smile", 'quote " and \\ backslash',
      "slash /", "tab\tnew\nline", "ctrl \1\31", "mixé 中文 🎉 text" }

    local function gen(depth)
      local r = math.random(depth >= 4 and 5 or 7)
      if r == 1 then return strings[math.random(#strings)]
      elseif r == 2 then return math.random(2) == 1
      elseif r == 3 then return cjson.null
      elseif r == 4 then -- up to 14 digits, from 32-bit pieces (5.1's math.random takes no more)
        return math.random(-99999999, 99999999) * 1000000 + math.random(0, 999999)
      elseif r == 5 then
        -- at most 14 significant digits: the precision cjson 2.1.0 keeps
        local x = tonumber(string.format("%.14g", (math.random() - 0.5) * 10.0 ^ math.random(-8, 12)))
        return x + 0.0
      elseif r == 6 then
        local t = {}
        for i = 1, math.random(5) do t[i] = gen(depth + 1) end
        return t
      else
        local t = {}
        for _ = 0, math.random(0, 5) do
          t[strings[math.random(#strings)] .. math.random(9)] = gen(depth + 1)
        end
        return t
      end
    end

    it("agrees on a few hundred generated documents", function()
      math.randomseed(12345)
      for _ = 1, 300 do
        local doc = gen(0)
        -- our decode of cjson's text == cjson's decode of it
        local theirs = cjson.encode(doc)
        assert(same(cjson.decode(theirs), json.decode(theirs)), theirs)
        -- cjson's decode of our text == the document
        local ours = json.encode(doc)
        assert(same(doc, cjson.decode(ours)), ours)
        -- and our own round trip keeps integers integers and floats floats
        assert(identical(doc, json.decode(ours)), ours)
      end
    end)

    it("is exact where cjson 2.1.0 is not", function()
      -- 2^53 + 1 where the interpreter has it (5.3+, LuaJIT's int64_t), else 2^53
      local big = integer("9007199254740993")
      assert.equal("9.007199254741e+15", cjson.encode(9007199254740993))
      assert.equal(big and "9007199254740993" or "9007199254740992", json.encode(big or 2 ^ 53))
      assert.equal("float", lv.number_type(cjson.decode("1")))
      assert.equal(INTEGER, lv.number_type(json.decode("1")))
    end)
  end)
end)
