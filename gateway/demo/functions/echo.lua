-- Answers with the request body, byte for byte.
return function(_, context)
  return context.raw_json(context.raw_body)
end
