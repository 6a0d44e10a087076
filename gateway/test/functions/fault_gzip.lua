-- Fault: a large, repetitive JSON body, gzip-encoded when the request says
-- Accept-Encoding: gzip.
local gzip = require "cloudbase_gateway.gzip"

return function(event, context)
  local items = {}
  for i = 1, tonumber(event.items) or 2000 do
    items[i] = string.format('{"id":%d,"name":"item","tags":["a","b","c"]}', i)
  end
  local text = '{"items":[' .. table.concat(items, ",") .. ']}'
  local accept = context.headers["accept-encoding"]
  if type(accept) == "table" then
    accept = table.concat(accept, ",")
  end
  local headers = { ["Content-Type"] = "application/json", ["Vary"] = "Accept-Encoding" }
  if accept and accept:lower():find("gzip", 1, true) then
    text = assert(gzip.compress(text))
    headers["Content-Encoding"] = "gzip"
  end
  return context.response{ status = 200, headers = headers, body = text }
end
