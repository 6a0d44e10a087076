-- A web function: any method, a sub-path and a query; it answers HTTP.
return function(event)
  local name = event.query.name or "web"
  return {
    statusCode = 200,
    headers = { ["Content-Type"] = "text/html; charset=utf-8" },
    body = string.format("<h1>Hello %s</h1><p>%s %s</p>\n", name, event.method, event.path),
  }
end
