-- JSON decode -> encode round trip. Whatever decodes must encode, the text must decode to
-- the same value (integers stay integers, floats keep their bits, empty arrays keep
-- array_mt, null stays functions.null). (Not the same text: object keys come out in table
-- iteration order, which two equal tables need not share.)
local functions = require "cloudbase.functions"
local lib = require "lib"

local json = functions.json
local DECODE_CODES = { DECODE_ERROR = true }

return function(input)
  local ok, value = lib.pcall_in_coroutine(json.decode, input)
  if not ok then
    lib.check_error(value, "decode", DECODE_CODES)
    return
  end
  local encoded, text = lib.pcall_in_coroutine(json.encode, value)
  if not encoded then
    lib.fail("%s decoded, but its value does not encode: %s", input, text)
  end
  local ok2, again = pcall(json.decode, text)
  if not ok2 then
    lib.fail("encode(decode(%s)) = %s does not decode: %s", input, text, again)
  end
  lib.same(value, again, "decode(encode(decode(input)))")
end
