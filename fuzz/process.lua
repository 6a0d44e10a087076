-- client:process(response) on a response made from the input. It is documented to return
-- `result, info` or `nil, err`, never to raise, whatever the table holds.
--
-- fields: [1] flags, [2] status, [3] body, then header name/value pairs.
--   flags: "s" small max_response_size, "b" no body, "h" no headers table,
--          "e" an elapsed field, "t" status passed as the raw string
--   status: a number when it reads as one, else the string itself
--   header name: "I:n" is the integer key n
--   header value: "L:a;b;c" a list, "N:x" a number, "T:" a table with a field, else the string
local functions = require "cloudbase.functions"
local lib = require "lib"

local clients = {
  default = functions.new { base_url = "http://127.0.0.1:9", token = "fuzz-token" },
  small = functions.new { base_url = "http://127.0.0.1:9", token = "fuzz-token",
                          max_response_size = 64 },
}

local function header_value(s)
  local tag, rest = s:sub(1, 2), s:sub(3)
  if tag == "L:" then
    local list = {}
    for item in (rest .. ";"):gmatch("([^;]*);") do
      list[#list + 1] = item
    end
    return list
  elseif tag == "N:" then
    return tonumber(rest) or rest
  elseif tag == "T:" then
    return { value = rest }
  end
  return s
end

local function header_name(s)
  if s:sub(1, 2) == "I:" then
    return math.tointeger(tonumber(s:sub(3))) or s
  end
  return s
end

return function(_, fields)
  local flags = fields[1] or ""
  local client = flags:find("s", 1, true) and clients.small or clients.default
  local response = {}
  local status = fields[2]
  if status and not flags:find("t", 1, true) then
    status = tonumber(status) or status
  end
  response.status = status
  if not flags:find("b", 1, true) then
    response.body = fields[3]
  end
  if not flags:find("h", 1, true) then
    local headers = {}
    for i = 4, #fields - 1, 2 do
      headers[header_name(fields[i])] = header_value(fields[i + 1])
    end
    response.headers = headers
  end
  if flags:find("e", 1, true) then
    response.elapsed = tonumber(fields[3] or "") or 0.5
  end

  local ok, result, info = lib.pcall_in_coroutine(client.process, client, response)
  if not ok then
    lib.fail("process raised: %s", result)
  end
  if result == nil and functions.is_error(info) then
    lib.check_error(info, "process")
    return
  end
  if type(info) ~= "table" then
    lib.fail("process returned %s and info %s", result, info)
  end
  if math.type(info.status) ~= "integer" or info.status < 100 or info.status > 599 then
    lib.fail("info.status %s", info.status)
  end
  if type(info.headers) ~= "table" then
    lib.fail("info.headers is %s", info.headers)
  end
  for name, value in pairs(info.headers) do
    if type(name) ~= "string" or name:lower() ~= name then
      lib.fail("info.headers[%s] = %s: names must be lower-case strings", name, value)
    end
  end
  -- What the README promises for headers: names lower-cased, a list joined with ", ".
  -- Checked where the input is unambiguous (one name per lower-cased form, strings only).
  local by_lower = {}
  for name in pairs(response.headers or {}) do
    if type(name) == "string" then
      local lower = name:lower()
      by_lower[lower] = by_lower[lower] == nil and name or false
    end
  end
  for lower, name in pairs(by_lower) do
    local given, want = response.headers[name], nil
    if type(given) == "string" then
      want = given
    elseif type(given) == "table" and getmetatable(given) == nil then
      local all_strings = true
      for _, v in ipairs(given) do
        all_strings = all_strings and type(v) == "string"
      end
      want = all_strings and table.concat(given, ", ") or nil
    end
    if name and want ~= nil and info.headers[lower] ~= want then
      lib.fail("header %s given as %s reads back as %s, not %s", name, given, info.headers[lower], want)
    end
  end
  -- Reading the lazy fields must work too.
  local _ = info.timings
end
