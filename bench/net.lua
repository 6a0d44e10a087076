-- luacheck: max line length 120
-- The network part of `make bench` (issue 12): TLS through bench/latency_proxy at
-- several round-trip times, against its peers, plus CPU per call on loopback.
-- Started by bench/run, which starts the gateway (with its TLS listener) and one
-- proxy per RTT, and passes everything through the environment:
--   BENCH_URL          the gateway's plain http base URL (loopback, for the CPU table)
--   BENCH_TLS_PORT     the gateway's TLS port; BENCH_CA_FILE its throw-away CA
--   BENCH_PROXIES      "RTT_MS:PORT ..." one latency proxy per RTT, all to BENCH_TLS_PORT
--   BENCH_RAW_CURL, BENCH_BODY_FILE, BENCH_TOKEN  as for bench/report.lua
--   BENCH_NET_REPEATS  interleaved rounds (default 3); figures are their medians
--   BENCH_FANOUT       calls per fan-out batch (default 1000)
--   BENCH_OUT          results file (default bench/RESULTS.md): this script rewrites
--                      only its own section of it
--   BENCH_CPU_ONLY=1   only the CPU-per-call table (no proxies needed); printed, and
--                      written to BENCH_OUT only when that is set (make bench BENCH=cpu)
package.path = "./bench/?.lua;" .. package.path

