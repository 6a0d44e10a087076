-- The source's shape, kept (issue 7): headers include one another without cycles; the
-- transport seam (src/transport.h) carries no libcurl; the call engine (invoke.c) calls
-- libcurl only through transport_curl.h; curl idioms stay in the curl transport; the
-- client's lifetime is client.c's alone.
local source = require "spec.support.source"
local read = source.read

local files = source.files

local function includes(path)
  local list = {}
  for name in read(path):gmatch('#include "([%w_]+%.h)"') do
    list[#list + 1] = name
  end
  return list
end

describe("source structure", function()
  it("has no include cycle among the headers", function()
    local graph = {}
    for _, path in ipairs(files("src/*.h")) do
      graph[path:match("[^/]+$")] = includes(path)
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

  it("keeps libcurl out of the transport seam and of the call engine", function()
    local seam = read("src/transport.h")
    assert.is_nil(seam:find("#include <curl", 1, true))
    assert.is_nil(seam:find("CURL"))
    for _, name in ipairs({ "invoke.c", "request.c", "response.c", "transport_lua.c", "lua_methods.c" }) do
      local text = read("src/" .. name)
      assert.is_nil(text:find("curl_%w"), name .. " calls libcurl")
      assert.is_nil(text:find("CURL[EM]?_"), name .. " uses a libcurl constant")
    end
  end)

  it("leaves curl idioms to the curl transport", function()
    for _, path in ipairs(files("src/*.c")) do
      if not path:find("transport_curl", 1, true) then
        assert.is_nil(read(path):find('"Expect:"', 1, true), path .. " spells curl's Expect: idiom")
      end
    end
  end)

  it("counts calls and closes when idle in client.c only", function()
    for _, path in ipairs(files("src/*.c")) do
      local text = read(path)
      if not path:find("client.c", 1, true) then
        assert.is_nil(text:find("calls[+-][+-]") or text:find("[+-][+-]%s*c%->calls") or
                      text:find("cbf_client_release%("), path .. " manages the client's lifetime")
      end
    end
    local client = read("src/client.c")
    assert.is_nil(client:find('#include "invoke.h"', 1, true))
    assert.is_nil(client:find('#include "lua_methods.h"', 1, true))
  end)
end)
