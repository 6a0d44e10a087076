-- luacheck: max line length 120
-- Runs every measurement (each in its own process), prints the table and
-- writes bench/RESULTS.md. Started by bench/run, which builds raw_curl and
-- starts the gateway; it passes everything through the environment:
--   BENCH_URL        gateway base URL (http://127.0.0.1:PORT)
--   BENCH_H2C_URL    optional h2c (HTTP/2 prior knowledge) base URL
--   BENCH_TOKEN      API key (test-api-key)
--   BENCH_BODY_FILE  where to write the payload that curl and wrk send
--   BENCH_RAW_CURL   the built raw_curl program
--   BENCH_REPEATS    rounds of each network measurement (default 5)
--   BENCH_OUT        results file (default bench/RESULTS.md)
--   BENCH_SERVER_CPU the CPU the gateway's workers are pinned to (bench/run sets it
--                    when it can pin them); clients then run pinned too
package.path = "./bench/?.lua;" .. package.path

local env = os.getenv
local url = assert(env("BENCH_URL"), "BENCH_URL is not set")
local h2c_url = env("BENCH_H2C_URL") ~= "" and env("BENCH_H2C_URL") or nil
local token = env("BENCH_TOKEN") or "test-api-key"
local body_file = assert(env("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set")
local raw_curl = assert(env("BENCH_RAW_CURL"), "BENCH_RAW_CURL is not set")
local repeats = math.tointeger(tonumber(env("BENCH_REPEATS") or "5")) or 5
local out_file = env("BENCH_OUT") or "bench/RESULTS.md"
local echo_url = url .. "/v1/functions/echo"

-- CPU placement. With the gateway pinned, sequential figures are measured twice:
-- client on the gateway's core, and client on the other core (a loopback round
-- trip between two cores pays two cross-core wake-ups, which on this VM cost more
-- than all the client's work). Concurrent and sleep runs put the client on the
-- other core, so client and server each have one.
local server_cpu = tonumber(env("BENCH_SERVER_CPU") or "")
local other_cpu
if server_cpu then
  local ncpu = tonumber(io.popen("nproc"):read("l")) or 1
  if ncpu >= 2 then other_cpu = server_cpu == 0 and 1 or 0 else server_cpu = nil end
end
local placements = server_cpu
  and { { key = "same", cpu = server_cpu, label = "client on the gateway's core" },
        { key = "other", cpu = other_cpu, label = "client on another core" } }
  or { { key = "any", label = "unpinned" } }
local client_cpu -- where the next command runs (nil: anywhere)
local function pinned(cmd)
  return client_cpu and string.format("taskset -c %d %s", client_cpu, cmd) or cmd
end

local SEQ_SECONDS = 1.5 -- per sequential sample
local ALL_SECONDS = 1.5 -- per invoke_all sample
local WRK_SECONDS = 2   -- per wrk sample
local started = os.time()
local clock0 = require("socket").gettime()

local common = require "common"
local q, sh, parse_kv = common.quote, common.sh, common.parse_kv

local function progress(msg)
  io.stderr:write(string.format("[bench %5.1fs] %s\n", require("socket").gettime() - clock0, msg))
end

local function worker(mode, args)
  local parts = { pinned("lua5.4 bench/worker.lua"), mode, "url=" .. q(args.url or url), "token=" .. q(token) }
  for k, v in pairs(args) do
    if k ~= "url" then parts[#parts + 1] = k .. "=" .. q(v) end
  end
  local text, ok = sh(table.concat(parts, " "))
  local r = parse_kv(text)
  if not ok and not r.error then r.error = "worker failed: " .. text:gsub("\n", " "):sub(1, 200) end
  return r
end

local function raw(mode, a, b)
  local text, ok = sh(table.concat({ pinned(q(raw_curl)), mode, q(echo_url), q(body_file), q(token), a, b }, " "))
  local r = parse_kv(text)
  if not ok then r.error = "raw_curl failed: " .. text:gsub("\n", " "):sub(1, 200) end
  return r
end

local function wrk(conns, threads, seconds)
  local text = sh(string.format("BENCH_BODY_FILE=%s BENCH_TOKEN=%s %s -t%d -c%d -d%ds -s bench/wrk_post.lua %s",
    q(body_file), q(token), pinned("wrk"), threads, conns, seconds, q(echo_url)))
  local rate = tonumber(text:match("Requests/sec:%s*([%d%.]+)"))
  local r = { rate = rate }
  local bad = text:match("Non%-2xx or 3xx responses:%s*(%d+)")
  if not rate then
    r.error = "wrk: " .. text:gsub("\n", " "):sub(1, 200)
  elseif bad then
    r.error = "wrk saw " .. bad .. " non-2xx answers"
  end
  return r
end

-- Samples: name -> { values..., error = first error }
local samples = {}
local function add(name, r, key)
  local s = samples[name] or {}
  samples[name] = s
  if r.error then
    s.error = s.error or r.error
  elseif r[key or "rate"] then
    s[#s + 1] = r[key or "rate"]
  end
end
local function best(name, lower_is_better)
  local s = samples[name]
  if not s or #s == 0 then return nil end
  local b = s[1]
  for i = 2, #s do
    if lower_is_better then b = math.min(b, s[i]) else b = math.max(b, s[i]) end
  end
  return b
end

local function err(name) return samples[name] and samples[name].error end

---------------------------------------------------------------- measurements
local payload = worker("payload", { file = body_file })
if payload.error then error("cannot write the payload: " .. payload.error) end
progress(string.format("payload: %d bytes (encoded by %s; lua-cjson: %d bytes)",
  payload.bytes, payload.encoded_by, payload.cjson_bytes))

progress("warming the gateway up (wrk -c64, 1 s)")
wrk(64, 2, 1)

for round = 1, repeats do
  for _, pl in ipairs(placements) do
    progress(string.format("sequential, %s, round %d/%d", pl.label, round, repeats))
    client_cpu = pl.cpu
    add("seq_module_" .. pl.key, worker("seq-module", { seconds = SEQ_SECONDS, max = 1000000 }))
    add("seq_raw_" .. pl.key, raw("rate", SEQ_SECONDS, 1000000))
    add("seq_luasocket_" .. pl.key, worker("seq-luasocket", { seconds = SEQ_SECONDS, max = 20000 }))
    add("seq_wrk_" .. pl.key, wrk(1, 1, WRK_SECONDS))
  end
end
client_cpu = other_cpu

for round = 1, repeats do
  for _, c in ipairs { 16, 64 } do
    progress(string.format("concurrent c%d, round %d/%d", c, round, repeats))
    add("all_" .. c, worker("all-module", { concurrency = c, batch = 2000, seconds = ALL_SECONDS }))
    add("wrk_" .. c, wrk(c, 2, WRK_SECONDS))
  end
  if h2c_url then
    add("all_h2_64", worker("all-module", { url = h2c_url, http2 = "prior-knowledge",
      concurrency = 64, batch = 2000, seconds = ALL_SECONDS }))
  end
end

progress("200 x sleep(100 ms) at concurrency 200")
local sleep = worker("sleep-module", { count = 200, concurrency = 200, ms = 100, rounds = repeats })
add("sleep_cold", sleep, "cold_seconds")
add("sleep_warm", sleep, "warm_seconds")

progress("frame loop: 60 fps, a 200 ms call every 0.5 s (bench/frame_loop.lua)")
local frame = parse_kv(sh(pinned("lua5.4 bench/frame_loop.lua") .. " " .. q(url) .. " " .. q(token) .. " 2"))

client_cpu = nil
progress("codec")
local codec = worker("codec", { repeats = 5, min_seconds = 0.25 })

progress("RSS: raw libcurl, 1k then 100k calls")
local rss_raw = raw("rss", 1000, 100000)
local seq_best = best("seq_module_" .. placements[1].key)
local rss_seq
if seq_best and seq_best * 40 >= 100000 then
  progress("RSS: module client:invoke, 1k then 100k calls")
  rss_seq = worker("rss-module", { how = "seq", n1 = 1000, n2 = 100000 })
else
  rss_seq = { error = seq_best and "sequential calls too slow for 100k in the time budget"
    or (err("seq_module_" .. placements[1].key) or "sequential calls failed") }
end
progress("RSS: module invoke_all (batches of 1000, c16), 1k then 100k calls")
local rss_all = worker("rss-module", { how = "all", n1 = 1000, n2 = 100000 })

-- The nginx figure (bench/nginx_stall.lua): an instant location's requests/s while
-- eight handlers keep 200 ms calls in flight.
progress("nginx: an instant location while 8 handlers wait on 200 ms calls")
local stall_rounds = math.min(repeats, 3) -- about 9 s a round
local stall = parse_kv((sh(string.format("BENCH_REPEATS=%d lua5.4 bench/nginx_stall.lua %s", stall_rounds, q(url)))))

---------------------------------------------------------------------- table
local rows = {}
local missed = {}
local unmeasured = 0
local notes = {} -- distinct reasons a figure is missing, shown under the table
local function note(why)
  for i, n in ipairs(notes) do if n == why then return i end end
  notes[#notes + 1] = why
  return #notes
end

local function fmt_rate(v) return v and string.format("%.0f/s", v) or "n/a" end
local function fmt_mbs(v) return v and string.format("%.1f MB/s", v) or "n/a" end
local function fmt_s(v) return v and string.format("%.3f s", v) or "n/a" end
local function fmt_mb(v) return v and string.format("%.2f MB", v) or "n/a" end

-- target: { op = ">=" | "<", value = x, on = "ratio" | "ours" } or nil (info row)
local function row(figure, ours, peer_name, peer, fmt, target, why, no_ratio)
  local ratio = (not no_ratio and ours and peer and peer ~= 0) and ours / peer or nil
  local met, target_text = "info", "—"
  if target then
    local v = target.on == "ours" and ours or ratio
    if target.op == ">=" then
      target_text = string.format("≥ %.1f×", target.value)
    else
      target_text = string.format("< %s", target.text)
    end
    if v == nil then
      met = "n/a"
      unmeasured = unmeasured + 1
    elseif (target.op == ">=" and v >= target.value) or (target.op == "<" and v < target.value) then
      met = "yes"
    else
      met = "**MISSED**"
      missed[#missed + 1] = figure .. " (vs " .. peer_name .. ")"
    end
  end
  rows[#rows + 1] = {
    figure,
    ours and fmt(ours) or ("n/a" .. (why and string.format(" [%d]", note(why)) or "")),
    peer_name .. ": " .. (peer and fmt(peer) or "n/a"),
    ratio and string.format("%.2f×", ratio) or "—",
    target_text,
    met,
  }
end


for _, pl in ipairs(placements) do
  local m, k = "seq_module_" .. pl.key, "_" .. pl.key
  local fig = "sequential calls/s, " .. pl.label
  row(fig, best(m), "raw libcurl loop", best("seq_raw" .. k), fmt_rate, { op = ">=", value = 0.9 }, err(m))
  row(fig, best(m), "luasocket + lua-cjson", best("seq_luasocket" .. k), fmt_rate, { op = ">=", value = 2.0 },
    err(m))
  row(fig, best(m), "wrk -c1 -t1", best("seq_wrk" .. k), fmt_rate, nil, err(m))
  row("raw libcurl loop, " .. pl.label, best("seq_raw" .. k), "wrk -c1 -t1", best("seq_wrk" .. k), fmt_rate, nil,
    err("seq_raw" .. k))
end
for _, c in ipairs { 16, 64 } do
  row(string.format("invoke_all calls/s, concurrency %d", c), best("all_" .. c),
    string.format("wrk -c%d -t2", c), best("wrk_" .. c), fmt_rate, { op = ">=", value = 0.8 }, err("all_" .. c))
end
if h2c_url then
  row("invoke_all calls/s, concurrency 64, h2c", best("all_h2_64"), "wrk -c64 -t2 (HTTP/1.1)",
    best("wrk_64"), fmt_rate, nil, err("all_h2_64"))
end
row("200 × sleep(100 ms), concurrency 200, new client", best("sleep_cold", true), "ideal",
  0.1, fmt_s, { op = "<", value = 0.5, on = "ours", text = "0.5 s" }, err("sleep_cold"))
row("200 × sleep(100 ms), concurrency 200, reused client", best("sleep_warm", true), "ideal",
  0.1, fmt_s, { op = "<", value = 0.5, on = "ours", text = "0.5 s" }, err("sleep_warm"))
-- Frame loop (issue 9): the non-blocking loop against the same loop with no calls and
-- with the blocking invoke; best of 2 runs of 3 s (180 frames) each.
local function fmt_ms(v) return v and string.format("%.1f ms", v) or "n/a" end
local function fmt_frames(v) return v and string.format("%d of 180", v) or "n/a" end
row("frame loop 60 fps, 200 ms call every 0.5 s: worst frame, start + poll(0)", frame.nonblocking_worst_ms,
  "blocking invoke", frame.blocking_worst_ms, fmt_ms, { op = "<", value = 0.25, text = "0.25×" },
  frame.nonblocking_error)
row("frame loop 60 fps, 200 ms call every 0.5 s: frames lost, start + poll(0)", frame.nonblocking_lost,
  "blocking invoke", frame.blocking_lost, fmt_frames, { op = "<", value = 3, on = "ours", text = "3 frames" },
  frame.nonblocking_error, true)
row("frame loop 60 fps, no calls (the machine's own jitter): worst frame", frame.idle_worst_ms,
  "start + poll(0)", frame.nonblocking_worst_ms, fmt_ms, nil, frame.idle_error, true)
row("frame loop 60 fps, no calls (the machine's own jitter): frames lost", frame.idle_lost,
  "start + poll(0)", frame.nonblocking_lost, fmt_frames, nil, frame.idle_error, true)

local exact = codec.exact_docs and (codec.exact_docs == "yes" and codec.exact_bigints == "yes")
local kinds = {
  { "small", "small objects (2000 × ~140 B, one call each)" },
  { "numbers", "number-heavy array (~1 MB)" },
  { "unicode", "unicode-heavy strings" },
  { "deep", "deep nesting (40 × depth 400)" },
}
for _, k in ipairs(kinds) do
  for _, op in ipairs { "encode", "decode" } do
    row(string.format("%s %s", op, k[2]), codec[k[1] .. "_" .. op .. "_ours"], "lua-cjson",
      codec[k[1] .. "_" .. op .. "_cjson"], fmt_mbs, { op = ">=", value = 1.0 }, codec.error)
  end
end
row("decode unicode strings written as \\u escapes", codec.uescaped_decode_ours, "lua-cjson",
  codec.uescaped_decode_cjson, fmt_mbs, { op = ">=", value = 1.0 }, codec.error)
if exact == nil then unmeasured = unmeasured + 1 end
row("noise floor: lua-cjson encode vs itself (small objects)", codec.noise_a, "lua-cjson", codec.noise_b,
  fmt_mbs, nil)
rows[#rows + 1] = { "codec integer-exact (documents round-trip; ±2^63-1, 2^53+1)",
  codec.exact_docs and string.format("documents: %s, big integers: %s", codec.exact_docs, codec.exact_bigints)
    or "n/a", "—", "—", "exact", exact == nil and "n/a" or (exact and "yes" or "**MISSED**") }
if exact == false then missed[#missed + 1] = "codec integer-exact" end

local function growth(r)
  if r.error or not r.rss_kb_1 then return nil end
  return (r.rss_kb_2 - r.rss_kb_1) / 1024
end
local raw_growth = growth(rss_raw)
row("RSS growth 1k → 100k calls, client:invoke", growth(rss_seq), "raw libcurl loop", raw_growth, fmt_mb,
  { op = "<", value = 1.0, on = "ours", text = "1 MB" }, rss_seq.error, true)
row("RSS growth 1k → 100k calls, invoke_all c16 ×1000", growth(rss_all), "raw libcurl loop", raw_growth, fmt_mb,
  { op = "<", value = 1.0, on = "ours", text = "1 MB" }, rss_all.error, true)

local stall_fig = "nginx: instant location req/s, 8 × 200 ms calls in flight, cosocket client"
local function fmt_slow_rate(v) return v and v < 10 and string.format("%.1f/s", v) or fmt_rate(v) end
row(stall_fig, stall.ngx, "the same location idle", stall.idle, fmt_slow_rate, { op = ">=", value = 0.3 },
  stall.error)
row(stall_fig, stall.ngx, "the blocking C invoke", stall.blocking, fmt_slow_rate, { op = ">=", value = 10 },
  stall.error)

------------------------------------------------------------------- machine
local function first_line(cmd)
  local text = sh(cmd)
  return (text:match("[^\n]*") or ""):gsub("%s+$", "")
end
local machine = {
  { "date", os.date("!%Y-%m-%d %H:%M:%S UTC", started) },
  { "uname -a", first_line("uname -a") },
  { "CPU", first_line("grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'") },
  { "cores", first_line("nproc") },
  { "memory", first_line("grep MemTotal /proc/meminfo | sed 's/MemTotal: *//'") },
  { "load average at start / end", (env("BENCH_LOADAVG") or "?") .. " / "
    .. first_line("cut -d' ' -f1-3 /proc/loadavg") },
  { "processes using ≥ 20 % of a CPU at start", (env("BENCH_BUSY") or "") ~= "" and env("BENCH_BUSY") or "none" },
  { "libcurl", first_line("pkg-config --modversion libcurl") },
  { "nginx", first_line("nginx -v 2>&1 | sed 's/.*version: //'") },
  { "gateway", env("BENCH_GATEWAY") or "bin/cloudbase-gateway (gateway/test/config.json)" },
  { "Lua", first_line("lua5.4 -v") },
  { "lua-cjson", first_line("lua5.4 -e 'print(require(\"cjson\")._VERSION)'") },
  { "LuaSocket", first_line("lua5.4 -e 'print(require(\"socket\")._VERSION)'") },
  { "wrk", first_line("wrk -v 2>&1 | head -1 | cut -d' ' -f1-2") },
  { "cc", first_line("cc --version") },
  { "commit", first_line("git rev-parse --short HEAD 2>/dev/null || echo unknown")
    .. first_line("n=$(git status --porcelain src 2>/dev/null | wc -l); [ \"$n\" -gt 0 ] && "
      .. "echo \" (+ $n uncommitted files in src/)\" || true") },
}

--------------------------------------------------------------------- output
local headers = { "figure", "this module", "peer", "ratio", "target", "met?" }

local function text_table()
  local width = {}
  local all = { headers }
  for _, r in ipairs(rows) do all[#all + 1] = r end
  for _, r in ipairs(all) do
    for i = 1, #headers do width[i] = math.max(width[i] or 0, utf8.len(r[i]) or #r[i]) end
  end
  local lines = {}
  for n, r in ipairs(all) do
    local cells = {}
    for i = 1, #headers do
      cells[i] = r[i] .. string.rep(" ", width[i] - (utf8.len(r[i]) or #r[i]))
    end
    lines[#lines + 1] = table.concat(cells, "  ")
    if n == 1 then
      local dashes = {}
      for i = 1, #headers do dashes[i] = string.rep("-", width[i]) end
      lines[#lines + 1] = table.concat(dashes, "  ")
    end
  end
  return table.concat(lines, "\n")
end

local function md_table()
  local lines = { "| " .. table.concat(headers, " | ") .. " |",
    "|" .. string.rep(" --- |", #headers) }
  for _, r in ipairs(rows) do
    local cells = {}
    for i = 1, #headers do cells[i] = (r[i]:gsub("|", "\\|")) end
    lines[#lines + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  return table.concat(lines, "\n")
end

local function samples_text()
  local names = {}
  for name in pairs(samples) do names[#names + 1] = name end
  table.sort(names)
  local lines = {}
  for _, name in ipairs(names) do
    local s, vals = samples[name], {}
    for i, v in ipairs(samples[name]) do vals[i] = string.format(v < 10 and "%.4f" or "%.0f", v) end
    lines[#lines + 1] = string.format("- `%s`: %s%s", name, table.concat(vals, ", "),
      s.error and ("; error: " .. s.error) or "")
  end
  for name, r in pairs { rss_raw = rss_raw, rss_seq = rss_seq, rss_all = rss_all } do
    lines[#lines + 1] = string.format("- `%s`: VmRSS %s kB → %s kB%s%s", name, tostring(r.rss_kb_1),
      tostring(r.rss_kb_2),
      r.lua_kb_1 and string.format(" (Lua heap %.0f kB → %.0f kB)", r.lua_kb_1, r.lua_kb_2) or "",
      r.error and ("; error: " .. r.error) or "")
  end
  table.sort(lines)
  return table.concat(lines, "\n")
end

local elapsed = require("socket").gettime() - clock0
local tbl = text_table()
print()
print(tbl)
for i, n in ipairs(notes) do print(string.format("[%d] %s", i, n)) end
print()
local function verdict()
  local parts = {}
  if #missed > 0 then parts[#parts + 1] = "MISSED targets: " .. table.concat(missed, "; ") .. "." end
  if unmeasured > 0 then
    parts[#parts + 1] = string.format("%d target%s could not be measured (n/a).", unmeasured,
      unmeasured == 1 and "" or "s")
  end
  if #parts == 0 then parts[1] = "All targets met." end
  return table.concat(parts, " ")
end
print(verdict())
print(string.format("(%.0f s; written to %s)", elapsed, out_file))

local md = {}
local function w(s) md[#md + 1] = s or "" end
w("# Benchmark results")
w()
w("Written by `make bench` (`bench/run`); every figure below comes from one run, and each")
w("ratio compares two figures measured in that same run. See `bench/README.md` for the")
w("method and for what bounds the targets that are missed. The loopback part comes first;")
w("the network part (TLS through the latency proxy, `BENCH=net`) is the last section.")
w()
w("## Machine")
w()
for _, m in ipairs(machine) do w(string.format("- %s: `%s`", m[1], m[2])) end
w()
w("## Results (loopback)")
w()
w(md_table())
w()
for i, n in ipairs(notes) do w(string.format("[%d] %s  ", i, n)) end
w()
w("**" .. verdict() .. "**")
w()
w("## Method")
w()
w(string.format("- Payload: the same %d-byte JSON object for every contender (curl and wrk send the",
  payload.bytes))
w("  module's encoding of it; lua-cjson's encoding has the same length). Echo answers the same JSON.")
w(string.format("- Loopback network figures: best of %d rounds; in each round the contenders run one after another",
  repeats))
w(string.format("  (interleaved), each in a fresh process with its own warm-up: %.1f s per sequential",
  SEQ_SECONDS))
w(string.format("  sample, %.1f s of invoke_all batches of 2000 calls, %d s per wrk sample.", ALL_SECONDS,
  WRK_SECONDS))
if server_cpu then
  w(string.format("- Placement: the gateway's nginx workers pinned to CPU %d. Sequential figures are taken",
    server_cpu))
  w(string.format("  with the client pinned to CPU %d (the gateway's core) and to CPU %d; concurrent and", server_cpu,
    other_cpu))
  w(string.format("  sleep figures with the client on CPU %d. Codec and RSS runs are not pinned.", other_cpu))
else
  w("- Placement: nothing pinned (the gateway could not be pinned, or one CPU).")
end
w("- The module and luasocket + lua-cjson decode every answer into Lua values; the raw libcurl")
w("  loop and wrk only check it. luasocket opens a new TCP connection per call.")
w("- Sleep: best of " .. repeats .. " rounds; \"new client\" includes opening the 200 connections.")
w("- Codec: process CPU time, best of 5 interleaved repeats of at least 0.25 s each; MB/s counts")
w("  the bytes of the module's encoding of the document for both codecs, so the ratio is a ratio")
w("  of times. Decoders read the same text. Numbers are ones lua-cjson holds exactly. The")
w("  \"noise floor\" row times lua-cjson against itself the same way: a codec ratio within that")
w("  distance of 1.0 is a tie.")
w("- RSS: VmRSS after a full GC, after 1,000 and after 100,000 calls in one process; the")
w("  invoke_all variant runs a full GC after each batch of 1000, so that the Lua heap's")
w("  high-water mark between GC cycles (~1 MB of result tables a batch) is not taken for")
w("  the module's memory.")
w("- nginx: one worker of the nginx spec suite's server (spec/nginx); eight curl processes each")
w("  call /t/slow (a 200 ms gateway function) back to back while one luasocket loop requests")
w("  /t/instant on a kept-alive connection for 2 s; best of " .. stall_rounds .. " rounds per mode. The")
w("  blocking row's calls use client:invoke over libcurl, the cosocket row cloudbase.functions.ngx.")
w(string.format("- Whole run: %.0f s.", elapsed))
w()
w("## Samples")
w()
w(samples_text())
w()
-- Keep the network section bench/net.lua wrote (BENCH=net updates only that one).
local prev = io.open(out_file, "r")
local net_section = prev and prev:read("a"):match("<!%-%- network: begin.-<!%-%- network: end %-%->")
if prev then prev:close() end
if net_section then w(net_section) w() end
local f = assert(io.open(out_file, "w"))
f:write(table.concat(md, "\n"))
f:close()
