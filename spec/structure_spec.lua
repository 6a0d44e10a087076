-- The source's shape, kept (issue 7): headers include one another without cycles; the
-- I/O seam (src/transport.h) keeps libcurl inside the curl transport; the module entry
-- alone assembles the client's method tables; local error codes are spelled only in
-- their table; the built module exports its entry point and nothing else.
local gateway = require "spec.support.gateway"
local lv = require "spec.support.lua_version"
local source = require "spec.support.source"
local read = source.read

local files = source.files

-- The files of the libcurl transport: the only ones that may include curl/curl.h,
-- call curl_* or name libcurl's constants.
local CURL_TRANSPORT = { ["transport_curl.c"] = true, ["loop.c"] = true, ["pool.c"] = true }

-- The headers the sans-I/O core sees: the transport seam and what it is built on.
local CORE_HEADERS = { "client.h", "request.h", "response.h", "transport.h" }

local function base(path)
  return path:match("[^/]+$")
end

local function includes(path)
  local list = {}
  for name in read(path):gmatch('#include "([%w_]+%.h)"') do
    list[#list + 1] = name
  end
  return list
end

-- C source without its comments and the contents of its string and character
-- literals, so that only code is matched ("curl_global_init failed" is a message).
local function code_of(text)
  local out, i, n = {}, 1, #text
  while i <= n do
    local two, c = text:sub(i, i + 1), text:sub(i, i)
    if two == "/*" then
      local stop = text:find("*/", i + 2, true) or n
      i = stop + 2
      out[#out + 1] = " "
    elseif two == "//" then
      i = (text:find("\n", i + 2, true) or n + 1)
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n and text:sub(j, j) ~= c do
        j = j + (text:sub(j, j) == "\\" and 2 or 1)
      end
      out[#out + 1] = c .. c
      i = j + 1
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table.concat(out)
end

local function sources()
  local list = files("src/*.c")
  for _, h in ipairs(files("src/*.h")) do
    list[#list + 1] = h
  end
  return list
end

describe("source structure", function()
  it("has no include cycle among the headers", function()
    local graph = {}
    for _, path in ipairs(files("src/*.h")) do
      graph[base(path)] = includes(path)
    end
    local state = {}
    local function visit(name, trail)
      if state[name] == "done" then
        return
      end
      assert.is_nil(state[name], "include cycle: " .. table.concat(trail, " -> ") .. " -> " .. name)
      state[name] = "open"
      trail[#trail + 1] = name
      for _, dep in ipairs(graph[name] or {}) do
        visit(dep, trail)
      end
      trail[#trail] = nil
      state[name] = "done"
    end
    for name in pairs(graph) do
      visit(name, {})
    end
  end)

  it("keeps curl out of the core's headers and everything they include", function()
    local seen, queue = {}, {}
    for _, name in ipairs(CORE_HEADERS) do
      queue[#queue + 1] = name
    end
    while #queue > 0 do
      local name = table.remove(queue)
      if not seen[name] then
        seen[name] = true
        local text = read("src/" .. name)
        assert.is_nil(text:find("#include%s*<curl/"), name .. " includes libcurl")
        assert.is_nil(code_of(text):find("%f[%w_]CURL"), name .. " names a libcurl type")
        for _, dep in ipairs(includes("src/" .. name)) do
          queue[#queue + 1] = dep
        end
      end
    end
    assert.is_true(seen["transport.h"])
  end)

  it("includes curl/curl.h only in the curl transport's files", function()
    for _, path in ipairs(sources()) do
      if read(path):find("#include%s*<curl/") then
        assert.is_true(CURL_TRANSPORT[base(path)] ~= nil, base(path) .. " includes libcurl")
      end
    end
  end)

  it("calls libcurl only from the curl transport's files", function()
    local callers = {}
    for _, path in ipairs(sources()) do
      local code = code_of(read(path))
      if code:find("%f[%w_]curl_[%w_]+%s*%(") or code:find("%f[%w_]CURL[%u]*_%u") then
        callers[#callers + 1] = base(path)
      end
    end
    table.sort(callers)
    assert.same({ "loop.c", "pool.c", "transport_curl.c" }, callers)
  end)

  it("mentions libcurl's Expect suppression only in the curl transport", function()
    local paths = sources()
    for _, path in ipairs(files("lua/cloudbase/functions/*.lua")) do
      paths[#paths + 1] = path
    end
    local mentions = {}
    for _, path in ipairs(paths) do
      if read(path):find("Expect:", 1, true) then
        mentions[#mentions + 1] = base(path)
      end
    end
    assert.same({ "transport_curl.c" }, mentions)
  end)

  it("assembles the client's method tables in the module entry only", function()
    local assemblers = {}
    for _, path in ipairs(files("src/*.c")) do
      local code = code_of(read(path))
      local registers = code:find("%f[%w_]cbf_[%w_]+_register[%w_]*%(L%)%s*;")
      if registers or code:find("cbf_lua_methods_install%(L%)%s*;") then
        assemblers[#assemblers + 1] = base(path)
      end
    end
    assert.same({ "module.c" }, assemblers)
    assert.is_nil(read("src/client.c"):find('#include "invoke.h"', 1, true), "client.c includes invoke.h")
  end)

  it("spells the local error codes only in their table (src/error_codes.h)", function()
    local codes = {}
    for code in read("src/error_codes.h"):gmatch("X%(([A-Z_]+),") do
      codes[#codes + 1] = code
    end
    assert.is_true(#codes >= 13)
    for _, path in ipairs(sources()) do
      if base(path) ~= "error_codes.h" then
        local text = read(path)
        for _, code in ipairs(codes) do
          assert.is_nil(text:find('"' .. code .. '"', 1, true), base(path) .. " spells " .. code)
        end
      end
    end
  end)

  it("exports luaopen_cloudbase_functions and nothing else", function()
    local out = gateway.run("nm -D --defined-only " .. gateway.quote((os.getenv("MODULE_BUILD")
      or "build/" .. lv.id) .. "/cloudbase/functions.so") .. " 2>/dev/null")
    if out == "" then
      pending("nm is not available")
      return
    end
    local symbols = {}
    for name in out:gmatch("%x+ [TDBRW] (%S+)") do
      symbols[#symbols + 1] = name
    end
    assert.same({ "luaopen_cloudbase_functions" }, symbols)
  end)
end)
