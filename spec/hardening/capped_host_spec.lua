-- The module's own memory comes from the Lua state's allocator: a host whose allocator
-- counts and caps memory (capped_host.c, built here) sees the buffers, can stop them
-- with its cap (a structured OUT_OF_MEMORY, never a crash), and gets every byte back.
local gateway = require "spec.support.gateway"

local function sh(cmd)
  return gateway.run(cmd .. " 2>&1")
end

local SCRIPT = [=[
package.cpath = MODULE_DIR .. "/?.so;" .. package.cpath
local functions = require "cloudbase.functions"
local function used()
  collectgarbage()
  collectgarbage()
  return host_memory()
end
local MB = 1024 * 1024

-- 1. A 4 MB request buffer kept by the transfer is counted, and given back on close.
local client = functions.new { base_url = "http://127.0.0.1:9" }
local body = string.rep("x", 4 * MB)
local before = used()
assert(client:prepare("fn", body, { webfn = true }))
local kept = used() - before
assert(kept > 4 * MB, "request buffer not seen by the host allocator: " .. kept)
client:close()
assert(used() - before < 64 * 1024, "not given back on close: " .. used() - before)

-- 2. Under a cap, the same call fails with OUT_OF_MEMORY before any I/O, and works
--    again once the cap is lifted (port 9 is closed: a NETWORK_ERROR then).
client = functions.new { base_url = "http://127.0.0.1:9", connect_timeout = 2 }
used()
host_cap(host_memory() + 2 * MB)
local result, err = client:try_invoke("fn", body, { webfn = true })
host_cap(nil)
assert(result == nil and err.code == "OUT_OF_MEMORY", tostring(err))
result, err = client:try_invoke("fn", body, { webfn = true })
assert(result == nil and err.code == "NETWORK_ERROR", tostring(err))
client:close()

-- 3. json.encode under a cap raises; once lifted it encodes again, and nothing stays.
local deep = {}
for _ = 1, 200 do deep = { deep, string.rep("z", 1000) } end
local json = functions.json
local text = json.encode(deep)
before = used()
for _ = 1, 20 do
  host_cap(host_memory() + 4096)
  local ok = pcall(json.encode, deep)
  host_cap(nil)
  assert(not ok, "encode under a 4 KB cap succeeded")
  assert(json.encode(deep) == text)
end
assert(used() - before < 256 * 1024, "encode leaked: " .. used() - before)
print("capped host: ok")
]=]

describe("a host that caps Lua's memory through its allocator", function()
  local build = os.getenv("MODULE_BUILD") or "build/5.4"
  local usable = _VERSION == "Lua 5.4" and build == "build/5.4"
  if not usable then
    pending("needs the plain Lua 5.4 build (this is " .. _VERSION .. ", " .. build .. ")")
    return
  end

  local dir
  lazy_setup(function()
    dir = gateway.tmpdir()
    local out, ok = sh("cc -std=c99 -O1 -Wall -Werror $(pkg-config --cflags lua5.4) "
      .. "spec/hardening/capped_host.c -o " .. dir .. "/capped_host $(pkg-config --libs lua5.4)")
    assert(ok, out)
  end)

  lazy_teardown(function()
    if dir then
      os.execute("rm -rf " .. dir)
    end
  end)

  it("sees the module's buffers, caps them, and gets every byte back", function()
    local script = dir .. "/script.lua"
    gateway.write_file(script, "MODULE_DIR = " .. string.format("%q", "./" .. build) .. "\n", SCRIPT)
    local out, ok = sh(dir .. "/capped_host " .. script)
    assert.is_true(ok, out)
    assert.matches("capped host: ok", out)
  end)
end)
