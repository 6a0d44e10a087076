-- The source's shape, kept (issue 7): headers include one another without cycles, and
-- the sans-I/O files (request and response building, the Lua transport) call no libcurl.
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

  it("keeps libcurl out of the sans-I/O files", function()
    for _, name in ipairs({ "request.c", "response.c", "transport_lua.c", "lua_methods.c" }) do
      local text = read("src/" .. name)
      assert.is_nil(text:find("curl_%w"), name .. " calls libcurl")
      assert.is_nil(text:find("CURL[EM]?_"), name .. " uses a libcurl constant")
    end
  end)
end)
