-- Misusing the client's lifetime from inside its own callbacks: close() by method and a
-- forced GC from a token, transport or codec function during invoke, try_invoke,
-- invoke_all and prepare; options tables whose __index raises; a closed or busy
-- client. Nothing may crash or leak, every call ends with a result or a structured
-- error, and try_invoke / prepare / process return nil, err instead of raising.
-- (`<close>` parses on Lua 5.4 only: lifetime_close_spec.lua.)
local functions = require "cloudbase.functions"
local hostile = require "spec.support.hostile"

local function raising_index()
  return setmetatable({}, { __index = function()
    error("__index raised")
  end })
end

describe("client lifetime", function()
  local server = hostile.for_describe()

  local function closed_now(client)
    local result, err = client:try_invoke("ok", {})
    assert.is_nil(result)
    assert.equal("INVALID_ARGUMENT", err.code)
    assert.matches("closed", err.message)
    local request, perr = client:prepare("ok", {})
    assert.is_nil(request)
    assert.equal("INVALID_ARGUMENT", perr.code)
    local processed, prerr = client:process { status = 200, body = "" }
    assert.is_nil(processed)
    assert.equal("INVALID_ARGUMENT", prerr.code)
    assert.has_error(function() client:invoke("ok", {}) end)
    assert.has_error(function() client:invoke_all { { "ok", {} } } end)
    client:close() -- again: a no-op
  end

  -- Each way a callback can end the client's life, for each kind of callback.
  local endings = {
    ["close()"] = function(client) client:close() end,
    ["a forced GC"] = function() collectgarbage() collectgarbage() end,
  }
  local codec_real = functions.json

  for how, finish in pairs(endings) do
    describe(how .. " from inside", function()
      local closes = how == "close()"

      it("a token function, during invoke and invoke_all", function()
        local client
        client = server:new { token = function() finish(client) return "t" end }
        local result, err = client:try_invoke("ok", {})
        if closes then
          assert.is_nil(result)
          assert.equal("INVALID_ARGUMENT", err.code)
          closed_now(client)
        else
          assert.same({ ok = true }, result)
        end
        client = server:new { token = function() finish(client) return "t" end }
        local list = client:invoke_all({ { "ok", {} }, { "ok", {} }, { "ok", {} } }, { concurrency = 2 })
        assert.equal(3, #list)
        for i = 1, 3 do
          assert.is_true(list[i].ok or list[i].error.code == "INVALID_ARGUMENT")
        end
        if closes then closed_now(client) else client:close() end
      end)

      it("a Lua transport, during invoke, invoke_all and a nested call", function()
        local client
        client = server:new { transport = function()
          finish(client)
          return { status = 200, headers = { ["content-type"] = "application/json" }, body = "{}" }
        end }
        assert.same({}, client:invoke("ok", {}))
        if closes then closed_now(client) end
        client = server:new { transport = function()
          finish(client)
          return { status = 200, headers = { ["content-type"] = "application/json" }, body = "{}" }
        end }
        local list = client:invoke_all { { "ok", {} }, { "ok", {} } }
        assert.is_true(list[1].ok)
        if closes then
          assert.equal("INVALID_ARGUMENT", list[2].error.code)
          closed_now(client)
        end
      end)

      it("a codec's encode and decode, during invoke and invoke_all", function()
        for _, which in ipairs { "encode", "decode" } do
          local client
          local codec = { encode = codec_real.encode, decode = codec_real.decode }
          codec[which] = function(v)
            finish(client)
            return codec_real[which](v)
          end
          client = server:new { json = codec }
          local result, err = client:try_invoke("ok", { a = 1 })
          assert.is_true(result ~= nil or err.code == "INVALID_ARGUMENT")
          client = server:new { json = codec }
          local list = client:invoke_all({ { "ok", {} }, { "ok", {} }, { "ok", {} } }, { concurrency = 3 })
          assert.equal(3, #list)
          if closes then closed_now(client) else client:close() end
        end
      end)

      it("a token function during prepare", function()
        local client
        client = server:new { token = function() finish(client) return "t" end }
        local request, err = client:prepare("ok", {})
        if closes then
          assert.is_nil(request)
          assert.equal("INVALID_ARGUMENT", err.code)
          closed_now(client)
        else
          assert.is_table(request)
          client:close()
        end
      end)
    end)
  end

  it("a closed client's try_invoke, prepare and process return nil, err", function()
    local client = server:new()
    client:close()
    closed_now(client)
  end)

  it("a busy client's try_invoke, prepare and process return nil, err", function()
    local client, inner, nest = nil, {}, true
    client = server:new { token = function()
      if not nest then
        return "t"
      end
      nest = false -- once: inside invoke (not busy) the nested calls would recurse
      inner[#inner + 1] = { client:try_invoke("ok", {}) }
      inner[#inner + 1] = { client:prepare("ok", {}) }
      inner[#inner + 1] = { client:process { status = 200, body = "" } }
      inner[#inner + 1] = { pcall(client.invoke, client, "ok", {}) }
      return "t"
    end }
    local list = client:invoke_all { { "ok", {} } }
    assert.is_true(list[1].ok)
    for i = 1, 3 do
      assert.is_nil(inner[i][1])
      assert.equal("INVALID_ARGUMENT", inner[i][2].code)
      assert.matches("busy", inner[i][2].message)
    end
    assert.is_false(inner[4][1])
    assert.equal("INVALID_ARGUMENT", inner[4][2].code)
    assert.same({ ok = true }, client:invoke("ok", {}))
    client:close()
  end)

  describe("a raising __index", function()
    it("on the client's options is never consulted", function()
      local opts = setmetatable({ base_url = server.url, http2 = false }, { __index = function()
        error("__index raised")
      end })
      local client = functions.new(opts)
      assert.same({ ok = true }, client:invoke("ok", {}))
      client:close()
    end)

    it("on per-call options, invoke_all calls and invoke_all options is never consulted", function()
      local client = server:new()
      local opts = raising_index()
      assert.same({ ok = true }, client:invoke("ok", {}, opts))
      assert.same({ ok = true }, (client:try_invoke("ok", {}, opts)))
      assert.is_table((client:prepare("ok", {}, opts)))
      local call = setmetatable({ "ok", {} }, getmetatable(raising_index()))
      local list = client:invoke_all({ call, call }, raising_index())
      assert.is_true(list[1].ok and list[2].ok)
      local processed = client:process(setmetatable({ status = 200, body = "" },
        getmetatable(raising_index())))
      assert.is_nil(processed)
      client:close()
    end)

    it("on a codec table fails the call and releases its transfer", function()
      local armed = false
      local codec = setmetatable({}, { __index = function(_, k)
        if armed then
          error("codec __index raised")
        end
        return functions.json[k]
      end })
      local client = server:new { json = codec }
      armed = true
      for _ = 1, 5 do
        local result, err = client:try_invoke("ok", { a = 1 })
        assert.is_nil(result)
        assert.equal("ENCODE_ERROR", err.code)
        local list = client:invoke_all { { "ok", { a = 1 } } }
        assert.equal("ENCODE_ERROR", list[1].error.code)
      end
      armed = false
      -- With a transfer left claimed, this spun forever: concurrency 1 uses the first.
      local list = client:invoke_all({ { "ok", { a = 1 } }, { "ok", { a = 1 } } }, { concurrency = 1 })
      assert.is_true(list[1].ok and list[2].ok)
      client:close()
    end)

    it("on a raised error object's __tostring is contained", function()
      local bad = setmetatable({}, { __tostring = function() error("__tostring raised") end })
      local client = server:new { transport = function() error(bad) end }
      local result, err = client:try_invoke("ok", {})
      assert.is_nil(result)
      assert.equal("TRANSPORT_ERROR", err.code)
      client:close()
      client = server:new { token = function() error(bad) end }
      result, err = client:try_invoke("ok", {})
      assert.is_nil(result)
      assert.equal("TOKEN_ERROR", err.code)
      local list = client:invoke_all({ { "ok", {} }, { "ok", {} } }, { concurrency = 1 })
      assert.equal("TOKEN_ERROR", list[2].error.code)
      client:close()
    end)
  end)
end)
