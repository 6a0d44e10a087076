-- A string result is sent as text/plain.
return function(event)
  local name = type(event.name) == "string" and event.name or "fn"
  return "Hello " .. name
end
