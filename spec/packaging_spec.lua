-- The rockspec builds the module offline with luarocks, from every C source there is,
-- for the interpreter running the suite (make test runs it on each one).
local gateway = require "spec.support.gateway"
local lv = require "spec.support.lua_version"

local function run(cmd)
  return gateway.run(cmd .. " 2>&1")
end

local ROCKSPEC = "rockspec/lua-cloudbase-functions-0.1.0-1.rockspec"

describe("packaging", function()
  it("lists every src/*.c file in the rockspec", function()
    local spec = {}
    local chunk = assert(loadfile(ROCKSPEC, "t", spec))
    if setfenv then setfenv(chunk, spec) end -- 5.1 and LuaJIT: loadfile takes no env
    chunk()
    local listed = {}
    for _, f in ipairs(spec.build.modules["cloudbase.functions"].sources) do listed[f] = true end
    local out = run("ls src/*.c")
    local present = {}
    for f in out:gmatch("[^\n]+") do present[f] = true end
    assert.same(present, listed)
  end)

  it("builds and installs with luarocks make into a local tree, and loads from there on "
    .. lv.name, function()
    -- LuaRocks knows Lua versions only: LuaJIT is its 5.1, with LuaJIT's headers and
    -- interpreter (rockspec/luarocks-config-luajit.lua says which).
    local version, vars, env = lv.version, "", ""
    if lv.luajit then
      local cflags, ok = run("pkg-config --cflags-only-I luajit")
      assert.is_true(ok, cflags)
      vars = " LUA_INCDIR=" .. gateway.quote(assert(cflags:match("%-I(%S+)")))
      env = "LUAROCKS_CONFIG=" .. gateway.quote(gateway.root .. "/rockspec/luarocks-config-luajit.lua") .. " "
    end
    -- what only an exact build for this interpreter prints: 2^53 + 1 as an integer (5.3+),
    -- as int64_t cdata (LuaJIT, so the ffi bridge is in), as big_integers text (5.1, 5.2)
    local check = lv.integers and "f.json.encode({ n = 9007199254740993 })"
      or lv.luajit and "f.json.encode({ n = 9007199254740993LL })"
      or "f.json.decode('9007199254740993', { big_integers = 'string' })"
    local expected = lv.integers and '{"n":9007199254740993}'
      or lv.luajit and '{"n":9007199254740993}'
      or "9007199254740993"
    local tree = os.tmpname()
    os.remove(tree)
    -- a copy of the checkout, so that luarocks' build products stay out of the work tree
    local src = os.tmpname()
    os.remove(src)
    local out, ok = run(("mkdir -p %s && cp -r src lua rockspec bin %s/"):format(src, src))
    assert.is_true(ok, out)
    out, ok = run(("cd %s && %sluarocks --lua-version %s --tree %s make --deps-mode=none %s%s")
      :format(src, env, version, tree, ROCKSPEC, vars))
    assert.is_true(ok, out)
    local script = src .. "/check.lua"
    gateway.write_file(script,
      ("package.cpath = %q .. package.cpath\n"):format(tree .. "/lib/lua/" .. version .. "/?.so;"),
      "local f = require 'cloudbase.functions' print(f.version, ", check, ")\n")
    out, ok = run(lv.command .. " " .. gateway.quote(script))
    -- install.bin: the command, run through luarocks' wrapper with the tree's paths
    local cli, cli_ok = run(("cd / && eval \"$(%sluarocks --lua-version %s --tree %s path)\" && "
      .. "%s/bin/cloudbase-fn --version"):format(env, version, tree, tree))
    run(("rm -rf %s %s"):format(tree, src))
    assert.is_true(ok, out)
    assert.equals("0.1.0\t" .. expected .. "\n", out)
    assert.is_true(cli_ok, cli)
    assert.equals("cloudbase-fn 0.1.0 (cloudbase.functions 0.1.0, " .. lv.name .. ")\n", cli)
  end)
end)
