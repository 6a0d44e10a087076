-- One measurement per process, driven by bench/report.lua:
--   lua5.4 bench/worker.lua MODE key=value...
-- Prints key=value lines; "error=..." when the measurement could not be made.
package.path = "./bench/?.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath -- make's default build

local lib = require "lib"
local emit, now = lib.emit, lib.now

local mode = arg[1]
local opt = require("common").options(arg, 2)
local function num(k, default)
  local v = tonumber(opt[k])
  if v == nil then v = default end
  return assert(v, "missing " .. k)
end

local function module()
  local ok, m = pcall(require, "cloudbase.functions")
  if not ok then
    emit("error", "module not built: " .. tostring(m):gsub("\n.*", ""))
    os.exit(0)
  end
  return m
end

local function new_client(functions)
  return functions.new {
    base_url = assert(opt.url, "missing url"),
    token = opt.token or "test-api-key",
    http2 = (opt.http2 ~= nil and opt.http2 ~= "") and opt.http2 or nil,
  }
end

local modes = {}

-- Write the payload as the module encodes it (lua-cjson when the module is
-- absent); curl and wrk send these bytes.
function modes.payload()
  local p = lib.payload()
  local ok, functions = pcall(require, "cloudbase.functions")
  local text, by
  if ok and functions.json then
    text, by = functions.json.encode(p), "module"
  else
    text, by = require("cjson").encode(p), "lua-cjson"
  end
  local f = assert(io.open(assert(opt.file), "wb"))
  f:write(text)
  f:close()
  emit("bytes", #text)
  emit("cjson_bytes", #require("cjson").encode(p))
  emit("encoded_by", by)
end

-- Sequential client:invoke until `seconds` have passed (at most `max` calls).
function modes.seq_module()
  local functions = module()
  local client = new_client(functions)
  local p = lib.payload()
  local first = client:invoke("echo", p)
  if not lib.equal(first, p) then
    emit("error", "echo did not return the payload")
    return
  end
  for _ = 1, 200 do client:invoke("echo", p) end -- warm-up
  local seconds, max = num("seconds"), num("max")
  local n, t0 = 0, now()
  while n < max do
    client:invoke("echo", p)
    n = n + 1
    if n % 16 == 0 and now() - t0 >= seconds then break end
  end
  local dt = now() - t0
  client:close()
  emit("calls", n)
  emit("seconds", dt)
  emit("rate", n / dt)
end

-- What users write today: luasocket's http.request with ltn12 and lua-cjson.
-- A new TCP connection per call.
function modes.seq_luasocket()
  local http = require "socket.http"
  local ltn12 = require "ltn12"
  local cjson = require "cjson"
  local url = assert(opt.url) .. "/v1/functions/echo"
  local auth = "Bearer " .. (opt.token or "test-api-key")
  local function invoke(payload)
    local body = cjson.encode(payload)
    local chunks = {}
    local ok, code = http.request {
      url = url,
      method = "POST",
      headers = {
        ["content-type"] = "application/json",
        ["content-length"] = tostring(#body),
        ["authorization"] = auth,
      },
      source = ltn12.source.string(body),
      sink = ltn12.sink.table(chunks),
    }
    if not ok or code ~= 200 then error("call failed: " .. tostring(code)) end
    return cjson.decode(table.concat(chunks))
  end
  local p = lib.payload()
  if not lib.equal(invoke(p), p) then
    emit("error", "echo did not return the payload")
    return
  end
  for _ = 1, 50 do invoke(p) end -- warm-up
  local seconds, max = num("seconds"), num("max")
  local n, t0 = 0, now()
  while n < max do
    invoke(p)
    n = n + 1
    if n % 16 == 0 and now() - t0 >= seconds then break end
  end
  local dt = now() - t0
  emit("calls", n)
  emit("seconds", dt)
  emit("rate", n / dt)
end

local function echo_list(count)
  local p = lib.payload()
  local list = {}
  for i = 1, count do list[i] = { "echo", p } end
  return list
end

local count_failures = require("common").count_failures

-- invoke_all batches of `batch` echo calls at `concurrency`, until `seconds`.
function modes.all_module()
  local functions = module()
  local client = new_client(functions)
  if type(client.invoke_all) ~= "function" then
    emit("error", "invoke_all is not implemented")
    return
  end
  local conc, batch, seconds = num("concurrency"), num("batch"), num("seconds")
  local list = echo_list(batch)
  local opts = { concurrency = conc }
  local failed, why = count_failures(client:invoke_all(list, opts), batch) -- warm-up
  if failed > 0 then
    emit("error", failed .. " calls failed in warm-up: " .. why)
    return
  end
  local n, t0, batches = 0, now(), 0
  repeat
    local results = client:invoke_all(list, opts)
    failed, why = count_failures(results, batch)
    if failed > 0 then
      emit("error", failed .. " calls failed: " .. why)
      return
    end
    n, batches = n + batch, batches + 1
  until now() - t0 >= seconds or batches >= 200
  local dt = now() - t0
  client:close()
  emit("calls", n)
  emit("seconds", dt)
  emit("rate", n / dt)
end

-- Wall time of `count` calls to sleep(ms) at `concurrency`: first with a new
-- client (connections opened inside the timed call), then again on it.
function modes.sleep_module()
  local functions = module()
  local count, conc, ms, rounds = num("count"), num("concurrency"), num("ms"), num("rounds", 3)
  local list = {}
  for i = 1, count do list[i] = { name = "sleep", payload = { ms = ms } } end
  local best_cold, best_warm = math.huge, math.huge
  for _ = 1, rounds do
    local client = new_client(functions)
    if type(client.invoke_all) ~= "function" then
      emit("error", "invoke_all is not implemented")
      return
    end
    for pass = 1, 2 do
      local t0 = now()
      local results = client:invoke_all(list, { concurrency = conc })
      local dt = now() - t0
      local failed, why = count_failures(results, count)
      if failed > 0 then
        emit("error", failed .. " sleep calls failed: " .. why)
        return
      end
      if pass == 1 then
        best_cold = math.min(best_cold, dt)
      else
        best_warm = math.min(best_warm, dt)
      end
    end
    client:close()
  end
  emit("cold_seconds", best_cold)
  emit("warm_seconds", best_warm)
end

-- RSS after n1 and after n2 calls on one client; `how` is "seq" (client:invoke)
-- or "all" (invoke_all batches of 1000 at concurrency 16).
function modes.rss_module()
  local functions = module()
  local client = new_client(functions)
  local n1, n2, how = num("n1"), num("n2"), opt.how or "seq"
  local p = lib.payload()
  local done = 0
  local run
  if how == "seq" then
    run = function(upto)
      while done < upto do
        client:invoke("echo", p)
        done = done + 1
      end
    end
  else
    if type(client.invoke_all) ~= "function" then
      emit("error", "invoke_all is not implemented")
      return
    end
    local list = echo_list(1000)
    run = function(upto)
      while done < upto do
        local failed, why = count_failures(client:invoke_all(list, { concurrency = 16 }), 1000)
        if failed > 0 then error(failed .. " calls failed: " .. why) end
        done = done + 1000
        -- Each batch leaves ~1 MB of result tables; without a full GC here the
        -- heap's high-water mark between two cycles (Lua's pacing, glibc not
        -- handing pages back) would be measured instead of the module.
        collectgarbage("collect")
      end
    end
  end
  local t0 = now()
  run(n1)
  collectgarbage("collect")
  collectgarbage("collect")
  emit("rss_kb_1", lib.rss_kb())
  emit("lua_kb_1", collectgarbage("count"))
  run(n2)
  collectgarbage("collect")
  collectgarbage("collect")
  emit("rss_kb_2", lib.rss_kb())
  emit("lua_kb_2", collectgarbage("count"))
  emit("calls", done)
  emit("seconds", now() - t0)
  client:close()
end

-- Codec throughput: the module's functions.json against lua-cjson on the same
-- documents. MB/s counts the bytes of one canonical text per document (the
-- module's encoding), so the ratio of two figures is the ratio of their times.
function modes.codec()
  -- Without the module, lua-cjson is still measured (on its own encoding).
  local ok, functions = pcall(require, "cloudbase.functions")
  local json = ok and functions.json or nil
  if not json then
    emit("error", ok and "functions.json is missing" or "module not built")
  end
  local cjson = require "cjson"
  local repeats, min_seconds = num("repeats", 5), num("min_seconds", 0.15)
  local cpu = lib.cpu

  -- Integer-exactness on values lua-cjson cannot hold.
  if json then
    local big = { math.maxinteger, math.mininteger, 9007199254740993, -9007199254740993,
      1000000000000001, 0.1, 1e300, -2.5e-300, 2.0 }
    local ok_big, back = pcall(json.decode, json.encode(big))
    emit("exact_bigints", ok_big and lib.equal(back, big, true) and "yes" or "no")
  end

  local function passes(fn, items)
    return function()
      for i = 1, #items do fn(items[i]) end
    end
  end
  -- Best time of one pass of each function given (interleaved repeats).
  local function best_time(...)
    local fns = { ... }
    collectgarbage("collect")
    local t = cpu()
    fns[1]()
    local one = math.max(cpu() - t, 1e-6)
    local iters = math.max(1, math.ceil(min_seconds / one))
    local best = {}
    for _ = 1, repeats do
      for w, pass in ipairs(fns) do
        collectgarbage("collect")
        local t0 = cpu()
        for _ = 1, iters do pass() end
        best[w] = math.min(best[w] or math.huge, (cpu() - t0) / iters)
      end
    end
    return table.unpack(best)
  end
  -- Ours first when there is one, then lua-cjson.
  local function measure(name, op, items)
    local bytes = 0
    for i = 1, #items do bytes = bytes + #items[i] end
    local mb
    if op == "encode" then
      bytes = 0
      for i = 1, #items do bytes = bytes + #(json or cjson).encode(items[i]) end
    end
    mb = bytes / 1e6
    if json then
      local ours, theirs = best_time(passes(json[op], items), passes(cjson[op], items))
      emit(name .. "_" .. op .. "_ours", mb / ours)
      emit(name .. "_" .. op .. "_cjson", mb / theirs)
    else
      emit(name .. "_" .. op .. "_cjson", mb / best_time(passes(cjson[op], items)))
    end
    return bytes
  end

  local all_exact = true
  for _, doc in ipairs(lib.documents()) do
    local items, texts = doc.items, {}
    local exact = true
    for i, item in ipairs(items) do
      texts[i] = (json or cjson).encode(item)
      if json and not lib.equal(json.decode(texts[i]), item, true) then exact = false end
      if not lib.equal(cjson.decode(texts[i]), item) then
        emit("error", doc.key .. ": lua-cjson does not read the text back")
      end
    end
    all_exact = all_exact and exact
    emit(doc.key .. "_bytes", measure(doc.key, "encode", items))
    measure(doc.key, "decode", texts)
    if json then emit(doc.key .. "_exact", exact and "yes" or "no") end

    if doc.key == "unicode" then
      local escaped = { lib.escape_non_ascii(texts[1]) }
      if not ((not json or lib.equal(json.decode(escaped[1]), items[1], true))
          and lib.equal(cjson.decode(escaped[1]), items[1])) then
        emit("error", "\\u-escaped unicode text does not decode to the document")
      end
      emit("uescaped_bytes", measure("uescaped", "decode", escaped))
    end
  end
  if json then emit("exact_docs", all_exact and "yes" or "no") end

  -- Noise floor: lua-cjson against itself, measured exactly like a pair above.
  local small = lib.documents()[1].items
  local bytes = 0
  for i = 1, #small do bytes = bytes + #cjson.encode(small[i]) end
  local a, b = best_time(passes(cjson.encode, small), passes(cjson.encode, small))
  emit("noise_a", bytes / 1e6 / a)
  emit("noise_b", bytes / 1e6 / b)
end

require("common").dispatch(modes, mode, "usage: lua5.4 bench/worker.lua MODE key=value...")
