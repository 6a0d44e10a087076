-- Function security rules: parse once at start, evaluate per request.
--
-- A rule is `true`, `false` or a string expression. Supported expressions
-- (a small subset of the CloudBase rule language, enough for its documented
-- cases):
--   term  := "auth != null" | "auth == null"
--          | "auth.<field> == '<text>'" | "auth.<field> != '<text>'"
--          | "true" | "false"
--   expr  := term { "&&" term } { "||" term { "&&" term } }
-- `&&` binds tighter than `||`; there are no parentheses.
-- <field> is one of uid, loginType. `auth` is null for no user identity.
local M = {}

local FIELDS = { uid = true, loginType = true }

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- Split s on a literal separator.
local function split(s, sep)
  local parts, start = {}, 1
  while true do
    local i, j = s:find(sep, start, true)
    if not i then
      parts[#parts + 1] = s:sub(start)
      return parts
    end
    parts[#parts + 1] = s:sub(start, i - 1)
    start = j + 1
  end
end

local function parse_term(text)
  local t = trim(text)
  if t == "true" then
    return function() return true end
  elseif t == "false" then
    return function() return false end
  end
  local op = t:match("^auth%s*([!=]=)%s*null$")
  if op == "!=" then
    return function(auth) return auth ~= nil end
  elseif op == "==" then
    return function(auth) return auth == nil end
  end
  local field, cmp, value = t:match("^auth%.([%a_]+)%s*([!=]=)%s*'([^']*)'$")
  if not field then
    field, cmp, value = t:match('^auth%.([%a_]+)%s*([!=]=)%s*"([^"]*)"$')
  end
  if not field then
    return nil, "unsupported rule term: " .. t
  end
  if not FIELDS[field] then
    return nil, "unsupported auth field in rule: " .. field
  end
  if cmp == "==" then
    return function(auth) return auth ~= nil and auth[field] == value end
  end
  return function(auth) return auth == nil or auth[field] ~= value end
end

-- compile(rule) -> predicate(auth) | nil, err
function M.compile(rule)
  if rule == true then
    return function() return true end
  elseif rule == false then
    return function() return false end
  elseif type(rule) ~= "string" then
    return nil, "rule must be true, false or a string expression"
  end
  local alternatives = {}
  for _, alt in ipairs(split(rule, "||")) do
    local terms = {}
    for _, term in ipairs(split(alt, "&&")) do
      local pred, err = parse_term(term)
      if not pred then
        return nil, err
      end
      terms[#terms + 1] = pred
    end
    alternatives[#alternatives + 1] = terms
  end
  return function(auth)
    for _, terms in ipairs(alternatives) do
      local all = true
      for _, pred in ipairs(terms) do
        if not pred(auth) then
          all = false
          break
        end
      end
      if all then
        return true
      end
    end
    return false
  end
end

return M
