-- The invocation log: exact counts, in-flight high-water marks, entries, file.
local gateway = require "spec.support.gateway"

describe("gateway invocation log", function()
  local gw = gateway.for_describe({ reset = true })

  it("starts empty after a reset", function()
    local log = gw:invocations()
    assert.same({}, log.counts)
    assert.same({}, log.max_in_flight)
    assert.same({}, log.in_flight)
    assert.same({}, log.entries)
  end)

  it("counts every run, and only runs", function()
    for _ = 1, 3 do
      assert.equals(200, gw:invoke("echo", "{}").status)
    end
    gw:invoke("hello", "{}")
    gw:invoke("echo", "[]")                           -- refused body
    gw:invoke("echo", "{}", { token = "bad-token" })  -- refused credential
    gw:invoke("admin_only", "{}", { token = "test-user-token" }) -- refused by rules
    gw:invoke("throws", "{}")                         -- ran, failed
    local log = gw:invocations()
    assert.same({ echo = 3, hello = 1, throws = 1 }, log.counts)
    assert.same({ echo = 0, hello = 0, throws = 0 }, log.in_flight)
    assert.equals(5, #log.entries)
  end)

  it("records function, version, request id, times and status per run", function()
    local res = gw:invoke("versioned", "{}", { headers = { "X-Qualifier: 2" } })
    local entry = gw:invocations().entries[1]
    assert.equals("versioned", entry["function"])
    assert.equals("2", entry.version)
    assert.equals(res.headers["x-request-id"], entry.request_id)
    assert.equals("ok", entry.status)
    assert.equals(200, entry.http_status)
    assert.is_number(entry.started)
    assert.is_true(entry.finished >= entry.started)
  end)

  it("tracks the high-water mark of concurrent runs per function", function()
    -- 6 parallel sleeps of 300 ms in one curl process.
    local out = gateway.run("curl -sS --parallel --parallel-immediate --parallel-max 6 "
      .. "-H 'Authorization: Bearer test-api-key' -d '{\"ms\":300}' -o /dev/null "
      .. "-w '%{http_code}\\n' " .. gateway.quote(gw.url .. "/v1/functions/sleep?n=[1-6]")
      .. " 2>/dev/null")
    local ok = select(2, out:gsub("200", ""))
    assert.equals(6, ok)
    gw:invoke("sleep", '{"ms":1}')
    local log = gw:invocations()
    assert.equals(7, log.counts.sleep)
    assert.equals(6, log.max_in_flight.sleep)
    assert.equals(0, log.in_flight.sleep)
  end)

  it("DELETE resets the counts", function()
    gw:invoke("hello", "{}")
    assert.equals(1, gw:invocations().counts.hello)
    gw:reset()
    assert.is_nil(gw:invocations().counts.hello)
  end)

  it("appends one JSON line per run to <run dir>/invocations.log", function()
    local path = gw.run_dir .. "/invocations.log"
    local before = select(2, (gateway.read_file(path) or ""):gsub("\n", ""))
    local res = gw:invoke("hello", "{}")
    gw:invoke("hello", "[]")
    local text = gateway.read_file(path)
    local lines = {}
    for line in text:gmatch("[^\n]+") do
      lines[#lines + 1] = line
    end
    assert.equals(before + 1, #lines)
    local last = gateway.decode(lines[#lines])
    assert.equals("hello", last["function"])
    assert.equals(res.headers["x-request-id"], last.request_id)
  end)
end)
