-- bin/cloudbase-fn, run as a child process against the local gateway: every subcommand
-- and option, stdin, exit codes, JSON Lines order, a 100k-line batch with bounded memory,
-- the progress bar under a pseudo-terminal, and that the token is never printed.
local cjson = require "cjson"
local gateway = require "spec.support.gateway"
local lv = require "spec.support.lua_version"
local has = require("spec.support.assertions").has

local q = gateway.quote
local ROOT = gateway.root
if ROOT:sub(1, 1) ~= "/" then
  ROOT = gateway.run("cd " .. gateway.quote(ROOT) .. " && pwd"):gsub("\n$", "")
end
local CLI = ROOT .. "/bin/cloudbase-fn"
-- lv.command: the interpreter of this run (make asan uses an instrumented host)
local LUA = lv.command
-- The default build with Lua 5.4 (build/5.4, as make builds it): what the shebang and
-- `make install` use. Other runs show the two tests that need it as pending.
local DEFAULT_BUILD = not os.getenv("SPEC_LUA") and LUA == "lua5.4"
  and (os.getenv("MODULE_BUILD") or "build/5.4"):gsub("/$", "") == "build/5.4"
local function it_default_build(name, fn)
  if DEFAULT_BUILD then
    it(name, fn)
  else
    pending(name .. " [the shebang's lua5.4 with build/5.4; this run is " .. LUA .. "]")
  end
end
local API_KEY = gateway.API_KEY

local write = gateway.write_file

local function slurp(path)
  return gateway.read_file(path) or ""
end

-- A new empty file's name (kept, so that no later tmpname returns it again).
local function tmpname()
  return os.tmpname()
end

