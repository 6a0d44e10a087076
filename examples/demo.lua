-- A tour of cloudbase.functions against the local gateway (run by `make demo`).
-- The client takes its base URL and credential from CLOUDBASE_BASE_URL and
-- CLOUDBASE_TOKEN, exactly as it would for a real environment (CLOUDBASE_ENV_ID).
local functions = require "cloudbase.functions"
local json = functions.json

-- Runs on every Lua. Where numbers are doubles (5.1, 5.2, LuaJIT) ids past 2^53 come
-- back as LuaJIT int64_t cdata or as their text (big_integers); 5.3+ has integers.
local big_integers = math.type == nil and (rawget(_G, "jit") and "cdata" or "string") or nil
local client = functions.new { timeout = 5, big_integers = big_integers }
print(tostring(client))

local function show(label, value, info)
  local text = value
  if functions.is_error(value) then
    text = tostring(value)
  elseif type(value) == "table" then
    text = json.encode(value)
  end
  print(string.format("%-34s %s", label, tostring(text)))
  if info then
    print(string.format("%-34s status %d, %s, request_id %s", "", info.status,
      tostring(info.content_type), tostring(info.request_id)))
  end
end

-- A string result arrives as a Lua string (text/plain).
show("hello {name = 'Lua'}", client:invoke("hello", { name = "Lua" }))

-- A JSON result arrives as Lua values; integers stay integers.
local sum, info = client:invoke("sum", { numbers = { 1, 2, 3, 4.5 } })
show("sum {1, 2, 3, 4.5}", sum, info)

-- 64-bit ids survive exactly (lua-cjson 2.1.0 would print 9.007199254741e+15).
local profile = client:invoke("profile", { fields = { "id", "name" } })
print(string.format("%-34s id = %s (%s), city = %s", "profile", json.encode(profile.id),
  math.type and math.type(profile.id) or type(profile.id), profile.address.city))

-- Pin a version with a qualifier.
show("greeting, qualifier '1'", client:invoke("greeting", {}, { qualifier = "1" }))

-- A web function: any method, a sub-path and a query.
show("hello_http GET /users/7?name=web", client:invoke("hello_http", nil,
  { webfn = true, method = "GET", path = "/users/7", query = { name = "web" } }))

-- Many calls at once over one connection pool.
local calls = {}
for i = 1, 5 do calls[i] = { "sum", { numbers = { i, i } } } end
local started = os.clock()
local results = client:invoke_all(calls, { concurrency = 5 })
for i, r in ipairs(results) do
  show(("invoke_all[%d]"):format(i), r.ok and r.result or r.error)
end
print(string.format("%-34s %d calls, %.1f ms of CPU", "", #results, (os.clock() - started) * 1000))

-- Failures are structured errors: gateway codes pass through with their request id.
local _, err = client:try_invoke("no_such_function")
show("try_invoke no_such_function", err)
print(string.format("%-34s code=%s status=%s request_id=%s", "", err.code, err.status,
  err.request_id))

-- Bad input is refused before any network I/O.
local ok, bad = pcall(client.invoke, client, "sum", { numbers = { 1, 2 }, f = print })
show("payload with a function", ok and "?" or bad)

-- An anonymous (publishable key) caller is held to the security rules.
local anonymous = functions.new { token = "demo-publishable-key" }
show("profile as anonymous", select(2, anonymous:try_invoke("profile")))
anonymous:close()
client:close()
