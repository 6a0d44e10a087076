-- Fault: 503 with an empty body.
return function(_, context)
  return context.response{ status = 503, body = "" }
end
