-- Version 1 of greeting.
return function(_, context)
  return { greeting = "Hello", version = context.version }
end
