-- The rockspec builds the module offline with luarocks, from every C source there is.
local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local ROCKSPEC = "rockspec/lua-cloudbase-functions-0.1.0-1.rockspec"

describe("packaging", function()
  it("lists every src/*.c file in the rockspec", function()
    local spec = {}
    assert(loadfile(ROCKSPEC, "t", spec))()
    local listed = {}
    for _, f in ipairs(spec.build.modules["cloudbase.functions"].sources) do listed[f] = true end
    local out = run("ls src/*.c")
    local present = {}
    for f in out:gmatch("[^\n]+") do present[f] = true end
    assert.same(present, listed)
  end)

  it("builds and installs with luarocks make into a local tree, and loads from there", function()
    local tree = os.tmpname()
    os.remove(tree)
    -- a copy of the checkout, so that luarocks' build products stay out of the work tree
    local src = os.tmpname()
    os.remove(src)
    local out, ok = run(("mkdir -p %s && cp -r src lua rockspec bin %s/"):format(src, src))
    assert.is_true(ok, out)
    out, ok = run(("cd %s && luarocks --lua-version 5.4 --tree %s make --deps-mode=none %s")
      :format(src, tree, ROCKSPEC))
    assert.is_true(ok, out)
    out, ok = run(("lua5.4 -e 'package.cpath = %q .. package.cpath' -e %q"):format(
      tree .. "/lib/lua/5.4/?.so;",
      "local f = require 'cloudbase.functions' print(f.version, f.json.encode({ n = 9007199254740993 }))"))
    -- install.bin: the command, run through luarocks' wrapper with the tree's paths
    local cli, cli_ok = run(("cd / && eval \"$(luarocks --lua-version 5.4 --tree %s path)\" && "
      .. "%s/bin/cloudbase-fn --version"):format(tree, tree))
    run(("rm -rf %s %s"):format(tree, src))
    assert.is_true(ok, out)
    assert.equals('0.1.0\t{"n":9007199254740993}\n', out)
    assert.is_true(cli_ok, cli)
    assert.equals("cloudbase-fn 0.1.0 (cloudbase.functions 0.1.0, Lua 5.4)\n", cli)
  end)
end)
