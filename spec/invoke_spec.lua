-- client:invoke's results: the decoded value and `info` (status, request id, headers,
-- timings), end to end against the local gateway (gateway/test/config.json).
local functions = require "cloudbase.functions"
local gateway = require "spec.support.gateway"

local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

local function lower_keys_only(t)
  for k in pairs(t) do
    if type(k) ~= "string" or k ~= k:lower() then
      return false
    end
  end
  return true
end

describe("cloudbase.functions", function()
  local gw = gateway.for_describe({ client = "once" })

  describe("results", function()
    it("decodes JSON and fills info", function()
      local r, info = gw.client:invoke("inspect", { k = "v" })
      assert.same({ k = "v" }, r.event)
      assert.equals(200, info.status)
      assert.matches(UUID, info.request_id)
      assert.equals(r.request_id, info.request_id) -- what the function saw
      assert.equals(info.headers["x-request-id"], info.request_id)
      assert.equals("application/json; charset=utf-8", info.content_type)
      assert.is_true(lower_keys_only(info.headers))
      assert.equals("nginx", info.headers.server)
      assert.is_number(info.elapsed)
      assert.is_true(info.elapsed > 0)
      for _, k in ipairs({ "dns", "connect", "tls", "first_byte", "total" }) do
        assert.is_number(info.timings[k], k)
        assert.is_true(info.timings[k] >= 0, k)
      end
      assert.is_true(info.timings.total >= info.timings.first_byte)
      assert.equals(info.timings.total, info.elapsed)
    end)

    it("builds info.headers and info.timings once, on first read, even after a GC", function()
      local _, info = gw.client:invoke("web", nil,
        { webfn = true, method = "GET", query = { header = "X-Extra: a  b " } })
      assert.is_nil(rawget(info, "headers")) -- not built yet
      collectgarbage()
      collectgarbage()
      local headers = info.headers
      assert.equals("a  b", headers["x-extra"]) -- value trimmed, inner spaces kept
      assert.equals(info.request_id, headers["x-request-id"])
      assert.equals(headers, info.headers) -- the same table every time
      assert.equals(headers, rawget(info, "headers"))
      assert.is_true(info.timings.total > 0)
      assert.equals(info.timings, info.timings)
      assert.is_nil(info.no_such_field)
    end)

    it("returns text/plain bodies as strings", function()
      local r, info = gw.client:invoke("hello")
      assert.equals("Hello fn", r)
      assert.equals("text/plain; charset=utf-8", info.content_type)
    end)

    it("decodes a JSON null to functions.null", function()
      local r, info = gw.client:invoke("nil_result")
      assert.equals(functions.null, r)
      assert.equals(200, info.status)
    end)

    it("returns nil with info for an empty body", function()
      local r, info = gw.client:invoke("fault_empty")
      assert.is_nil(r)
      assert.equals(200, info.status)
      assert.matches(UUID, info.request_id)
      assert.equals("application/json", info.content_type)
    end)

    local by_type = {
      { "application/problem+json", '{"x":1}', { x = 1 } },
      { "Application/JSON; charset=utf-8", '[1,"a"]', { 1, "a" } },
      { "text/plain", '{"x":1}', '{"x":1}' },
      { "application/octet-stream", "\0\1\2", "\0\1\2" },
      { "text/html", "<p>hi</p>", "<p>hi</p>" },
    }
    for _, case in ipairs(by_type) do
      it("handles a 200 " .. case[1] .. " body", function()
        local r, info = gw.client:invoke("fault_status",
          { status = 200, content_type = case[1], body = case[2] })
        assert.same(case[3], r)
        assert.equals(case[1], info.content_type)
      end)
    end

    it("decodes gzip transparently", function()
      local r, info = gw.client:invoke("fault_gzip", { items = 2000 })
      assert.equals(2000, #r.items)
      assert.same({ id = 2000, name = "item", tags = { "a", "b", "c" } }, r.items[2000])
      assert.equals("gzip", info.headers["content-encoding"])
    end)

    it("reuses the connection for sequential calls", function()
      local c = gw:new()
      local _, first = c:invoke("echo", {})
      local _, second = c:invoke("echo", {})
      local _, third = c:invoke("hello")
      assert.is_true(first.timings.connect > 0)
      assert.equals(0, second.timings.connect)
      assert.equals(0, third.timings.connect)
      c:close()
    end)
  end)

end)