local env = os.getenv
local url = assert(env("BENCH_URL"), "BENCH_URL is not set")
local tls_port = assert(tonumber(env("BENCH_TLS_PORT") or ""), "BENCH_TLS_PORT is not set")
local ca = assert(env("BENCH_CA_FILE"), "BENCH_CA_FILE is not set")
local raw_curl = assert(env("BENCH_RAW_CURL"), "BENCH_RAW_CURL is not set")
local body_file = assert(env("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set")
local token = env("BENCH_TOKEN") or "test-api-key"
local repeats = math.tointeger(tonumber(env("BENCH_NET_REPEATS") or "3")) or 3
local fan_count = math.tointeger(tonumber(env("BENCH_FANOUT") or "1000")) or 1000
local cpu_only = env("BENCH_CPU_ONLY") == "1"
local out_file = env("BENCH_OUT") or (not cpu_only and "bench/RESULTS.md") or nil
local HOST = "test-env.api.tcloudbasegateway.com" -- a name the gateway's certificate carries
local CONCURRENCY = { 16, 64 }
local VERSIONS = { "1.1", "2" }

local proxies = {} -- { rtt = seconds, port = n }
for rtt, port in (env("BENCH_PROXIES") or ""):gmatch("(%d+):(%d+)") do
  proxies[#proxies + 1] = { ms = tonumber(rtt), rtt = tonumber(rtt) / 1000, port = tonumber(port) }
end
assert(cpu_only or #proxies > 0, "BENCH_PROXIES is not set")
if cpu_only then repeats = 0 end

local socket = require "socket"
local clock0 = socket.gettime()
local started = os.time()

local common = require "common"
local q, sh, parse_kv = common.quote, common.sh, common.parse_kv

local function progress(msg)
  io.stderr:write(string.format("[bench net %5.1fs] %s\n", socket.gettime() - clock0, msg))
end

-- Where a contender connects: through a proxy, or straight to the TLS listener or
-- the plain listener on loopback (the CPU table).
local function target(where)
  if where == "http" then return { url = url } end
  local port = where == "tls" and tls_port or where.port
  return { url = string.format("https://%s:%d", HOST, port), resolve = string.format("%s:%d:127.0.0.1", HOST, port),
    ca = ca }
end

-- Contenders. `lua` is the interpreter: Debian 12's lua-http runs on Lua 5.1 only.
local C = {
  module = { name = "this module", lua = "lua5.4" },
  raw = { name = "raw libcurl" },
  luasocket = { name = "luasocket (+ luasec for TLS), a new connection per call", lua = "lua5.4", h1_only = true },
  luasocket_kept = { name = "luasocket (+ luasec for TLS), kept connection, HTTP/1.1 by hand", lua = "lua5.4",
    h1_only = true },
  luahttp = { name = "lua-http, new_from_uri per call", lua = "lua5.1" },
  luahttp_kept = { name = "lua-http, kept connection", lua = "lua5.1" },
}

local function run(who, mode, where, http, args)
  local t = target(where)
  local r
  if who == "raw" then
    local parts = { q(raw_curl), mode == "seq" and "rate" or "fanout", q(t.url .. "/v1/functions/echo"), q(body_file),
      q(token) }
    if mode == "seq" then
      parts[#parts + 1] = args.seconds
      parts[#parts + 1] = args.max
    else
      parts[#parts + 1] = args.count
      parts[#parts + 1] = args.concurrency
    end
    if t.ca then parts[#parts + 1] = "ca=" .. q(t.ca) end
    if t.resolve then parts[#parts + 1] = "resolve=" .. q(t.resolve) end
    parts[#parts + 1] = "http=" .. http
    local text, ok = sh(table.concat(parts, " "))
    r = parse_kv(text)
    if not ok then r.error = "raw_curl failed: " .. text:gsub("\n", " "):sub(1, 200) end
  else
    local parts = { C[who].lua, "bench/net_worker.lua", mode, "who=" .. who, "url=" .. q(t.url), "token=" .. q(token),
      "http=" .. http }
    if t.ca then parts[#parts + 1] = "ca=" .. q(t.ca) end
    if t.resolve then parts[#parts + 1] = "resolve=" .. q(t.resolve) end
    for k, v in pairs(args) do parts[#parts + 1] = k .. "=" .. q(v) end
    local text, ok = sh("timeout 120 " .. table.concat(parts, " "))
    r = parse_kv(text)
    if not ok and not r.error then r.error = "worker failed: " .. text:gsub("\n", " "):sub(1, 200) end
  end
  if r.error then progress(string.format("  %s %s h%s: %s", who, mode, http, r.error)) end
  return r
end

-- Samples: key -> { values..., error = first error, text = last non-numeric value }
local samples = {}
local function add(key, value, err)
  local s = samples[key] or {}
  samples[key] = s
  if err then
    s.error = s.error or err
  elseif type(value) == "number" then
    s[#s + 1] = value
  elseif value ~= nil then
    s.text = value
  end
end
local function median(key)
  local s = samples[key]
  if not s or #s == 0 then return nil end
  local t = {}
  for i, v in ipairs(s) do t[i] = v end
  table.sort(t)
  local n = #t
  if n % 2 == 1 then return t[(n + 1) // 2] end
  return (t[n // 2] + t[n // 2 + 1]) / 2
end
-- The lowest sample: for CPU time per call. Contention on a shared VM (another
-- process on the other hyperthread, cache, steal) only ever adds CPU time, and
-- over the rounds of a busy machine it added up to 3×; the lowest round is the
-- closest to what a call costs. The median is shown next to it.
local function lowest(key)
  local s = samples[key]
  if not s or #s == 0 then return nil end
  local m = s[1]
  for i = 2, #s do m = math.min(m, s[i]) end
  return m
end
local function why(key)
  local s = samples[key]
  return s and (s.error or s.text) or nil
end
local function record(prefix, r, fields)
  for _, f in ipairs(fields) do add(prefix .. "." .. f, r[f], r.error) end
end

----------------------------------------------------------------- measurements
-- Sequential: a first call on a new client, then warm calls. Enough calls per
-- sample that one slow call does not decide it (~60 at RTT 10, ~30 at RTT 40).
local SEQ = {
  { "module", "1.1" }, { "module", "2" }, { "raw", "1.1" }, { "raw", "2" },
  { "luasocket", "1.1" }, { "luasocket_kept", "1.1" },
  { "luahttp", "2" }, { "luahttp_kept", "1.1" }, { "luahttp_kept", "2" },
}
local FAN = { "module", "raw", "luahttp_kept" }
local SEQ_FIELDS = { "rate", "first_seconds", "warm_median_seconds", "cpu_us", "response_bytes",
  "after_connect_seconds", "shared_first_seconds" }
local CPU_SECONDS = 0.7
-- CPU time is noisier than wall time on a shared VM (other guests, other helpers'
-- tests): the CPU table gets more rounds of shorter samples.
local cpu_repeats = math.tointeger(tonumber(env("BENCH_CPU_REPEATS") or "5")) or 5
-- lua-http's idiomatic way pays a TLS handshake (~3 ms of CPU) per call: a smaller
-- batch keeps it within the bench's time.
local IDIOMATIC_FAN = math.max(1, fan_count // 4)

progress(string.format("%d rounds; proxies at %s ms RTT; fan-out of %d calls", repeats,
  table.concat((function()
    local t = {}
    for i, p in ipairs(proxies) do t[i] = p.ms end
    return t
  end)(), " and "), fan_count))

for round = 1, repeats do
  for _, p in ipairs(proxies) do
    progress(string.format("round %d/%d, RTT %d ms: sequential", round, repeats, p.ms))
    for _, s in ipairs(SEQ) do
      local who, http = s[1], s[2]
      local r = run(who, "seq", p, http, { seconds = math.max(0.6, 30 * p.rtt), max = 100000 })
      record(string.format("seq.%d.%s.%s", p.ms, who, http), r, SEQ_FIELDS)
    end
    for _, c in ipairs(CONCURRENCY) do
      progress(string.format("round %d/%d, RTT %d ms: fan-out of %d at concurrency %d", round, repeats, p.ms,
        fan_count, c))
      for _, http in ipairs(VERSIONS) do
        for _, who in ipairs(FAN) do
          local r = run(who, "fanout", p, http, { count = fan_count, concurrency = c })
          record(string.format("fan.%d.%d.%s.%s", p.ms, c, who, http), r, { "cold_seconds", "warm_seconds", "cpu_us" })
        end
      end
      if c == 64 then
        -- Every call opens its own connection: cold and warm are the same thing.
        local r = run("luahttp", "fanout", p, "2", { count = IDIOMATIC_FAN, concurrency = c, passes = 1 })
        record(string.format("fan.%d.%d.luahttp.2", p.ms, c), r, { "cold_seconds", "cpu_us" })
      end
    end
  end
end

for round = 1, cpu_repeats do
  progress(string.format("round %d/%d: CPU per call on loopback", round, cpu_repeats))
  for _, where in ipairs { "http", "tls" } do
    for _, http in ipairs(where == "http" and { "1.1" } or VERSIONS) do
      for _, who in ipairs { "module", "raw", "luasocket", "luasocket_kept", "luahttp", "luahttp_kept" } do
        if not (C[who].h1_only and http == "2") then
          local r = run(who, "seq", where, http, { seconds = CPU_SECONDS, max = 1000000 })
          record(string.format("cpu.%s.%s.%s", where, http, who), r,
            { "cpu_us", "response_bytes", "rate", "first_seconds" })
        end
      end
    end
  end
end

------------------------------------------------------------------------ tables
local function f2(v) return v and string.format("%.2f", v) or "n/a" end
local function na(key) return "n/a" .. (why(key) and (" (" .. why(key) .. ")") or "") end

local out = {} -- markdown lines
local function w(s) out[#out + 1] = s or "" end
local function tbl(headers, rows)
  w("| " .. table.concat(headers, " | ") .. " |")
  w("|" .. string.rep(" --- |", #headers))
  for _, r in ipairs(rows) do
    local cells = {}
    for i = 1, #headers do cells[i] = tostring(r[i] or ""):gsub("|", "\\|") end
    w("| " .. table.concat(cells, " | ") .. " |")
  end
  w()
end

local targets = {} -- { figure, value, target, met }
local function target_row(figure, value, text, measured, met)
  targets[#targets + 1] = { figure, value, text, not measured and "n/a" or (met and "yes" or "**MISSED**") }
end

local function label(who, http)
  local n = C[who].name
  if who == "luasocket" or who == "luasocket_kept" then return n end
  return n .. (http == "2" and ", HTTP/2" or ", HTTP/1.1")
end

-- Sequential
w("### Sequential calls over TLS through the latency proxy")
w()
w("Calls/s as a fraction of the bound (one call per RTT: 1/RTT calls/s), the first call on a new")
w("client in RTTs (bound: TCP + TLS 1.3 + the request = 3 RTT; 1 RTT once connections can be")
w("opened ahead), and the median warm call in RTTs (the proxy check: ≈ 1).")
w()
do
  local headers = { "contender" }
  for _, p in ipairs(proxies) do
    headers[#headers + 1] = string.format("RTT %d ms: calls/s (of bound)", p.ms)
    headers[#headers + 1] = string.format("first call (RTT)")
    headers[#headers + 1] = string.format("warm call (RTT)")
  end
  local rows = {}
  for _, s in ipairs(SEQ) do
    local who, http = s[1], s[2]
    local row = { label(who, http) }
    for _, p in ipairs(proxies) do
      local k = string.format("seq.%d.%s.%s", p.ms, who, http)
      local rate, first, warm = median(k .. ".rate"), median(k .. ".first_seconds"),
        median(k .. ".warm_median_seconds")
      row[#row + 1] = rate and string.format("%.1f (%.2f)", rate, rate * p.rtt) or na(k .. ".rate")
      row[#row + 1] = first and f2(first / p.rtt) or "n/a"
      row[#row + 1] = warm and f2(warm / p.rtt)
        or (who == "raw" and rate and f2(1 / rate / p.rtt) .. " (mean)" or "n/a")
    end
    rows[#rows + 1] = row
  end
  for _, extra in ipairs {
    { "after_connect_seconds", "this module: first call after client:connect()" },
    { "shared_first_seconds", "this module: second client sharing the pool, first call" },
  } do
    local row = { extra[2] }
    for _, p in ipairs(proxies) do
      local k = string.format("seq.%d.module.2.%s", p.ms, extra[1])
      local v = median(k)
      row[#row + 1] = "—"
      row[#row + 1] = v and f2(v / p.rtt) or na(k)
      row[#row + 1] = "—"
      target_row(string.format("%s, RTT %d ms", extra[2], p.ms), v and f2(v / p.rtt) .. " RTT" or na(k), "≤ 1.3 RTT",
        v ~= nil, v and v / p.rtt <= 1.3)
    end
    rows[#rows + 1] = row
  end
  tbl(headers, rows)
  -- What a warm call costs besides the RTT: the same call on loopback, no proxy.
  local floor = {}
  for _, http in ipairs(VERSIONS) do
    local rate = median(string.format("cpu.tls.%s.raw.rate", http))
    floor[#floor + 1] = rate and string.format("%.2f ms over HTTP/%s", 1000 / rate, http) or nil
  end
  if #floor > 0 then
    w("A warm raw libcurl call straight to the TLS listener (no proxy) takes " .. table.concat(floor, " and ")
      .. ": that, plus the proxy's own wake-ups, is what a warm call costs beyond the RTT here.")
    w()
  end
  -- And what a first call costs besides its 3 RTT: the same first call on loopback.
  local firsts = {}
  for _, who in ipairs { "module", "raw", "luasocket", "luahttp_kept" } do
    local v = median(string.format("cpu.tls.1.1.%s.first_seconds", who))
    if v then firsts[#firsts + 1] = string.format("%s %.1f ms", C[who].name:gsub(",.*", ""), v * 1000) end
  end
  if #firsts > 0 then
    w("The first call of a process straight to the TLS listener (no proxy, HTTP/1.1) takes " ..
      table.concat(firsts, ", ") .. ": set-up in the client (TLS library, CA file, handshake CPU on both")
    w("sides), which a first call pays on top of its 3 RTT.")
    w()
  end
  for _, p in ipairs(proxies) do
    for _, http in ipairs(VERSIONS) do
      local rate = median(string.format("seq.%d.module.%s.rate", p.ms, http))
      target_row(string.format("sequential, RTT %d ms, HTTP/%s (fraction of 1/RTT)", p.ms, http),
        rate and f2(rate * p.rtt) or "n/a", "≥ 0.95", rate ~= nil, rate and rate * p.rtt >= 0.95)
    end
  end
end

-- Fan-out
local function fan_bound(c, cold, who)
  -- Warm: ceil(count / c) request rounds of 1 RTT. Cold adds TCP + TLS 1.3 = 2 RTT,
  -- the c connections (HTTP/1.1) or the one (HTTP/2) being opened at the same time.
  -- lua-http's idiomatic way pays those 2 RTT on every call.
  if who == "luahttp" then return math.ceil(IDIOMATIC_FAN / c) * 3 end
  return math.ceil(fan_count / c) + (cold and 2 or 0)
end
w(string.format("### Fan-out: %d calls over TLS through the latency proxy", fan_count))
w()
w(string.format("Fraction of the bound (bound / time). Bound: ceil(%d / c) RTT warm, + 2 RTT cold (TCP and", fan_count))
w("TLS 1.3 handshakes of all connections run side by side). HTTP/2 runs every call over one connection,")
w("c streams at once (nginx allows 128 per connection), so its bound is the same. Cold = a new")
w("client (connections opened inside the batch); warm = the same batch again on it. CPU µs per")
w("call: the client process, warm batch. Time in seconds in brackets. lua-http's idiomatic way")
w(string.format("(a new connection per call) runs %d calls at c64 only; its bound is ceil(%d / 64) × 3 RTT.",
  IDIOMATIC_FAN, IDIOMATIC_FAN))
w()
for _, p in ipairs(proxies) do
  local headers = { string.format("RTT %d ms", p.ms) }
  for _, c in ipairs(CONCURRENCY) do
    headers[#headers + 1] = string.format("c%d warm (bound %d RTT)", c, fan_bound(c, false))
    headers[#headers + 1] = string.format("c%d cold (bound %d RTT)", c, fan_bound(c, true))
    headers[#headers + 1] = string.format("c%d CPU µs/call", c)
  end
  local rows = {}
  local contenders = {}
  for _, who in ipairs(FAN) do
    for _, http in ipairs(VERSIONS) do contenders[#contenders + 1] = { who, http } end
  end
  contenders[#contenders + 1] = { "luahttp", "2" }
  for _, k in ipairs(contenders) do
    local who, http = k[1], k[2]
    local row = { label(who, http) }
    for _, c in ipairs(CONCURRENCY) do
      local key = string.format("fan.%d.%d.%s.%s", p.ms, c, who, http)
      local warm, cold, cpu = median(key .. ".warm_seconds"), median(key .. ".cold_seconds"), median(key .. ".cpu_us")
      local function cell(v, cold_)
        return v and string.format("%.2f (%.2f s)", fan_bound(c, cold_, who) * p.rtt / v, v)
      end
      if who == "luahttp" and c ~= 64 then
        for _ = 1, 3 do row[#row + 1] = "—" end
      else
        row[#row + 1] = cell(warm, false) or (who == "luahttp" and "(every call is cold)" or na(key .. ".warm_seconds"))
        row[#row + 1] = cell(cold, true) or na(key .. ".cold_seconds")
        row[#row + 1] = cpu and string.format("%.0f", cpu) or "n/a"
      end
    end
    rows[#rows + 1] = row
  end
  tbl(headers, rows)
  for _, c in ipairs(CONCURRENCY) do
    for _, http in ipairs(VERSIONS) do
      local key = string.format("fan.%d.%d.module.%s.warm_seconds", p.ms, c, http)
      local v = median(key)
      local frac = v and fan_bound(c, false) * p.rtt / v
      local fig = string.format("fan-out c%d warm, RTT %d ms, HTTP/%s (fraction of bound)", c, p.ms, http)
      if c == 16 then
        target_row(fig, frac and f2(frac) or "n/a", "≥ 0.9", frac ~= nil, frac and frac >= 0.9)
      else
        local best_peer, best_name = nil, nil
        for _, who in ipairs { "raw", "luahttp_kept" } do
          for _, h in ipairs(VERSIONS) do
            local pv = median(string.format("fan.%d.%d.%s.%s.warm_seconds", p.ms, c, who, h))
            if pv and (not best_peer or pv < best_peer) then best_peer, best_name = pv, label(who, h) end
          end
        end
        local ahead = v and best_peer and v <= best_peer
        local text = frac and string.format("%s (peer: %s, %s)", f2(frac), best_name or "?",
          best_peer and f2(fan_bound(c, false) * p.rtt / best_peer) or "n/a") or "n/a"
        target_row(fig .. " vs the fastest peer", text, "ahead of every peer",
          (v and best_peer) ~= nil, ahead)
      end
    end
  end
end

-- CPU per call
local cpu_lines = #out + 1 -- where BENCH_CPU_ONLY's output starts
w("### CPU per call on loopback")
w()
w(string.format("Client process CPU time (user + system) per sequential call, µs, over ~%.1f s of calls:",
  CPU_SECONDS))
w(string.format("the lowest of %d rounds (contention only adds CPU time), the ratio to raw libcurl's lowest and",
  cpu_repeats))
w("the median in brackets. HTTPS goes straight to the gateway's TLS listener (no proxy).")
w("Peers that open a connection per call pay its handshake on every call. Every contender sends the")
w("same request and decodes the same answer (raw libcurl only checks it).")
w()
do
  local cols = { { "http", "1.1", "HTTP" }, { "tls", "1.1", "HTTPS, HTTP/1.1" }, { "tls", "2", "HTTPS, HTTP/2" } }
  local headers = { "contender" }
  for _, c in ipairs(cols) do headers[#headers + 1] = c[3] end
  headers[#headers + 1] = "response bytes"
  local rows = {}
  for _, who in ipairs { "module", "raw", "luasocket", "luasocket_kept", "luahttp", "luahttp_kept" } do
    local row = { C[who].name }
    local size
    for _, c in ipairs(cols) do
      local key = string.format("cpu.%s.%s.%s", c[1], c[2], who)
      local v, med = lowest(key .. ".cpu_us"), median(key .. ".cpu_us")
      local raw = lowest(string.format("cpu.%s.%s.raw.cpu_us", c[1], c[2]))
      size = size or median(key .. ".response_bytes")
      if C[who].h1_only and c[2] == "2" then
        row[#row + 1] = "— (no HTTP/2)"
      else
        row[#row + 1] = v and string.format("%.0f (%.2f×; median %.0f)", v, raw and v / raw or 0 / 0, med)
          or na(key .. ".cpu_us")
      end
      if who == "module" and c[1] ~= "http" then
        local ok = v and raw and v / raw <= 1.15
        target_row(string.format("CPU per call, %s, module / raw libcurl", c[3]), v and raw and
          string.format("%.2f× (%.0f vs %.0f µs)", v / raw, v, raw) or "n/a", "≤ 1.15×",
          (v and raw) ~= nil, ok)
        local slowest_ok, cheapest = true, nil
        for _, peer in ipairs { "luasocket", "luasocket_kept", "luahttp", "luahttp_kept" } do
          local pv = lowest(string.format("cpu.%s.%s.%s.cpu_us", c[1], c[2], peer))
          if pv and (not cheapest or pv < cheapest) then cheapest = pv end
          if pv and v and v >= pv then slowest_ok = false end
        end
        target_row(string.format("CPU per call, %s, module below every Lua peer", c[3]),
          v and cheapest and string.format("%.0f µs vs cheapest Lua peer %.0f µs", v, cheapest) or "n/a",
          "below all", (v and cheapest) ~= nil, slowest_ok)
      end
    end
    row[#row + 1] = size and string.format("%d", size) or "?"
    rows[#rows + 1] = row
  end
  tbl(headers, rows)
end


if cpu_only then -- the CPU table, its target rows and samples; nothing else was measured
  local lines = {}
  for i = cpu_lines, #out do lines[#lines + 1] = out[i] end
  for _, t in ipairs(targets) do
    if t[1]:find("^CPU per call") then
      lines[#lines + 1] = string.format("- %s: %s (target %s: %s)", t[1], t[2], t[3], t[4])
    end
  end
  lines[#lines + 1] = ""
  local keys = {}
  for k in pairs(samples) do
    if k:find("^cpu%..*%.cpu_us$") then keys[#keys + 1] = k end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local vals = {}
    for i, x in ipairs(samples[k]) do vals[i] = string.format("%.1f", x) end
    lines[#lines + 1] = string.format("- `%s`: %s%s", k, table.concat(vals, ", "),
      samples[k].error and ("; error: " .. samples[k].error) or "")
  end
  local text = table.concat(lines, "\n")
  print(text)
  if out_file then
    local f = assert(io.open(out_file, "w"))
    f:write(text, "\n")
    f:close()
  end
  os.exit(0)
end

-- Summary: the figures the README shows, one column per library.
w("### Summary (the README's table)")
w()
do
  local last = proxies[#proxies]
  local function seq(who, http, p)
    local r = median(string.format("seq.%d.%s.%s.rate", p.ms, who, http))
    return r and f2(r * p.rtt) or "n/a"
  end
  local function first(who, http, p)
    local v = median(string.format("seq.%d.%s.%s.first_seconds", p.ms, who, http))
    return v and f2(v / p.rtt) or "n/a"
  end
  local function fan(who, http, c, kind)
    if who == "luasocket" or who == "luasocket_kept" then return "—" end
    local v = median(string.format("fan.%d.%d.%s.%s.%s_seconds", last.ms, c, who, http, kind))
    return v and f2(fan_bound(c, kind == "cold", who) * last.rtt / v) or "n/a"
  end
  local function cpu(who, http)
    if (who == "luasocket" or who == "luasocket_kept") and http == "2" then return "—" end
    local v = lowest(string.format("cpu.tls.%s.%s.cpu_us", http, who))
    return v and string.format("%.0f", v) or "n/a"
  end
  local cols = {
    { "this module", { { "module", "1.1" }, { "module", "2" } } },
    { "raw libcurl", { { "raw", "1.1" }, { "raw", "2" } } },
    { "luasocket + luasec", { { "luasocket", "1.1" }, { "luasocket_kept", "1.1" } } },
    { "lua-http", { { "luahttp", "2" }, { "luahttp_kept", "1.1" }, { "luahttp_kept", "2" } } },
  }
  local headers = { "figure" }
  for _, c in ipairs(cols) do headers[#headers + 1] = c[1] end
  local rows = {}
  local function add_row(figure, fn)
    local row = { figure }
    for _, c in ipairs(cols) do
      local cells = {}
      for i, k in ipairs(c[2]) do cells[i] = fn(k[1], k[2]) end
      row[#row + 1] = table.concat(cells, " / ")
    end
    rows[#rows + 1] = row
  end
  for _, p in ipairs(proxies) do
    add_row(string.format("sequential, RTT %d ms (fraction of 1/RTT)", p.ms), function(w_, h) return seq(w_, h, p) end)
  end
  add_row(string.format("first call on a new client, RTT %d ms (RTT)", last.ms),
    function(w_, h) return first(w_, h, last) end)
  for _, c in ipairs(CONCURRENCY) do
    for _, kind in ipairs { "warm", "cold" } do
      add_row(string.format("fan-out %d calls, c%d, %s, RTT %d ms (fraction of bound)", fan_count, c, kind, last.ms),
        function(w_, h)
          if w_ == "luahttp" then return (c == 64 and kind == "cold") and fan("luahttp", "2", c, "cold") or "—" end
          return fan(w_, h, c, kind)
        end)
    end
  end
  add_row("client CPU µs per call, HTTPS on loopback (lowest round)", cpu)
  tbl(headers, rows)
  w("Cells: this module and raw libcurl HTTP/1.1 / HTTP/2; luasocket + luasec a new connection per")
  w("call / a kept connection; lua-http `new_from_uri` per call (HTTP/2) / kept HTTP/1.1 / kept HTTP/2.")
  w("\"—\": not applicable (luasocket has no concurrency; lua-http's idiomatic way has no warm state).")
  w()
end

-- HTTP/1.1 against HTTP/2 (issue 12, item 5), module and raw libcurl side by side.
w("### HTTP/1.1 or HTTP/2")
w()
do
  local function per_rtt(fn)
    local t = {}
    for _, p in ipairs(proxies) do t[#t + 1] = fn(p) end
    return table.concat(t, " / ")
  end
  local rtts = per_rtt(function(p) return tostring(p.ms) end)
  local rows = {}
  local function add_row(figure, fn)
    local row = { figure }
    for _, who in ipairs { "module", "raw" } do
      for _, http in ipairs(VERSIONS) do row[#row + 1] = fn(who, http) end
    end
    rows[#rows + 1] = row
  end
  add_row(string.format("sequential, RTT %s ms (fraction of 1/RTT)", rtts), function(who, http)
    return per_rtt(function(p)
      local r = median(string.format("seq.%d.%s.%s.rate", p.ms, who, http))
      return r and f2(r * p.rtt) or "n/a"
    end)
  end)
  add_row("client CPU µs per sequential call, HTTPS on loopback (lowest round)", function(who, http)
    local v = lowest(string.format("cpu.tls.%s.%s.cpu_us", http, who))
    return v and string.format("%.0f", v) or "n/a"
  end)
  for _, c in ipairs(CONCURRENCY) do
    for _, kind in ipairs { "warm", "cold" } do
      add_row(string.format("fan-out c%d %s, RTT %s ms (fraction of bound)", c, kind, rtts), function(who, http)
        return per_rtt(function(p)
          local v = median(string.format("fan.%d.%d.%s.%s.%s_seconds", p.ms, c, who, http, kind))
          return v and f2(fan_bound(c, kind == "cold") * p.rtt / v) or "n/a"
        end)
      end)
    end
    add_row(string.format("fan-out c%d, client CPU µs per call, RTT %s ms", c, rtts), function(who, http)
      return per_rtt(function(p)
        local v = median(string.format("fan.%d.%d.%s.%s.cpu_us", p.ms, c, who, http))
        return v and string.format("%.0f", v) or "n/a"
      end)
    end)
  end
  tbl({ "figure", "this module, HTTP/1.1", "this module, HTTP/2", "raw libcurl, HTTP/1.1", "raw libcurl, HTTP/2" },
    rows)
end

w("### Targets of issue 12")
w()
-- The proxy check first: everything above assumes a warm call costs 1 RTT.
for i, p in ipairs(proxies) do
  local rate = median(string.format("seq.%d.raw.1.1.rate", p.ms))
  local v = rate and 1 / rate / p.rtt
  table.insert(targets, i, { string.format("proxy check: raw libcurl warm call, RTT %d ms (RTT)", p.ms),
    v and f2(v) or "n/a", "≈ 1 (1.0–1.2)", v == nil and "n/a" or ((v >= 0.98 and v <= 1.2) and "yes" or "**NO**") })
end
tbl({ "figure", "measured", "target", "met?" }, targets)

-------------------------------------------------------------------- output
local function first_line(cmd) return ((sh(cmd)):match("[^\n]*") or ""):gsub("%s+$", "") end
local elapsed = socket.gettime() - clock0
local section = {}
local function s(line) section[#section + 1] = line or "" end
s("<!-- network: begin (bench/net.lua rewrites this section) -->")
s("## Network: TLS, round trips and CPU per call (issue 12)")
s()
s(string.format("Measured %s, load average at start / end %s / %s; %s. Medians of %d interleaved rounds",
  os.date("!%Y-%m-%d %H:%M UTC", started), env("BENCH_LOADAVG") or "?", first_line("cut -d' ' -f1-3 /proc/loadavg"),
  env("BENCH_SHARED") or "the machine may have been shared", repeats))
s(string.format("(each contender in its own process, one after another in every round); %.0f s. lua-http %s and",
  elapsed, first_line("dpkg-query -W -f '${Version}' lua-http 2>/dev/null || echo ?")))
s(string.format("luasec %s: lua-http runs on Lua 5.1 (the only interpreter Debian 12 packages its dependencies",
  first_line("lua5.4 -e 'print(require(\"ssl\")._VERSION)' 2>/dev/null")))
s("for), the others on Lua 5.4. The latency proxy (`bench/latency_proxy.c`) delays every chunk by RTT/2 each way")
s("and makes a new connection cost 1 RTT; it is one more process on the same 2 cores.")
s()
for _, line in ipairs(out) do s(line) end
s("### Samples")
s()
local keys = {}
for k in pairs(samples) do keys[#keys + 1] = k end
table.sort(keys)
for _, k in ipairs(keys) do
  local v = samples[k]
  if #v > 0 or v.error then
    local vals = {}
    for i, x in ipairs(v) do vals[i] = string.format(x < 10 and "%.4f" or "%.1f", x) end
    s(string.format("- `%s`: %s%s", k, table.concat(vals, ", "), v.error and ("; error: " .. v.error) or ""))
  end
end
s()
s("<!-- network: end -->")
local text = table.concat(section, "\n")

print()
print(table.concat(out, "\n"))
print(string.format("(network part: %.0f s; written to %s)", elapsed, out_file))

-- Replace our section of the results file, keep the rest.
local f = io.open(out_file, "r")
local old = f and f:read("a") or "# Benchmark results\n"
if f then f:close() end
local a, b = old:find("<!%-%- network: begin.-<!%-%- network: end %-%->")
local new
if a then
  new = old:sub(1, a - 1) .. text .. old:sub(b + 1)
else
  new = old:gsub("\n*$", "\n\n") .. text .. "\n"
end
f = assert(io.open(out_file, "w"))
f:write(new)
f:close()
