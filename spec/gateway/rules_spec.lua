-- Security rules: enforced for user identities, never for API keys.
local gateway = require "spec.support.gateway"

describe("gateway security rules", function()
  local gw = gateway.for_describe({ reset = true })

  -- expected[function][credential] = true (runs) | false (EXCEED_AUTHORITY)
  local expected = {
    admin_only = { ["test-api-key"] = true, ["test-user-token"] = false,
                   ["test-anon-token"] = false, ["test-publishable-key"] = false },
    members_only = { ["test-api-key"] = true, ["test-user-token"] = true,
                     ["test-anon-token"] = false, ["test-publishable-key"] = false },
    public = { ["test-api-key"] = true, ["test-user-token"] = true,
               ["test-anon-token"] = true, ["test-publishable-key"] = true },
    -- "*": auth != null (anonymous users included)
    hello = { ["test-api-key"] = true, ["test-user-token"] = true,
              ["test-anon-token"] = true, ["test-publishable-key"] = true },
  }

  for fn, cases in pairs(expected) do
    for token, allowed in pairs(cases) do
      it(string.format("%s %s %s", token, allowed and "may invoke" or "may not invoke", fn),
        function()
          local res = gw:invoke(fn, "{}", { token = token })
          if allowed then
            assert.equals(200, res.status, res.body)
            assert.equals(1, gw:invocations().counts[fn])
          else
            assert.equals(403, res.status)
            assert.equals("EXCEED_AUTHORITY", res.json.code)
            assert.equals(res.headers["x-request-id"], res.json.requestId)
            assert.is_nil(gw:invocations().counts[fn])
          end
        end)
    end
  end

  it("public still needs a credential", function()
    local res = gw:invoke("public", "{}", { token = false })
    assert.equals(401, res.status)
    assert.equals("MISSING_CREDENTIALS", res.json.code)
  end)

  it("answers { ok = true } from the rule-guarded functions", function()
    local res = gw:invoke("members_only", "{}", { token = "test-user-token" })
    assert.same({ ok = true }, res.json)
  end)
end)
