-- luacheck: max line length 120
-- Instructions per call (callgrind's Ir), this module against raw libcurl: the stable
-- counterpart of net.lua's CPU-per-call table, which a shared machine makes noisy.
-- Started by bench/run (BENCH=callgrind), with the environment net.lua gets
-- (BENCH_URL, BENCH_TLS_PORT, BENCH_CA_FILE, BENCH_RAW_CURL, BENCH_BODY_FILE, BENCH_TOKEN).
--
-- Each contender (`net_worker.lua calls`, `raw_curl rate`) runs twice under
-- `valgrind --tool=callgrind`, making BENCH_CG_CALLS (default "100 600") sequential
-- calls after its first; the difference of the two totals
-- over the difference of the counts is the cost of one warm call, start-up, connection
-- and first call cancelled out. BENCH_CG_KEEP=DIR keeps the profiles there
-- (DIR/WHO.WHERE.HTTP.N) for `callgrind_annotate`; comparing a pair that way (the
-- larger run's function costs minus the smaller's) shows where a call's instructions go.
package.path = "./bench/?.lua;" .. package.path

local common = require "common"
local q, sh = common.quote, common.sh
local env = os.getenv

local url = assert(env("BENCH_URL"), "BENCH_URL is not set")
local tls_port = env("BENCH_TLS_PORT")
local ca = env("BENCH_CA_FILE")
local raw_curl = assert(env("BENCH_RAW_CURL"), "BENCH_RAW_CURL is not set")
local body_file = assert(env("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set")
local token = env("BENCH_TOKEN") or "test-api-key"
local keep = env("BENCH_CG_KEEP")
local n1, n2 = (env("BENCH_CG_CALLS") or "100 600"):match("^(%d+)%s+(%d+)$")
n1, n2 = tonumber(n1), tonumber(n2)
assert(n1 and n2 and n2 > n1, "BENCH_CG_CALLS must be two counts, the second larger")
local HOST = "test-env.api.tcloudbasegateway.com" -- a name the gateway's certificate carries

local dir = keep
if not dir then
  dir = os.tmpname() -- a file name of our own, made a directory
  os.remove(dir)
end
assert(os.execute("mkdir -p " .. q(dir)))

-- The command making `n` warm calls for a contender.
local function command(who, where, http, n)
  local base, extra = url, {}
  if where == "tls" then
    base = string.format("https://%s:%s", HOST, tls_port)
    extra = { "ca=" .. q(ca), "resolve=" .. q(string.format("%s:%s:127.0.0.1", HOST, tls_port)) }
  end
  extra[#extra + 1] = "http=" .. http
  if who == "raw" then
    return table.concat({ q(raw_curl), "rate", q(base .. "/v1/functions/echo"), q(body_file), q(token), "1e9", n,
      table.concat(extra, " ") }, " ")
  end
  return table.concat({ "lua5.4 bench/net_worker.lua calls who=module", "url=" .. q(base), "token=" .. q(token),
    "max=" .. n, table.concat(extra, " ") }, " ")
end

-- Total Ir of one run.
local function instructions(who, where, http, n)
  local file = string.format("%s/%s.%s.%s.%d", dir, who, where, http, n)
  local text, ok = sh("valgrind --tool=callgrind --callgrind-out-file=" .. q(file) .. " "
    .. command(who, where, http, n) .. " >/dev/null")
  if not ok then error("callgrind run failed: " .. text:sub(-300)) end
  local f = assert(io.open(file, "r"))
  local total
  for line in f:lines() do
    total = tonumber(line:match("^summary:%s*(%d+)") or line:match("^totals:%s*(%d+)") or "") or total
  end
  f:close()
  if not keep then os.remove(file) end
  return assert(total, "no total in " .. file)
end

local rows = {}
local cases = { { "http", "1.1", "HTTP" } }
if tls_port and ca then
  cases[#cases + 1] = { "tls", "1.1", "HTTPS, HTTP/1.1" }
  cases[#cases + 1] = { "tls", "2", "HTTPS, HTTP/2" }
end
for _, c in ipairs(cases) do
  local per = {}
  for _, who in ipairs { "module", "raw" } do
    io.stderr:write(string.format("[bench callgrind] %s %s\n", who, c[3]))
    per[who] = (instructions(who, c[1], c[2], n2) - instructions(who, c[1], c[2], n1)) / (n2 - n1)
  end
  rows[#rows + 1] = string.format("| %s | %.0f | %.0f | %.2f× |", c[3], per.module, per.raw, per.module / per.raw)
end
if not keep then os.remove(dir) end

print(string.format("Instructions (callgrind Ir) per warm sequential call, from runs of %d and %d calls:", n1, n2))
print()
print("| transport | this module | raw libcurl | ratio |")
print("| --- | --- | --- | --- |")
for _, r in ipairs(rows) do print(r) end
