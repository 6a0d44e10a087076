-- Fault: 200 application/json with an empty body.
return function(_, context)
  return context.response{
    status = 200,
    headers = { ["Content-Type"] = "application/json" },
    body = "",
  }
end
