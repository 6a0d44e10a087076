-- Fault: answers status event.status with body event.body and content type
-- event.content_type, verbatim.
return function(event, context)
  local headers = {}
  if type(event.content_type) == "string" then
    headers["Content-Type"] = event.content_type
  end
  return context.response{
    status = tonumber(event.status) or 200,
    headers = headers,
    body = type(event.body) == "string" and event.body or "",
  }
end
