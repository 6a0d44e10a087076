-- The codec never yields a value it cannot write back (no inf from "1e400"); deep
-- documents use frames owned by Lua. (The allocator: capped_host_spec.lua.)
local functions = require "cloudbase.functions"
local json = functions.json

describe("JSON numbers out of double range", function()
  it("decode to DECODE_ERROR, never to inf", function()
    for _, text in ipairs { "1e400", "-1e400", "[1e400]", '{"a":2e308}', "123456789e305",
      "1" .. string.rep("0", 400) .. ".5", "-1" .. string.rep("0", 400) } do
      local ok, err = pcall(json.decode, text)
      assert.is_false(ok, text)
      assert.equal("DECODE_ERROR", err.code, text)
      assert.matches("range", err.message)
    end
  end)

  it("the largest finite ones, and underflow to zero, still decode", function()
    assert.equal(1.7976931348623157e308, json.decode("1.7976931348623157e308"))
    assert.equal(0, json.decode("1e-400"))
    assert.equal("1e+308", json.encode(json.decode("1e308")))
  end)

  it("a response body holding one fails the call with INVALID_RESPONSE", function()
    local client = functions.new { base_url = "http://127.0.0.1:1", transport = function()
      return { status = 200, headers = { ["content-type"] = "application/json" }, body = '{"n":1e999}' }
    end }
    local result, err = client:try_invoke("fn", {})
    assert.is_nil(result)
    assert.equal("INVALID_RESPONSE", err.code)
    client:close()
  end)
end)

describe("the encoder's frames past the inline ones", function()
  it("a deep document encodes and decodes at the nesting limit, again and again", function()
    local text = string.rep("[", 1000) .. string.rep("]", 1000)
    for _ = 1, 3 do
      assert.equal(text, json.encode(json.decode(text)))
    end
    local deep = {}
    for _ = 1, 1001 do
      deep = { deep }
    end
    local ok, err = pcall(json.encode, deep)
    assert.is_false(ok)
    assert.equal("ENCODE_ERROR", err.code)
    assert.equal("[[]]", json.encode(json.decode("[[]]")))
  end)
end)
