-- Shared pieces of the benchmark: the payload every contender sends, clocks,
-- RSS, deep equality and the generated documents of the codec benchmark.
local common = require "common"

local M = {}

M.now = common.now
M.cpu = common.cpu
M.payload = common.payload
M.emit = common.emit
M.equal = common.equal

function M.rss_kb()
  local f = assert(io.open("/proc/self/status", "r"))
  local kb
  for line in f:lines() do
    kb = line:match("^VmRSS:%s+(%d+)")
    if kb then break end
  end
  f:close()
  return tonumber(kb)
end

-- A small deterministic PRNG (LCG), so every run and both codecs see exactly
-- the same documents whatever math.random does on this build.
local function rng(seed)
  local s = seed
  return function(n) -- integer in [0, n)
    s = (s * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
    return (s >> 20) % n
  end
end

local words = { "alpha", "beta", "gamma", "delta", "omega", "tick", "score", "zone",
  "player", "item", "quest", "guild", "level", "rank" }

local function small_object(r, i)
  return {
    id = i,
    name = words[r(#words) + 1] .. "-" .. r(100000),
    level = r(100),
    score = r(1000000000),
    ratio = (2 * r(100000) + 1) / 8, -- never integral, exactly representable
    active = r(2) == 1,
    tags = { words[r(#words) + 1], words[r(#words) + 1] },
    pos = { x = r(2000) - 1000, y = r(2000) - 1000 },
  }
end

-- Numbers lua-cjson can hold exactly (it prints %.14g): integers under 1e12
-- and odd multiples of 1/8 under 1e9 (at most 13 significant digits).
local function number_array(r, count)
  local t = {}
  for i = 1, count do
    local k = r(4)
    if k == 0 then
      t[i] = r(1000000000000) - 500000000000
    elseif k == 1 then
      t[i] = r(1000)
    elseif k == 2 then
      t[i] = (2 * r(500000000) + 1 - 500000000) / 8
    else
      t[i] = (2 * r(10000) + 1) / 8
    end
  end
  return t
end

local pieces = {
  "漢字", "テスト", "한국어", "Привет", "Ελληνικά", "עברית", "العربية", "😀", "🚀🌍",
  "ü", "é", "ß", "中文字符串", "𝄞", "ñandú", "line\nbreak", "tab\there",
  "quote\"d", "back\\slash", "plain ascii words ",
}

local function unicode_strings(r, count)
  local t = {}
  for i = 1, count do
    local parts = {}
    for j = 1, 6 + r(8) do parts[j] = pieces[r(#pieces) + 1] end
    t[i] = table.concat(parts, " ")
  end
  return t
end

local function deep_chain(r, depth)
  local node = words[r(#words) + 1]
  for d = depth, 1, -1 do
    if d % 2 == 0 then
      node = { d = d, c = node }
    else
      node = { d, node }
    end
  end
  return node
end

-- The documents of the codec benchmark. Each is { name, items } where items is a
-- list of values encoded (or decoded) one at a time: many small ones, or a
-- single big one.
function M.documents()
  local r = rng(20240601)
  local docs = {}

  local small = {}
  for i = 1, 2000 do small[i] = small_object(r, i) end
  docs[#docs + 1] = { name = "small objects (2000 x ~140 B)", key = "small", items = small }

  docs[#docs + 1] = { name = "number-heavy array (~1 MB)", key = "numbers",
    items = { number_array(r, 105000) } }

  docs[#docs + 1] = { name = "unicode-heavy strings", key = "unicode",
    items = { unicode_strings(r, 4000) } }

  local chains = {}
  for i = 1, 40 do chains[i] = deep_chain(r, 400) end
  docs[#docs + 1] = { name = "deep nesting (40 x depth 400)", key = "deep", items = { chains } }
  return docs
end

-- A decode-only text: the unicode strings again, with every non-ASCII
-- character written as a \u escape (surrogate pairs above the BMP).
function M.escape_non_ascii(text)
  return (text:gsub(utf8.charpattern, function(ch)
    if #ch == 1 then return ch end
    local cp = utf8.codepoint(ch)
    if cp < 0x10000 then return string.format("\\u%04x", cp) end
    cp = cp - 0x10000
    return string.format("\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF))
  end))
end

return M
