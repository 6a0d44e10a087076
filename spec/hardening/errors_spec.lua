-- The module's local error codes live in one table (src/error_codes.h); the README's
-- error table must list exactly those, one row each.
local lv = require "spec.support.lua_version"
local source = require "spec.support.source"
local read = source.read

describe("local error codes", function()
  it("are the README's error table, one row per code", function()
    local header, readme = read("src/error_codes.h"), read("README.md")
    local in_source, in_readme = {}, {}
    for name in header:gmatch("X%(([A-Z_]+),") do
      in_source[#in_source + 1] = name
    end
    local section = readme:match("\n## Errors\n(.-)\n## ")
    assert.is_string(section)
    for name in section:gmatch("\n| `([A-Z_]+)` |") do
      in_readme[#in_readme + 1] = name
    end
    table.sort(in_source)
    table.sort(in_readme)
    assert.is_true(#in_source >= 13)
    assert.same(in_source, in_readme)
  end)

  it("are the only literal codes in the C sources", function()
    local header = read("src/error_codes.h")
    local files = "client invoke request response transport_curl transport_lua json_lua call loop"
      .. " auth hooks retry request_id lua_methods"
    for file in files:gmatch("%S+") do
      local text = read("src/" .. file .. ".c")
      for code in header:gmatch("X%(([A-Z_]+),") do
        assert.is_nil(text:find('"' .. code .. '"', 1, true), file .. ".c spells " .. code)
      end
    end
  end)

  it("leave only luaopen_cloudbase_functions exported", function()
    local nm = io.popen("nm -D --defined-only " .. (os.getenv("MODULE_BUILD") or "build/" .. lv.id)
      .. "/cloudbase/functions.so 2>/dev/null")
    local out = nm:read("*a")
    nm:close()
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
