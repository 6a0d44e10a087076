-- Fault: a 200 JSON body of about event.bytes bytes (default 8 MiB).
return function(event, context)
  local bytes = tonumber(event.bytes) or 8 * 1024 * 1024
  local filler = math.max(0, bytes - #'{"data":""}')
  return context.raw_json('{"data":"' .. string.rep("x", filler) .. '"}')
end
