-- The README against the code: every option (of functions.new, of a call, of
-- invoke_all), client method, functions.* field and local error code that the C sources
-- define must have its README row or heading, and the other way round. The code side is
-- read from the registries' source (src/options.h, the luaL_Reg tables module.c
-- assembles, src/error_codes.h), so nothing private is exported for this.
local source = require "spec.support.source"
local read = source.read

local function sorted_keys(set)
  local list = {}
  for k in pairs(set) do
    list[#list + 1] = k
  end
  table.sort(list)
  return list
end

-- Names in `a` and not in `b`, sorted.
local function missing(a, b)
  local out = {}
  for k in pairs(a) do
    if not b[k] then
      out[#out + 1] = k
    end
  end
  table.sort(out)
  return out
end

-- Fails naming what one side has and the other lacks.
local function same_names(code, docs, what)
  assert.is_true(next(code) ~= nil, "no " .. what .. " found in the code")
  assert.same({}, missing(code, docs), what .. " in the code but not in the README")
  assert.same({}, missing(docs, code), what .. " in the README but not in the code")
end

local README = read("README.md")
local SRC = {}
for _, name in ipairs({ "options.h", "error_codes.h", "module.c" }) do
  SRC[name] = read("src/" .. name)
end

-- The body of `#define NAME(X) ...` (its continued lines).
local function macro(text, name)
  local body = text:match("#define " .. name .. "%(X%)(.-[^\\])\n")
  assert.is_string(body, name .. " not found")
  return body
end

-- The README text from the heading line starting with `heading` to the next heading.
local function section(heading)
  local from = README:find("\n" .. heading, 1, true)
  assert.is_number(from, "README has no heading " .. heading)
  local body = README:sub(from + 1)
  local stop = body:find("\n#", 2)
  return stop and body:sub(1, stop) or body
end

-- First-column names of the section's tables: "| `a`, `b` | ..." gives a and b.
local function table_names(text)
  local names = {}
  for cell in text:gmatch("\n| ([^|\n]+) |") do
    for name in cell:gmatch("`([^`]+)`") do
      names[name] = true
    end
  end
  return names
end

-- The names of a `const luaL_Reg NAME[] = {...};` table, wherever in src/ it is defined.
local function reg_names(array)
  for _, file in ipairs(source.files("src/*.c")) do
    local body = read(file):match("const luaL_Reg " .. array .. "%[%] = (%b{})")
    if body then
      local names = {}
      for name in body:gmatch('{"([%w_]+)",') do
        names[name] = true
      end
      return names
    end
  end
  error("no luaL_Reg table " .. array .. " in src/")
end

describe("the README against the code", function()
  describe("options", function()
    local function rows(name)
      local names, envs = {}, {}
      for row in ("\n" .. macro(SRC["options.h"], name)):gmatch("X(%b())") do
        local option = row:match("^%(([%w_]+),")
        names[option] = true
        envs[option] = row:match('"(CLOUDBASE_[A-Z_]+)"%)$')
      end
      return names, envs
    end

    it("of functions.new are the README's table, with their environment variables", function()
      local code, envs = rows("CBF_CLIENT_OPTIONS")
      local docs = section("### `functions.new(")
      same_names(code, table_names(docs), "functions.new options")
      for option in pairs(code) do
        local row = docs:match("\n| [^|\n]*`" .. option .. "`[^|\n]* | ([^|\n]*) |")
        if envs[option] then
          assert.equals("`$" .. envs[option] .. "`", row, option .. "'s default column")
        else
          assert.is_nil(row and row:match("%$CLOUDBASE"), option .. " has no environment variable")
        end
      end
    end)

    it("of a call are the table under client:invoke", function()
      same_names(rows("CBF_CALL_OPTIONS"), table_names(section("### `client:invoke(")), "call options")
    end)

    it("of invoke_all are the table under client:invoke_all", function()
      same_names(rows("CBF_BATCH_OPTIONS"), table_names(section("### `client:invoke_all(")),
                 "invoke_all options")
    end)
  end)

  it("client methods are the README's client:NAME headings", function()
    local code = {}
    local assembly = SRC["module.c"]:match("static void open_client_metatable(.-)\n}")
    assert.is_string(assembly)
    for array in assembly:gmatch("luaL_setfuncs%(L, (cbf_[%w_]+_methods), 0%)") do
      for name in pairs(reg_names(array)) do
        code[name] = true
      end
    end
    local docs = {}
    for name in README:gmatch("\n### `client:([%w_]+)%(") do
      docs[name] = true
    end
    same_names(code, docs, "client methods")
  end)

  it("functions.* fields are the README's functions.NAME headings and rows", function()
    local luaopen = SRC["module.c"]:match("int luaopen_cloudbase_functions%(lua_State %*L%) (%b{})")
    assert.is_string(luaopen)
    local code = reg_names("module_functions")
    for name in luaopen:gmatch('lua_setfield%(L, %-2, "([%w_]+)"%)') do
      code[name] = true
    end
    local docs = {}
    for name in README:gmatch("\n### `functions%.([%w_]+)") do
      docs[name] = true
    end
    for name in pairs(table_names(section("### The rest of the module"))) do
      docs[name:match("^functions%.([%w_]+)") or name] = true
    end
    same_names(code, docs, "functions fields")
  end)

  it("local error codes are the README's error table", function()
    local code = {}
    for name in macro(SRC["error_codes.h"], "CBF_ERROR_CODES"):gmatch("X%(([A-Z_]+),") do
      code[name] = true
    end
    local docs = table_names(section("## Errors"):match("| code | when |.*"))
    same_names(code, docs, "error codes")
    assert.is_true(#sorted_keys(code) >= 13)
  end)
end)
