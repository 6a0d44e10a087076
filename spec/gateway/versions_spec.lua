-- Versions: X-Qualifier, the deterministic canary split, FUNCTION_QUALIFIER_NOT_FOUND.
local gateway = require "spec.support.gateway"

describe("gateway versions", function()
  local gw = gateway.for_describe({ reset = true })

  local function call(qualifier)
    local headers = { "Content-Type: application/json" }
    if qualifier then
      headers[#headers + 1] = "X-Qualifier: " .. qualifier
    end
    return gw:invoke("versioned", "{}", { headers = headers })
  end

  for _, v in ipairs({ "1", "2", "$LATEST" }) do
    it("X-Qualifier: " .. v .. " runs that version and tells the function", function()
      for _ = 1, 3 do
        local res = call(v)
        assert.equals(200, res.status)
        assert.same({ version = v }, res.json)
      end
      local log = gw:invocations()
      assert.equals(3, log.counts.versioned)
      for _, entry in ipairs(log.entries) do
        assert.equals(v, entry.version)
      end
    end)
  end

  it("answers FUNCTION_QUALIFIER_NOT_FOUND for an unknown version", function()
    local res = call("3")
    assert.equals(404, res.status)
    assert.equals("FUNCTION_QUALIFIER_NOT_FOUND", res.json.code)
    assert.equals(res.headers["x-request-id"], res.json.requestId)
    assert.is_nil(gw:invocations().counts.versioned)
  end)

  it("a function without versions has only $LATEST", function()
    local res = gw:invoke("inspect", "{}", { headers = { "X-Qualifier: 1" } })
    assert.equals("FUNCTION_QUALIFIER_NOT_FOUND", res.json.code)
    res = gw:invoke("inspect", "{}", { headers = { "X-Qualifier: $LATEST" } })
    assert.equals("$LATEST", res.json.version)
    res = gw:invoke("inspect", "{}")
    assert.equals("$LATEST", res.json.version)
  end)

  -- Weights 1: 75, 2: 25, seed 42: every block of 100 calls after a reset
  -- splits exactly 75/25, in the same order each time.
  local function split(n)
    local counts, order = {}, {}
    local results = gw:invoke_many("versioned", "{}", n)
    assert.equals(n, #results)
    for i, res in ipairs(results) do
      assert.equals(200, res.status)
      local version = gateway.decode(res.body).version
      counts[version] = (counts[version] or 0) + 1
      order[i] = version
    end
    return counts, table.concat(order, ",")
  end

  it("splits unqualified calls exactly by the canary weights, deterministically", function()
    local counts, order = split(100)
    assert.same({ ["1"] = 75, ["2"] = 25 }, counts)
    -- Both versions come up early, not in two long runs.
    assert.matches("^[12,]+$", order)
    assert.is_truthy(order:sub(1, 20):find("2", 1, true))
    assert.is_truthy(order:sub(1, 20):find("1", 1, true))
    local log = gw:invocations()
    assert.equals(100, log.counts.versioned)

    gw:reset()
    local counts2, order2 = split(100)
    assert.same(counts, counts2)
    assert.equals(order, order2)
  end)
end)
