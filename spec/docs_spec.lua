-- The README against the code: every option (of functions.new, of a call, of
-- invoke_all), client method, functions.* field and local error code that the C sources
-- define must have its README row or heading, and the other way round. Options and error
-- codes are read from their tables in the source (src/options.h, src/error_codes.h), so
-- nothing private is exported for this; methods and functions.* fields from the loaded
-- module itself.
local functions = require "cloudbase.functions"
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
for _, name in ipairs({ "options.h", "error_codes.h" }) do
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

describe("the README against the code", function()
  describe("options", function()
    -- The entries X(name, ...) of the table macro NAME in src/options.h: name, and the
    -- entry's text (its other columns).
    local function entries(name)
      local body = macro(SRC["options.h"], name)
      local starts, list = {}, {}
      for pos in body:gmatch("()%f[%w]X%(") do
        starts[#starts + 1] = pos
      end
      for i, pos in ipairs(starts) do
        local text = body:sub(pos, (starts[i + 1] or #body + 1) - 1)
        list[#list + 1] = { name = text:match("^X%(([%w_]+),"), text = text }
      end
      return list
    end

    -- The names of the call options taken where `scope` says (CBF_IN_<scope>).
    local function call_options(scope)
      local names = {}
      for _, entry in ipairs(entries("CBF_CALL_OPTIONS")) do
        if entry.text:match("CBF_IN_([%u_]+)") == scope then
          names[entry.name] = true
        end
      end
      return names
    end

    it("of functions.new are the README's table, with their environment variables", function()
      local code, code_envs = {}, {}
      for _, entry in ipairs(entries("CBF_CLIENT_OPTIONS")) do
        code[entry.name] = true
        local env = entry.text:match('"(CLOUDBASE_[%u_]+)"')
        if env then
          code_envs[env] = true
        end
      end
      local docs = section("### `functions.new(")
      same_names(code, table_names(docs), "functions.new options")
      -- The environment variables in the table's env column are the README's.
      local doc_envs = {}
      for name in docs:gmatch("%$(CLOUDBASE_[A-Z_]+)") do
        doc_envs[name] = true
      end
      same_names(code_envs, doc_envs, "environment variables of functions.new")
    end)

    it("of a call are the table under client:invoke", function()
      same_names(call_options("CALL"), table_names(section("### `client:invoke(")), "call options")
    end)

    it("of invoke_all are the table under client:invoke_all", function()
      same_names(call_options("BATCH"), table_names(section("### `client:invoke_all(")), "invoke_all options")
    end)

    it("of an invoke_all call and of start are named in their sections", function()
      local function named(scope, heading)
        local text = section(heading)
        local names = call_options(scope)
        assert.is_true(next(names) ~= nil, "no " .. scope .. " options found in the code")
        for name in pairs(names) do
          assert.is_truthy(text:find("`" .. name .. "`", 1, true) or text:find(name .. " =", 1, true),
                           name .. " is not in the README under " .. heading)
        end
      end
      named("CALL_TABLE", "### `client:invoke_all(")
      named("START", "### `client:start(")
    end)
  end)

  it("client methods are the README's client:NAME headings", function()
    local client = functions.new({ base_url = "http://127.0.0.1:9", token = "t" })
    local code = {}
    for name in pairs(getmetatable(client).__index) do
      code[name] = true
    end
    client:close()
    local docs = {}
    -- A heading may name several: "### Event loops: `client:watch()`, `client:timeout()`".
    for heading in README:gmatch("\n### ([^\n]+)") do
      for name in heading:gmatch("`client:([%w_]+)%(") do
        docs[name] = true
      end
    end
    same_names(code, docs, "client methods")
  end)

  it("functions.* fields are the README's functions.NAME headings and rows", function()
    local code = {}
    for name in pairs(functions) do
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
