-- Fault: 200 application/json whose body is not JSON.
return function(_, context)
  return context.raw_json('{"truncated": [1, 2, ')
end
