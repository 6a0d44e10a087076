-- wrk script: the same POST the other contenders make.
-- BENCH_BODY_FILE names the payload file, BENCH_TOKEN the API key.
-- luacheck: globals wrk
local f = assert(io.open(assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set"), "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
-- The headers the module sends (0.1.0), so that the server does the same work.
wrk.headers["Accept"] = "application/json, text/plain;q=0.9, */*;q=0.8"
wrk.headers["Accept-Encoding"] = "deflate, gzip, br, zstd"
wrk.headers["User-Agent"] = "lua-cloudbase-functions/0.1.0"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "test-api-key")
