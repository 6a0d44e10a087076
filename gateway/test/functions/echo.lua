-- Answers 200 application/json with the request body bytes, verbatim.
return function(_, context)
  return context.raw_json(context.raw_body)
end