-- The command line that runs the CLI with `args` (a list, each quoted), in a clean
-- environment plus `env`, loading the module this run built.
local function command(args, env)
  local parts = { "env -u CLOUDBASE_TOKEN -u CLOUDBASE_BASE_URL -u CLOUDBASE_ENV_ID", lv.child_env() }
  for k, v in pairs(env or {}) do
    parts[#parts + 1] = k .. "=" .. q(v)
  end
  parts[#parts + 1] = LUA .. " " .. q(CLI)
  for _, a in ipairs(args) do
    parts[#parts + 1] = q(a)
  end
  return table.concat(parts, " ")
end

-- cli(args, { env =, stdin = text | stdin_file = path }) -> { out, err, code }
local function cli(args, opts)
  opts = opts or {}
  local tmp = tmpname()
  local stdin = opts.stdin_file or "/dev/null"
  if opts.stdin then
    stdin = tmp .. ".in"
    write(stdin, opts.stdin)
  end
  local out = gateway.run(command(args, opts.env) .. " <" .. q(stdin) .. " >" .. q(tmp .. ".out")
    .. " 2>" .. q(tmp .. ".err") .. "; echo $?")
  local res = { out = slurp(tmp .. ".out"), err = slurp(tmp .. ".err"),
                code = tonumber(out:match("(%d+)%s*$")) }
  for _, suffix in ipairs({ "", ".out", ".err", ".in" }) do
    os.remove(tmp .. suffix)
  end
  return res
end

-- Runs `shell` (a command line) with stdout and stderr on a pseudo-terminal; returns
-- what the terminal showed (CR LF turned back into LF) and the exit code.
local function on_terminal(shell)
  local out = gateway.run("script -qec " .. q(shell) .. " /dev/null </dev/null; echo \"@@$?\"")
  local shown, code = out:match("^(.*)@@(%d+)%s*$")
  return (shown:gsub("\r\n", "\n")), tonumber(code)
end

-- The lists one after the other, as one new list.
local function join(...)
  local all = {}
  for _, list in ipairs({ ... }) do
    for _, a in ipairs(list) do
      all[#all + 1] = a
    end
  end
  return all
end

local function lines_of(text)
  local list = {}
  for line in text:gmatch("([^\n]*)\n") do
    list[#list + 1] = line
  end
  return list
end

-- Peak RSS in KiB of the command line `shell`, measured by GNU time.
local function peak_rss(shell)
  local tmp = tmpname()
  local out = gateway.run("/usr/bin/time -f %M -o " .. q(tmp) .. " sh -c " .. q(shell)
    .. "; echo $?")
  local kib = tonumber(slurp(tmp):match("(%d+)%s*$"))
  os.remove(tmp)
  return kib, tonumber(out:match("(%d+)%s*$"))
end

describe("cloudbase-fn", function()
  local gw = gateway.for_describe({ reset = true })

  -- Waits until no function runs any more: a call the client gave up on (--timeout) keeps
  -- running in the gateway and would show up in the next test's invocation log.
  local function settle()
    for _ = 1, 50 do
      local busy = false
      for _, n in pairs(gw:invocations().in_flight) do
        busy = busy or n > 0
      end
      if not busy then
        return
      end
      gateway.run("sleep 0.1")
    end
    error("functions still running after 5 s")
  end

  -- The usual connection: the gateway's URL, the token from the environment.
  local function run(args, opts)
    opts = opts or {}
    opts.env = opts.env or { CLOUDBASE_TOKEN = API_KEY }
    return cli(join(args, { "--base-url", gw.url }), opts)
  end

  describe("help and version", function()
    it("--version names the command, the module and the interpreter", function()
      local res = cli({ "--version" })
      assert.equals(0, res.code)
      assert.matches("^cloudbase%-fn 0%.1%.0 %(cloudbase%.functions 0%.1%.0, [%w%. %-]+%)\n$",
        res.out)
    end)

    it("--help lists the commands and the exit codes; each command's help has examples",
      function()
        local res = cli({ "--help" })
        assert.equals(0, res.code)
        for _, word in ipairs({ "invoke", "batch", "gateway", "Exit codes:", "Examples:" }) do
          assert.is_true(has(res.out, word), word)
        end
        for _, cmd in ipairs({ "invoke", "batch", "gateway" }) do
          res = cli({ cmd, "--help" })
          assert.equals(0, res.code, res.err)
          assert.is_true(has(res.out, "Examples:"), cmd)
          assert.is_true(has(res.out, "cloudbase-fn " .. cmd), cmd)
        end
        -- every option of invoke is described
        res = cli({ "help", "invoke" })
        for _, option in ipairs({ "--env", "--intl", "--base-url", "--token", "--token-file",
                                  "--qualifier", "--webfn", "--method", "--path", "--query",
                                  "--header", "--timeout", "--connect-timeout", "--ca-file",
                                  "--proxy", "--http1.1", "--compact", "--pretty", "--raw",
                                  "--include", "--json-errors" }) do
          assert.is_true(has(res.out, option), option)
        end
      end)

    it_default_build("runs from the checkout by its shebang, finding build/5.4 next to bin/", function()
      local out = gateway.run("cd / && env -u LUA_CPATH -u LUA_CPATH_5_4 " .. q(CLI)
        .. " --version 2>&1; echo $?")
      assert.matches("^cloudbase%-fn 0%.1%.0 .*\n0\n$", out)
    end)

    it_default_build("make install puts it in $(BINDIR) with the shebang of $(LUA)", function()
      local base = tmpname()
      local dest = base .. ".d"
      local out = gateway.run("make -s -C " .. q(ROOT) .. " install DESTDIR=" .. q(dest)
        .. " LUA=lua5.4 2>&1; echo $?")
      assert.matches("0\n$", out)
      local installed = dest .. "/usr/local/bin/cloudbase-fn"
      assert.equals("#!/usr/bin/env lua5.4", slurp(installed):match("^[^\n]*"))
      out = gateway.run("cd / && env LUA_CPATH=" .. q(dest .. "/usr/local/lib/lua/5.4/?.so;;")
        .. " " .. q(installed) .. " --version 2>&1; echo $?")
      gateway.run("rm -rf " .. q(dest) .. " " .. q(base))
      assert.matches("^cloudbase%-fn 0%.1%.0 .*\n0\n$", out)
    end)
  end)

  describe("invoke", function()
    local DOC = '{"b":1,"a":[1,-2.5e-3,{"id":9007199254740993}],"s":"x y\\"z","e":{},"l":[]}'

    it("prints a JSON result compact when piped: key order and 64-bit integers exact",
      function()
        local res = run({ "invoke", "echo", DOC })
        assert.equals(0, res.code, res.err)
        assert.equals(DOC .. "\n", res.out)
        assert.equals("", res.err)
      end)

    it("--pretty indents, keeping every token", function()
      local res = run({ "invoke", "echo", DOC, "--pretty" })
      assert.equals(0, res.code, res.err)
      assert.equals(table.concat({
        "{",
        '  "b": 1,',
        '  "a": [',
        "    1,",
        "    -2.5e-3,",
        "    {",
        '      "id": 9007199254740993',
        "    }",
        "  ],",
        '  "s": "x y\\"z",',
        '  "e": {},',
        '  "l": []',
        "}",
        "" }, "\n"), res.out)
    end)

    it("--compact removes the whitespace a function sent; --raw keeps the body untouched",
      function()
        local spaced = '{ "n" : 1.50e3 ,\n "t": "a b" , "l" : [ ] }'
        local res = run({ "invoke", "echo", spaced, "--compact" })
        assert.equals('{"n":1.50e3,"t":"a b","l":[]}\n', res.out)
        res = run({ "invoke", "echo", spaced, "--raw" })
        assert.equals(0, res.code)
        assert.equals(spaced, res.out)
      end)

    it("pretty-prints on a terminal", function()
      local shown, code = on_terminal(command({ "invoke", "echo", '{"a":[1]}', "--base-url",
        gw.url, "--token", API_KEY }))
      assert.equals(0, code)
      assert.equals('{\n  "a": [\n    1\n  ]\n}\n', shown)
      shown = on_terminal(command({ "invoke", "echo", '{"a":[1]}', "--base-url", gw.url,
        "--token", API_KEY, "--compact" }))
      assert.equals('{"a":[1]}\n', shown)
    end)

    it("takes the payload from @file and from stdin, {} by default", function()
      local file = tmpname()
      write(file, '{"from":"file"}')
      local res = run({ "invoke", "echo", "@" .. file })
      os.remove(file)
      assert.equals('{"from":"file"}\n', res.out)
      res = run({ "invoke", "echo", "-" }, { stdin = '{"from":"stdin"}\n' })
      assert.equals('{"from":"stdin"}\n', res.out)
      res = run({ "invoke", "echo" })
      assert.equals("{}\n", res.out)
    end)

    it("prints a text result as it is, and nothing more; null as null", function()
      local res = run({ "invoke", "hello" })
      assert.equals(0, res.code)
      assert.equals("Hello fn", res.out)
      res = run({ "invoke", "nil_result" })
      assert.equals("null\n", res.out)
    end)

    it("-i prints status, request id, content type and timings on stderr", function()
      local res = run({ "invoke", "hello", "-i" })
      assert.equals(0, res.code)
      assert.equals("Hello fn", res.out)
      local id = res.err:match("request_id: (%S+)")
      assert.equals(gw:invocations().entries[1].request_id, id)
      assert.matches("status: 200\n", res.err)
      assert.matches("content_type: text/plain; charset=utf%-8\n", res.err)
      assert.matches("timings_ms: dns=[%d.]+ connect=[%d.]+ tls=[%d.]+ first_byte=[%d.]+ "
        .. "total=[%d.]+\n", res.err)
    end)

    it("--qualifier picks the version, -H adds headers", function()
      local res = run({ "invoke", "versioned", "--qualifier", "2" })
      assert.equals('{"version":"2"}\n', res.out)
      res = run({ "invoke", "inspect", "-H", "X-One: 1", "--header", "X-Two:  two words " })
      local seen = cjson.decode(res.out).headers
      assert.equals("1", seen["x-one"])
      assert.equals("two words", seen["x-two"])
    end)

    it("--webfn with --method, --path and repeated --query", function()
      local res = run({ "invoke", "web", "--webfn", "--method", "GET", "--path", "/a/b",
                        "--query", "x=1", "--query", "x=2", "--query", "y=z w" })
      assert.equals(0, res.code, res.err)
      local seen = cjson.decode(res.out)
      assert.equals("GET", seen.method)
      assert.equals("/a/b", seen.path)
      assert.same({ "1", "2" }, seen.query.x)
      assert.equals("z w", seen.query.y)
      -- a web function's payload is sent as the body, whatever it is
      res = run({ "invoke", "web", "--webfn", "not json" })
      assert.equals("not json", cjson.decode(res.out).body)
    end)

    it("--timeout ends a slow call: TIMEOUT, exit 3", function()
      local res = run({ "invoke", "sleep", '{"ms":800}', "--timeout", "0.3" })
      settle()
      assert.equals(3, res.code)
      assert.equals("", res.out)
      assert.matches("^TIMEOUT: ", res.err)
    end)

    it("--connect-timeout reaches the client (a bad value is refused: exit 2)", function()
      local res = run({ "invoke", "echo", "--connect-timeout", "5" })
      assert.equals(0, res.code, res.err)
      res = run({ "invoke", "echo", "--connect-timeout=-1" })
      assert.equals(2, res.code)
      assert.matches("^INVALID_ARGUMENT: .*connect_timeout", res.err)
    end)

    it("no answer: NETWORK_ERROR, exit 3", function()
      local res = cli({ "invoke", "echo", "--base-url", "http://127.0.0.1:1", "--token", "x" })
      assert.equals(3, res.code)
      assert.matches("^NETWORK_ERROR: ", res.err)
    end)

    it("a gateway error: exit 1, 'CODE: message (status N, request_id ID)' on stderr",
      function()
        local res = run({ "invoke", "throws" })
        assert.equals(1, res.code)
        assert.equals("", res.out)
        local id = gw:invocations().entries[1].request_id
        assert.matches("^FUNCTION_INVOCATION_FAILED: function throws failed: .*boom %(status 500, "
          .. "request_id " .. id:gsub("%-", "%%-") .. "%)\n$", res.err)
        res = run({ "invoke", "fault_malformed", "--raw" })
        assert.equals(1, res.code)
        assert.equals("", res.out)
        assert.matches("^INVALID_RESPONSE: response body is not valid JSON", res.err)
        res = run({ "invoke", "nope" })
        assert.equals(1, res.code)
        assert.matches("^FUNCTION_NOT_FOUND: .* %(status 404, request_id [%w%-]+%)\n$", res.err)
      end)

    it("--json-errors prints the error object as JSON", function()
      local res = run({ "invoke", "throws", "--json-errors" })
      assert.equals(1, res.code)
      local err = cjson.decode(res.err)
      assert.equals("FUNCTION_INVOCATION_FAILED", err.code)
      assert.equals(500, err.status)
      assert.equals(gw:invocations().entries[1].request_id, err.request_id)
      assert.is_true(has(err.message, "boom"))
      -- an HTML 502 keeps its body
      res = run({ "invoke", "fault_html502", "--json-errors" })
      err = cjson.decode(res.err)
      assert.equals("HTTP_ERROR", err.code)
      assert.equals(502, err.status)
      assert.is_true(has(err.body, "502 Bad Gateway"))
      -- and usage errors too
      res = run({ "invoke", "echo", "--bogus", "--json-errors" })
      assert.equals(2, res.code)
      assert.same({ code = "INVALID_ARGUMENT", message = "unknown option '--bogus'" },
        cjson.decode(res.err))
    end)

    it("usage errors exit 2 and send nothing", function()
      local cases = {
        { { "invoke" }, "missing argument 'name'" },
        { { "invoke", "echo", "{" }, "INVALID_ARGUMENT: the payload is not valid JSON" },
        { { "invoke", "echo", '{"a":1} x' }, "INVALID_ARGUMENT: the payload is not valid JSON" },
        { { "invoke", "echo", "[1]" }, "INVALID_ARGUMENT: payload must be a JSON object" },
        { { "invoke", "echo", "@/nonexistent/p.json" }, "cannot read the payload file" },
        { { "invoke", "echo", "--pretty", "--compact" }, "can not be used together" },
        { { "invoke", "echo", "--token", "a", "--token-file", "b" }, "can not be used together" },
        { { "invoke", "echo", "-H", "no colon" }, "a header is 'Name: value'" },
        { { "invoke", "web", "--webfn", "--query", "novalue" }, "a query parameter is k=v" },
        { { "invoke", "echo", "--method", "GET" }, "method is for web functions" },
        { { "invoke", "bad name!" }, "INVALID_ARGUMENT: invalid function name" },
        { { "frobnicate" }, "unknown command 'frobnicate'" },
      }
      for _, case in ipairs(cases) do
        local res = run(case[1])
        assert.equals(2, res.code, table.concat(case[1], " ") .. ": " .. res.err)
        assert.is_true(has(res.err, case[2]), case[2] .. " not in: " .. res.err)
        assert.equals("", res.out)
      end
      assert.same({}, gw:invocations().entries)
      local res = cli({})
      assert.equals(2, res.code)
      assert.is_true(has(res.err, "a command is required"), res.err)
    end)
  end)

  describe("credentials", function()
    it("from --token-file (whitespace trimmed), $CLOUDBASE_TOKEN and --token", function()
      local file = tmpname()
      write(file, "\n  " .. API_KEY .. "  \n")
      local res = cli({ "invoke", "echo", "--base-url", gw.url, "--token-file", file })
      assert.equals(0, res.code, res.err)
      res = cli({ "invoke", "echo", "--base-url", gw.url }, { env = { CLOUDBASE_TOKEN = API_KEY } })
      assert.equals(0, res.code, res.err)
      res = cli({ "invoke", "echo", "--base-url", gw.url, "--token", API_KEY })
      assert.equals(0, res.code, res.err)
      write(file, " \n")
      res = cli({ "invoke", "echo", "--base-url", gw.url, "--token-file", file })
      os.remove(file)
      assert.equals(2, res.code)
      assert.matches("is empty", res.err)
      res = cli({ "invoke", "echo", "--base-url", gw.url })
      assert.equals(1, res.code)
      assert.matches("^MISSING_CREDENTIALS: ", res.err)
    end)

    it("$CLOUDBASE_BASE_URL is the default gateway; --base-url beats it", function()
      local res = cli({ "invoke", "echo" }, { env = { CLOUDBASE_TOKEN = API_KEY,
                                                      CLOUDBASE_BASE_URL = gw.url } })
      assert.equals(0, res.code, res.err)
      res = cli({ "invoke", "echo", "--base-url", gw.url }, {
        env = { CLOUDBASE_TOKEN = API_KEY, CLOUDBASE_BASE_URL = "http://127.0.0.1:1" } })
      assert.equals(0, res.code, res.err)
    end)

    it("never prints the token: help, results, --include, errors, JSON errors, batch",
      function()
        local secret = "s3cret-" .. tostring(os.time())
        local file = tmpname()
        write(file, API_KEY)
        local good = { "--base-url", gw.url, "--token-file", file }
        local with = join
        local input = tmpname()
        write(input, '{"a":1}\n{"status":500}\nnot json\n')
        local runs = {
          cli({ "--help" }, { env = { CLOUDBASE_TOKEN = API_KEY } }),
          cli({ "invoke", "--help" }, { env = { CLOUDBASE_TOKEN = API_KEY } }),
          cli(with({ "invoke", "echo", "-i" }, good)),
          cli(with({ "invoke", "throws", "-i", "--json-errors" }, good)),
          cli(with({ "invoke", "nope", "-i" }, good)),
          cli(with({ "invoke", "fault_html502", "--json-errors" }, good)),
          cli(with({ "invoke", "sleep", '{"ms":800}', "--timeout", "0.2" }, good)),
          cli(with({ "batch", "fault_status", input }, good)),
          cli(with({ "batch", "echo", input, "--json-errors" }, good)),
          cli({ "invoke", "echo", "--base-url", "http://127.0.0.1:1", "--token", API_KEY, "-i" }),
          cli({ "invoke", "echo", "--base-url", gw.url, "--token", secret, "-i" }),
          cli({ "invoke", "echo", "--base-url", gw.url, "--token", secret, "--json-errors" }),
          cli({ "invoke", "echo", "--base-url", gw.url, "--token", secret .. "\r\nX: y" }),
          cli({ "batch", "echo", input, "--base-url", gw.url, "--token", secret }),
          cli({ "invoke", "echo", "--base-url", "http://u:" .. secret .. "@127.0.0.1:1",
                "--token", secret }),
        }
        settle()
        os.remove(file)
        os.remove(input)
        assert.equals(0, runs[3].code)
        assert.equals(1, runs[11].code)
        assert.equals(2, runs[13].code)
        for i, res in ipairs(runs) do
          for _, text in ipairs({ res.out, res.err }) do
            assert.is_false(has(text, API_KEY), "run " .. i .. ": " .. text)
            assert.is_false(has(text, secret), "run " .. i .. ": " .. text)
          end
        end
      end)
  end)

  describe("batch", function()
    it("writes one row per line in input order, failures mixed in; exit 4", function()
      -- sleep times fall as lines go on, so later lines finish first
      local input, expect = {}, {}
      for i = 1, 24 do
        if i % 6 == 0 then
          input[i], expect[i] = "", "blank"
        elseif i % 6 == 3 then
          input[i], expect[i] = "{oops", "invalid"
        elseif i % 6 == 4 then
          input[i], expect[i] = "[" .. i .. "]", "array"
        else
          input[i], expect[i] = ('{"ms":%d}'):format((25 - i) * 12), (25 - i) * 12
        end
      end
      local res = run({ "batch", "sleep", "-", "--concurrency", "24" },
        { stdin = table.concat(input, "\n") .. "\n" })
      assert.equals(4, res.code, res.err)
      local rows = lines_of(res.out)
      assert.equals(24, #rows)
      local ids = {}
      for _, entry in ipairs(gw:invocations().entries) do
        ids[entry.request_id] = true
      end
      for i, line in ipairs(rows) do
        local row = cjson.decode(line)
        if type(expect[i]) == "number" then
          assert.same({ slept = expect[i] }, row.result, line)
          assert.is_true(row.ok)
          assert.is_true(ids[row.request_id], line)
          assert.matches('^{"ok":true,"result":{"slept":%d+},"request_id":"[%w%-]+"}$', line)
        else
          assert.is_false(row.ok, line)
          assert.equals(i, row.line)
          assert.equals("INVALID_ARGUMENT", row.error.code)
          assert.is_nil(row.error.status)
        end
      end
      assert.equals(12, #gw:invocations().entries)
      assert.equals(12, gw:invocations().max_in_flight.sleep) -- all valid lines at once
      assert.equals("cloudbase-fn batch sleep: 24 calls, 12 ok, 12 failed",
        res.err:match("^(.-) in [%d.]+ s %([%d.]+ calls/s%)\n$"))
    end)

    it("gateway errors carry code, message, request id and status", function()
      local res = run({ "batch", "fault_status", "-" }, { stdin = table.concat({
        '{"status":200,"body":"{\\"i\\": 1}","content_type":"application/json"}',
        '{"status":403,"body":"{\\"code\\":\\"NOPE\\",\\"message\\":\\"no\\"}",'
          .. '"content_type":"application/json"}',
        '{"status":200,"body":"plain text","content_type":"text/plain"}',
        '{"status":200,"body":"","content_type":"application/json"}',
        '{"status":502,"body":"<html>","content_type":"text/html"}',
      }, "\n") })
      assert.equals(4, res.code)
      local rows = lines_of(res.out)
      local entries = gw:invocations().entries
      assert.equals(5, #rows)
      assert.equals('{"ok":true,"result":{"i":1},"request_id":"' .. entries[1].request_id .. '"}',
        rows[1])
      assert.equals('{"ok":false,"error":{"code":"NOPE","message":"no","request_id":"'
        .. entries[2].request_id .. '","status":403},"line":2}', rows[2])
      assert.equals('{"ok":true,"result":"plain text","request_id":"' .. entries[3].request_id
        .. '"}', rows[3])
      assert.equals('{"ok":true,"result":null,"request_id":"' .. entries[4].request_id .. '"}',
        rows[4])
      local row = cjson.decode(rows[5])
      assert.equals("HTTP_ERROR", row.error.code)
      assert.equals(502, row.error.status)
      assert.equals(5, row.line)
      -- a 200 whose JSON body is broken is INVALID_RESPONSE, like the module's invoke
      res = run({ "batch", "fault_malformed", "-" }, { stdin = "{}\n" })
      assert.equals(4, res.code)
      row = cjson.decode(res.out)
      assert.equals("INVALID_RESPONSE", row.error.code)
      assert.equals(200, row.error.status)
      assert.equals(gw:invocations().entries[6].request_id, row.error.request_id)
    end)

    it("all ok: exit 0; the summary on stderr, no progress bar when it is not a terminal;"
      .. " --quiet: nothing", function()
        local res = run({ "batch", "echo", "-" }, { stdin = '{"a":1}\n{"b":2}' })
        assert.equals(0, res.code)
        assert.matches('^{"ok":true,"result":{"a":1},.*\n{"ok":true,"result":{"b":2},.*\n$', res.out)
        assert.matches("^cloudbase%-fn batch echo: 2 calls, 2 ok, 0 failed in [%d.]+ s", res.err)
        assert.is_false(has(res.err, "\r"))
        res = run({ "batch", "echo", "-", "--quiet" }, { stdin = '{"a":1}\n' })
        assert.equals(0, res.code)
        assert.equals("", res.err)
      end)

    it("--concurrency bounds the calls in flight; --qualifier and -H apply to every line",
      function()
        local res = run({ "batch", "sleep", "-", "-c", "3" },
          { stdin = string.rep('{"ms":150}\n', 9) })
        assert.equals(0, res.code, res.err)
        assert.equals(3, gw:invocations().max_in_flight.sleep)
        res = run({ "batch", "versioned", "-", "--qualifier", "1" }, { stdin = "{}\n{}\n{}\n" })
        for _, line in ipairs(lines_of(res.out)) do
          assert.same({ version = "1" }, cjson.decode(line).result)
        end
        res = run({ "batch", "inspect", "-", "-H", "X-Batch: yes" }, { stdin = "{}\n{}\n" })
        for _, line in ipairs(lines_of(res.out)) do
          assert.equals("yes", cjson.decode(line).result.headers["x-batch"])
        end
        for _, bad in ipairs({ "0", "1025", "2.5", "x" }) do
          res = run({ "batch", "echo", "-", "-c", bad })
          assert.equals(2, res.code, bad)
        end
        res = run({ "batch", "echo", "/nonexistent/in.jsonl" })
        assert.equals(2, res.code)
        assert.matches("^INVALID_ARGUMENT: cannot read the input", res.err)
      end)

    it("draws a progress bar on a terminal: done/total, calls/s, failures, ETA", function()
      local input, out = tmpname(), tmpname()
      local lines = {}
      for i = 1, 3000 do
        lines[i] = i % 1000 == 0 and "bad" or ('{"i":%d}'):format(i)
      end
      write(input, table.concat(lines, "\n") .. "\n")
      local shown, code = on_terminal(command({ "batch", "echo", input, "--base-url", gw.url,
        "--token", API_KEY }) .. " >" .. q(out))
      assert.equals(4, code)
      assert.equals(3000, #lines_of(slurp(out)))
      assert.matches("\r\27%[K%[[#%-]+%] %d+/3000 +%d+%%  %d+ calls/s  %d failed", shown)
      assert.matches("ETA %d+:%d%d", shown)
      assert.matches("%] 3000/3000 100%%  %d+ calls/s  3 failed", shown)
      assert.matches("\r\27%[Kcloudbase%-fn batch echo: 3000 calls, 2997 ok, 3 failed", shown)
      -- from a pipe the total is unknown: done, rate and failures
      shown, code = on_terminal("cat " .. q(input) .. " | " .. command({ "batch", "echo", "-",
        "--base-url", gw.url, "--token", API_KEY }) .. " >" .. q(out))
      assert.equals(4, code)
      assert.matches("\r\27%[K3000 done  %d+ calls/s  3 failed", shown)
      assert.is_false(has(shown, "ETA"))
      -- rows on the same terminal start on a line of their own, never after the bar
      shown = on_terminal(command({ "batch", "echo", input, "--base-url", gw.url, "--token",
        API_KEY }))
      local rows, clean = 0, 0
      for before in shown:gmatch('([^\n]?[^\n]?[^\n]?)({"ok")') do
        rows = rows + 1
        if before == "" or before == "\27[K" then
          clean = clean + 1
        end
      end
      assert.equals(3000, rows)
      assert.equals(rows, clean)
      -- --quiet: nothing at all
      shown = on_terminal(command({ "batch", "echo", input, "--base-url", gw.url, "--token",
        API_KEY, "--quiet" }) .. " >" .. q(out))
      os.remove(input)
      os.remove(out)
      assert.equals("", shown)
    end)

    it("streams 100k lines in order with bounded memory", function()
      local small, big, out = tmpname(), tmpname(), tmpname()
      local function make(path, n)
        local fh = assert(io.open(path, "wb"))
        for i = 1, n do
          fh:write('{"i":', i, ',"id":90071992547', ("%05d"):format(i % 100000), "}\n")
        end
        fh:close()
      end
      make(small, 10000)
      make(big, 100000)
      local base = command({ "batch", "echo", "-", "--base-url", gw.url, "--token", API_KEY,
        "--concurrency", "32", "--quiet" })
      local small_kib, small_code = peak_rss(base .. " <" .. q(small) .. " >/dev/null")
      local big_kib, big_code = peak_rss(base .. " <" .. q(big) .. " >" .. q(out))
      assert.equals(0, small_code)
      assert.equals(0, big_code)
      local n, i = 0, 0
      for line in io.lines(out) do
        n = n + 1
        local id
        i, id = line:match('^{"ok":true,"result":{"i":(%d+),"id":90071992547(%d%d%d%d%d)},')
        i = tonumber(i)
        if i ~= n or tonumber(id) ~= n % 100000 then
          break
        end
      end
      os.remove(small)
      os.remove(big)
      os.remove(out)
      assert.equals(100000, n)
      assert.equals(n, i)
      -- ten times the input, about the same memory: well under 64 MiB, and under 8 MiB more
      assert.is_true(big_kib < 64 * 1024, big_kib .. " KiB")
      assert.is_true(big_kib - small_kib < 8 * 1024, small_kib .. " -> " .. big_kib .. " KiB")
    end)
  end)
end)

describe("cloudbase-fn gateway", function()
  local env = {}
  local function stop()
    if env.run_dir then
      cli({ "gateway", "stop", "--run-dir", env.run_dir })
      gateway.run("rm -rf " .. q(env.run_dir))
      env.run_dir = nil
    end
  end
  teardown(stop)

  it("start, status, then invoke over https (--ca-file, --http1.1), --env/--intl through "
    .. "--proxy, stop", function()
    -- $PPID: the gateway stops by itself if this busted process dies
    local out = gateway.run(command({ "gateway", "start", "--config", "gateway/test/config.json",
      "--tls-port", "0", "--access-log" }) .. " --watch-pid $PPID 2>&1; echo \"@@$?\"")
    for k, v in out:gmatch("([%w_]+)=([^\n]*)") do
      env[k] = v
    end
    assert.matches("@@0%s*$", out, out)
    assert.is_string(env.url)
    local res = cli({ "gateway", "status", "--run-dir", env.run_dir })
    assert.equals(0, res.code)
    assert.matches("^running pid=%d+\n$", res.out)

    local tls = { "--base-url", env.tls_url, "--token", API_KEY }
    res = cli(join({ "invoke", "echo", '{"over":"h2"}', "--ca-file", env.ca_file }, tls))
    assert.equals(0, res.code, res.err)
    assert.equals('{"over":"h2"}\n', res.out)
    res = cli(join({ "invoke", "echo", "--ca-file", env.ca_file, "--http1.1" }, tls))
    assert.equals(0, res.code, res.err)
    res = cli(join({ "invoke", "echo" }, tls))
    assert.equals(3, res.code)
    assert.matches("^TLS_ERROR: ", res.err)
    -- the gateway is no CONNECT proxy, but its log shows where the tunnel was to go
    res = cli({ "invoke", "echo", "--env", "test-env", "--intl", "--proxy", env.url, "--token",
                API_KEY })
    assert.equals(3, res.code)
    res = cli({ "invoke", "echo", "--env", "test-env", "--proxy", env.url, "--token", API_KEY })
    assert.equals(3, res.code)

    local log = slurp(env.run_dir .. "/access.log")
    local protocols = {}
    for proto in log:gmatch('"POST /v1/functions/echo (HTTP/[%d.]+)"') do
      protocols[#protocols + 1] = proto
    end
    assert.same({ "HTTP/2.0", "HTTP/1.1" }, protocols)
    assert.is_true(has(log, '"CONNECT test-env.api.intl.tcloudbasegateway.com:443 '))
    assert.is_true(has(log, '"CONNECT test-env.api.tcloudbasegateway.com:443 '))

    local run_dir = env.run_dir
    res = cli({ "gateway", "stop", "--run-dir", run_dir })
    assert.equals(0, res.code, res.err)
    res = cli({ "gateway", "status", "--run-dir", run_dir })
    assert.equals(1, res.code)
    assert.equals("stopped\n", res.out)
    stop()
  end)

  it("refuses an unknown action; passes cloudbase-gateway's own failure through", function()
    local res = cli({ "gateway", "restart" })
    assert.equals(2, res.code)
    assert.matches("the action is start, stop or status", res.err)
    res = cli({ "gateway" })
    assert.equals(2, res.code)
    res = cli({ "gateway", "start", "--no-such-option" })
    assert.equals(1, res.code)
    assert.matches("unknown option", res.err)
    res = cli({ "gateway", "stop" }, { env = { CLOUDBASE_GATEWAY = "/bin/false" } })
    assert.equals(1, res.code)
  end)
end)
