-- One cjson instance for the whole gateway, configured once.
--
-- The gateway runs inside nginx on LuaJIT, so numbers are doubles: integers
-- above 2^53 lose precision and 1.0 becomes 1. Functions that must return
-- exact JSON text use context.raw_json() (see README) instead of tables.
local cjson_safe = require "cjson.safe"

local json = cjson_safe.new and cjson_safe.new() or cjson_safe

-- Reject NaN/Infinity/hex numbers in request bodies: they are not JSON.
if json.decode_invalid_numbers then
  json.decode_invalid_numbers(false)
end
json.encode_sparse_array(true)
json.encode_number_precision(14)

local M = {}

M.null = json.null

-- decode(text) -> value | nil, err
function M.decode(text)
  return json.decode(text)
end

-- encode(value) -> text | nil, err
function M.encode(value)
  return json.encode(value)
end

-- True when text is a JSON object (not an array or scalar). cjson decodes
-- "[]" and "{}" to the same empty table, so the first significant byte
-- decides between object and array.
function M.decode_object(text)
  if type(text) ~= "string" then
    return nil, "body is empty"
  end
  local first = text:match("^[ \t\r\n]*(.)")
  if first == nil then
    return nil, "body is empty"
  end
  if first ~= "{" then
    return nil, "body must be a JSON object"
  end
  local value, err = json.decode(text)
  if value == nil then
    return nil, "body is not valid JSON: " .. tostring(err)
  end
  if type(value) ~= "table" then
    return nil, "body must be a JSON object"
  end
  return value
end

return M
