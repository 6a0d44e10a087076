-- bin/cloudbase-gateway: start, status, stop, failure handling.
local gateway = require "spec.support.gateway"

local script = gateway.quote(gateway.script)

local function sh(cmd)
  return gateway.run(cmd)
end

local function alive(pid)
  local _, ok = sh("kill -0 " .. pid .. " 2>/dev/null")
  return ok
end

local process_group_alive = gateway.group_alive

describe("bin/cloudbase-gateway", function()
  it("starts on a free port, reports key=value lines, answers, and stops", function()
    local run_dir = os.tmpname()
    os.remove(run_dir)
    local out, ok = sh(script .. " start --port auto --tls-port 0 --h2c-port 0 --config "
      .. gateway.quote(gateway.root .. "/gateway/test/config.json")
      .. " --run-dir " .. gateway.quote(run_dir) .. " 2>/dev/null")
    assert.is_true(ok)
    local kv = {}
    for k, v in out:gmatch("([%w_]+)=([^\n]*)") do
      kv[k] = v
    end
    assert.matches("^http://127%.0%.0%.1:%d+$", kv.url)
    assert.equals(kv.url, "http://127.0.0.1:" .. kv.port)
    assert.equals(kv.tls_url, "https://127.0.0.1:" .. kv.tls_port)
    assert.equals(kv.h2c_url, "http://127.0.0.1:" .. kv.h2c_port)
    assert.equals(run_dir, kv.run_dir)
    assert.equals(run_dir .. "/ca.pem", kv.ca_file)
    assert.not_equals(kv.port, kv.tls_port)
    assert.not_equals(kv.port, kv.h2c_port)
    local pid = tonumber(kv.pid)
    assert.is_true(alive(pid))

    -- Its own prefix: config, pid, logs and temp paths all in the run dir.
    local conf = gateway.read_file(run_dir .. "/nginx.conf")
    assert.matches("pid " .. run_dir:gsub("%p", "%%%0") .. "/nginx.pid;", conf)
    assert.matches("client_body_temp_path " .. run_dir:gsub("%p", "%%%0"), conf)
    assert.is_nil(conf:find("/etc/nginx", 1, true))
    assert.equals(tostring(pid), (gateway.read_file(run_dir .. "/nginx.pid"):gsub("%s", "")))

    local res = gateway.curl({ base = kv.url, path = "/_gateway/health" })
    assert.equals(200, res.status)

    local status_out, running = sh(script .. " status --run-dir " .. gateway.quote(run_dir))
    assert.is_true(running)
    assert.matches("^running", status_out)

    local _, stopped = sh(script .. " stop --run-dir " .. gateway.quote(run_dir))
    assert.is_true(stopped)
    assert.is_false(process_group_alive(pid))
    status_out, running = sh(script .. " status --run-dir " .. gateway.quote(run_dir))
    assert.is_false(running)
    assert.matches("^stopped", status_out)

    -- Stopping twice is fine.
    local _, again = sh(script .. " stop --run-dir " .. gateway.quote(run_dir))
    assert.is_true(again)
    sh("rm -rf " .. gateway.quote(run_dir))
  end)

  it("refuses a broken config: message with the error log tail, exit non-zero, nothing running", function()
    local dir = gateway.tmpdir()
    local config = dir .. "/config.json"
    gateway.write_file(config,
      '{"envs": {"e1": {"security_rules": {"echo": {"invoke": true}}, "functions": {}}}}')
    local run_dir = dir .. "/run"
    local out, ok = sh(script .. " start --config " .. gateway.quote(config) .. " --run-dir "
      .. gateway.quote(run_dir) .. " 2>&1")
    assert.is_false(ok)
    assert.matches("mandatory \"%*\" entry", out)
    assert.is_nil(out:match("url="))
    local _, running = sh(script .. " status --run-dir " .. gateway.quote(run_dir))
    assert.is_false(running)
    sh("rm -rf " .. gateway.quote(dir))
  end)

  it("refuses a function file that does not return a function", function()
    local dir = gateway.tmpdir()
    sh("mkdir -p " .. gateway.quote(dir .. "/functions"))
    gateway.write_file(dir .. "/functions/bad.lua", "return 42\n")
    gateway.write_file(dir .. "/config.json", '{"envs": {"e1": {"functions": {"bad": {}}}}}')
    local out, ok = sh(script .. " start --config " .. gateway.quote(dir .. "/config.json")
      .. " 2>&1")
    assert.is_false(ok)
    assert.matches("must return function", out)
    sh("rm -rf " .. gateway.quote(dir))
  end)

  it("fails cleanly with a missing nginx binary", function()
    local out, ok = sh(script .. " start --nginx /nonexistent/nginx 2>&1")
    assert.is_false(ok)
    assert.matches("not found", out)
  end)

  it("honours $NGINX and reports a start failure when the port is taken", function()
    local gw = gateway.start({ config = "gateway/demo/config.json" })
    local out, ok = sh("NGINX=/usr/sbin/nginx " .. script .. " start --port " .. gw.port
      .. " 2>&1")
    gw:stop()
    assert.is_false(ok)
    assert.matches("Address already in use", out)
  end)

  it("the spec helper stops nginx and its workers", function()
    local gw = gateway.start({})
    local pid = gw.pid
    assert.is_true(gw:running())
    gw:stop()
    assert.is_false(process_group_alive(pid))
  end)

  it("serves the demo config by default", function()
    local out, ok = sh(script .. " start 2>/dev/null")
    assert.is_true(ok)
    local url = out:match("url=(%S+)")
    local run_dir = out:match("run_dir=(%S+)")
    local res = gateway.curl({ base = url, path = "/v1/functions/hello", method = "POST",
      body = "{}", headers = { "Authorization: Bearer demo-api-key" } })
    sh(script .. " stop --run-dir " .. gateway.quote(run_dir))
    sh("rm -rf " .. gateway.quote(run_dir))
    assert.equals(200, res.status)
  end)
end)
