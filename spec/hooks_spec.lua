-- Hooks: on_request before each attempt, on_response once per call, with method, URL,
-- name, request id, status, code, attempts and timings, never a header or the
-- credential; a raising hook never breaks a call. Against the local gateway.
local gateway = require "spec.support.gateway"
local functions = require "cloudbase.functions"

local API_KEY = gateway.API_KEY

-- Every string reachable from v, joined: to prove the credential is nowhere in it.
local function flatten(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do
      flatten(k, out, seen)
      flatten(x, out, seen)
    end
  elseif type(v) == "string" then
    out[#out + 1] = v
  end
  return table.concat(out, "\n")
end


describe("hooks", function()
  local gw = gateway.for_describe({ reset = true })

  local function recording(opts)
    local events = {}
    return gw:new({
      on_request = function(s) events[#events + 1] = s end,
      on_response = function(s) events[#events + 1] = s end,
    }, opts), events
  end

  it("summarise a successful invoke without any header or the credential", function()
    local client, events = recording()
    local _, info = client:invoke("echo", { a = 1 })
    assert.equals(2, #events)
    local req, resp = events[1], events[2]
    assert.same({ event = "request", method = "POST", url = gw.url .. "/v1/functions/echo",
                  name = "echo", request_id = info.request_id, attempt = 1 }, req)
    assert.equals("response", resp.event)
    assert.is_true(resp.ok)
    assert.equals(200, resp.status)
    assert.equals(1, resp.attempts)
    assert.equals(info.request_id, resp.request_id)
    assert.equals("echo", resp.name)
    assert.is_number(resp.elapsed)
    assert.is_number(resp.timings.total)
    assert.is_nil(resp.code)
    for _, s in ipairs(events) do
      assert.is_nil(s.headers)
      local text = flatten(s)
      assert.is_nil(text:find(API_KEY, 1, true))
      assert.is_nil(text:lower():find("authorization", 1, true))
    end
    client:close()
  end)

  it("report gateway errors and errors without a response", function()
    local client, events = recording()
    local _, err = client:try_invoke("no_such_function", {})
    assert.equals(2, #events)
    assert.is_false(events[2].ok)
    assert.equals(err.code, events[2].code)
    assert.equals(404, events[2].status)
    assert.equals(err.request_id, events[2].request_id)
    client:close()

    local down, down_events = recording({ base_url = gateway.closed_url() })
    local _, derr = down:try_invoke("echo", {})
    assert.equals("NETWORK_ERROR", derr.code)
    assert.equals("NETWORK_ERROR", down_events[2].code)
    assert.is_nil(down_events[2].status)
    assert.equals(derr.request_id, down_events[2].request_id)
    assert.equals(1, down_events[2].attempts)
    down:close()
  end)

  it("run nothing for a call refused before a request exists", function()
    local client, events = recording()
    assert.is_nil((client:try_invoke("bad name!", {})))
    assert.equals(0, #events)
    client:close()
  end)

  it("see every call of invoke_all and of started calls", function()
    local client, events = recording()
    local calls = {}
    for i = 1, 20 do calls[i] = { "echo", { i = i } } end
    local list = client:invoke_all(calls, { concurrency = 4 })
    local requests, responses = {}, {}
    for _, s in ipairs(events) do
      if s.event == "request" then requests[s.request_id] = true
      else responses[s.request_id] = s end
    end
    for _, outcome in ipairs(list) do
      local id = outcome.info.request_id
      assert.is_true(requests[id])
      assert.is_true(responses[id].ok)
    end
    assert.equals(40, #events)

    local n = #events
    local call = client:start("echo", { started = true })
    assert.equals("request", events[n + 1].event)
    while not call:done() do client:poll(0.05) end
    assert.equals("response", events[n + 2].event)
    assert.equals(call:result() and select(2, call:result()).request_id, events[n + 2].request_id)
    client:close()
  end)

  it("see calls through a Lua transport, started calls included", function()
    local client, events = recording({ transport = function(request)
      if request.url:find("/down", 1, true) then return nil, "NETWORK_ERROR", "unplugged" end
      return { status = 200, headers = { ["content-type"] = "application/json" }, body = "{}" }
    end })
    local _, info = client:invoke("echo", {})
    assert.equals(1, info.attempts)
    assert.same({ "request", "response" }, { events[1].event, events[2].event })
    assert.equals(info.request_id, events[1].request_id)
    assert.equals(info.request_id, events[2].request_id)
    assert.is_true(events[2].ok)
    local list = client:invoke_all({ { "echo", {} }, { name = "web", webfn = true, path = "/down" } })
    assert.is_true(list[1].ok)
    assert.equals("NETWORK_ERROR", list[2].error.code)
    assert.equals(6, #events)
    assert.equals("NETWORK_ERROR", events[6].code)
    assert.equals(list[2].error.request_id, events[6].request_id)
    local call = client:start("echo", {})
    while not call:done() do client:poll(0.01) end
    assert.equals(8, #events)
    client:close()
  end)

  it("that raise leave the calls alone", function()
    local client = functions.new({
      base_url = gw.url, token = API_KEY,
      on_request = function() error("request hook broke") end,
      on_response = function() error({ "not a string" }) end,
    })
    for _ = 1, 3 do
      assert.equals(3, client:invoke("echo", { v = 3 }).v)
    end
    local list = client:invoke_all({ { "echo", {} }, { "echo", {} } })
    assert.is_true(list[1].ok and list[2].ok)
    client:close()
  end)

  it("that raise are reported once per client on stderr", function()
    local out = gateway.lua_code(string.format([[
      local functions = require "cloudbase.functions"
      local client = functions.new({ base_url = %q, token = %q,
        on_response = function() error("hook-broke-here") end })
      for _ = 1, 5 do client:invoke("echo", {}) end
      print("calls ok")
    ]], gw.url, API_KEY))
    assert.truthy(out:find("calls ok", 1, true))
    local _, reports = out:gsub("hook%-broke%-here", "")
    assert.equals(1, reports)
  end)

  it("must be functions", function()
    local ok, err = pcall(functions.new, { base_url = gw.url, on_request = "log" })
    assert.is_false(ok)
    assert.equals("INVALID_ARGUMENT", err.code)
    assert.truthy(err.message:find("on_request", 1, true))
  end)
end)
