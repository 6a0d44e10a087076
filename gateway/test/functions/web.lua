-- A web function: echoes the HTTP-shaped event as JSON. `?status=NNN`
-- chooses the status; `?header=Name:Value` adds a response header.
local cjson = require "cjson.safe"

return function(event)
  local status = tonumber(event.query.status) or 200
  local headers = { ["Content-Type"] = "application/json", ["X-Web-Function"] = "web" }
  local extra = event.query.header
  if type(extra) == "string" then
    local name, value = extra:match("^([^:]+):(.*)$")
    if name then
      headers[name] = value
    end
  end
  return {
    statusCode = status,
    headers = headers,
    body = cjson.encode({
      method = event.method,
      path = event.path,
      query = event.query,
      raw_query = event.raw_query,
      headers = event.headers,
      body = event.body,
    }),
  }
end
