-- Rate limits: requests per second and concurrent invocations, per function
-- and per environment; 429 with Retry-After, and the function never runs.
local gateway = require "spec.support.gateway"
local socket = require "socket"

local LIMITED = "limited-env.api.tcloudbasegateway.com"

describe("gateway rate limits", function()
  local gw = gateway.for_describe({ reset = true })

  local function assert_limited(res, code, retry_after)
    assert.equals(429, res.status, res.body)
    assert.equals(code, res.json.code)
    assert.is_string(res.json.message)
    assert.equals(res.headers["x-request-id"], res.json.requestId)
    assert.equals(retry_after, res.headers["retry-after"])
  end

  -- Start `n` calls of a slow function in the background; returns a function
  -- that waits for them and gives their output.
  local function in_background(name, ms, n, opts)
    local out = os.tmpname()
    local headers = "-H " .. gateway.quote("Authorization: Bearer " .. (opts.token or "test-api-key"))
    if opts.host then
      headers = headers .. " -H " .. gateway.quote("Host: " .. opts.host)
    end
    local cmd = {}
    for _ = 1, n do
      cmd[#cmd + 1] = string.format("curl -s -w '\\n' %s -d '{\"ms\":%d}' %s/v1/functions/%s &",
        headers, ms, gw.url, name)
    end
    gateway.run("(" .. table.concat(cmd, " ") .. " wait) >" .. gateway.quote(out) .. " 2>&1 &")
    return function()
      local deadline = socket.gettime() + 10
      while socket.gettime() < deadline do
        local text = gateway.read_file(out) or ""
        local _, lines = text:gsub("\n", "")
        if lines >= n then
          os.remove(out)
          return text
        end
        socket.sleep(0.05)
      end
      error("background calls did not finish")
    end
  end

  local function wait_in_flight(name, n)
    local deadline = socket.gettime() + 5
    while socket.gettime() < deadline do
      if (gw:invocations().in_flight[name] or 0) >= n then
        return
      end
      socket.sleep(0.02)
    end
    error(name .. " never had " .. n .. " calls in flight")
  end

  describe("per function", function()
    it("refuses calls over the rate with EXCEED_RATELIMIT, 429 and Retry-After", function()
      assert.equals(200, gw:invoke("limited_rps", "{}").status)
      assert.equals(200, gw:invoke("limited_rps", "{}").status)
      local res = gw:invoke("limited_rps", "{}")
      assert_limited(res, "EXCEED_RATELIMIT", "1")
      assert.matches("limited_rps %(1 requests per second%)", res.json.message)
      local log = gw:invocations()
      assert.equals(2, log.counts.limited_rps)
      assert.equals(1, log.limited.limited_rps)
      for _, entry in ipairs(log.entries) do
        assert.not_equals(res.json.requestId, entry.request_id)
      end
    end)

    it("gives a token back every 1/rps seconds", function()
      gw:invoke("limited_rps", "{}")
      gw:invoke("limited_rps", "{}")
      assert.equals(429, gw:invoke("limited_rps", "{}").status)
      socket.sleep(1.05)
      assert.equals(200, gw:invoke("limited_rps", "{}").status)
      assert.equals(429, gw:invoke("limited_rps", "{}").status)
    end)

    it("a retried call after Retry-After runs exactly once", function()
      gw:invoke("limited_rps", "{}")
      gw:invoke("limited_rps", "{}")
      gw:reset() -- refills the bucket too: start the log from here
      gw:invoke("limited_rps", "{}")
      gw:invoke("limited_rps", "{}")
      local id = "retry-me-1"
      local first = gw:invoke("limited_rps", "{}", { headers = { "X-Request-Id: " .. id } })
      assert_limited(first, "EXCEED_RATELIMIT", "1")
      socket.sleep(tonumber(first.headers["retry-after"]))
      local second = gw:invoke("limited_rps", "{}", { headers = { "X-Request-Id: " .. id } })
      assert.equals(200, second.status)
      local runs = 0
      for _, entry in ipairs(gw:invocations().entries) do
        if entry.request_id == id then
          runs = runs + 1
        end
      end
      assert.equals(1, runs)
    end)

    it("refuses a call over the concurrency limit with EXCEED_CONCURRENT_REQUEST_LIMIT", function()
      local finish = in_background("limited_concurrency", 600, 1, {})
      wait_in_flight("limited_concurrency", 1)
      local res = gw:invoke("limited_concurrency", '{"ms":1}')
      assert_limited(res, "EXCEED_CONCURRENT_REQUEST_LIMIT", "1")
      assert.matches('"slept":600', finish())
      assert.equals(200, gw:invoke("limited_concurrency", '{"ms":1}').status)
      local log = gw:invocations()
      assert.equals(2, log.counts.limited_concurrency)
      assert.equals(1, log.max_in_flight.limited_concurrency)
      assert.equals(1, log.limited.limited_concurrency)
    end)

    it("gives the slot back when the function ends, even if the client gave up", function()
      local res = gw:invoke("limited_concurrency", '{"ms":400}', { timeout = 0.1 })
      assert.equals(28, res.exit_code)
      socket.sleep(0.5)
      assert.equals(200, gw:invoke("limited_concurrency", '{"ms":1}').status)
    end)

    it("does not limit other functions", function()
      for _ = 1, 5 do
        assert.equals(200, gw:invoke("hello", "{}").status)
      end
    end)
  end)

  describe("per environment", function()
    local opts = { host = LIMITED, token = "limited-api-key" }

    it("allows a burst, then EXCEED_RATELIMIT with the configured Retry-After", function()
      for _ = 1, 4 do
        assert.equals(200, gw:invoke("echo", "{}", opts).status)
      end
      local res = gw:invoke("sleep", '{"ms":1}', opts)
      assert_limited(res, "EXCEED_RATELIMIT", "2")
      assert.matches("env limited%-env", res.json.message)
      assert.is_nil(gw:invocations().counts.sleep)
    end)

    it("counts concurrent invocations across the env's functions", function()
      local finish = in_background("sleep", 600, 2, opts)
      wait_in_flight("sleep", 2)
      local res = gw:invoke("echo", "{}", opts)
      assert_limited(res, "EXCEED_CONCURRENT_REQUEST_LIMIT", "2")
      finish()
      assert.equals(200, gw:invoke("echo", "{}", opts).status)
      local log = gw:invocations()
      assert.equals(1, log.counts.echo)
      assert.equals(2, log.counts.sleep)
      assert.equals(1, log.limited.echo)
    end)

    it("leaves other environments alone", function()
      for _ = 1, 6 do
        assert.equals(200, gw:invoke("echo", "{}").status)
      end
    end)
  end)

  -- Config mistakes in the new settings stop nginx from starting, with the reason.
  local broken = {
    { fn = '"limits":{"concurrency":0}', why = "limits.concurrency must be a positive integer" },
    { fn = '"limits":{"rps":-1}', why = "limits.rps must be a positive number" },
    { fn = '"limits":{"burst":3}', why = "limits.burst needs limits.rps" },
    { fn = '"limits":{"rate":3}', why = 'unknown key "rate"' },
    { top = '"cors":{"allow_origins":["http://localhost:5173/app"]},',
      why = "is not an origin" },
    { top = '"cors":{"allow_origins":["*"],"max_age":-1},',
      why = "cors.max_age must be a non-negative integer" },
  }
  for _, case in ipairs(broken) do
    it("refuses " .. (case.fn or case.top) .. " when nginx starts", function()
      local dir = gateway.tmpdir()
      gateway.write_file(dir .. "/echo.lua", "return function(event) return event end\n")
      gateway.write_file(dir .. "/config.json", "{" .. (case.top or "") .. '"envs":{"e":{"api_keys":["k"],'
        .. '"functions":{"echo":{"file":"echo.lua"' .. (case.fn and "," .. case.fn or "")
        .. "}}}}}")
      local ok, err = pcall(gateway.start, { config = dir .. "/config.json" })
      gateway.run("rm -rf " .. gateway.quote(dir))
      assert.is_false(ok)
      assert.matches(case.why, err, 1, true)
    end)
  end
end)
