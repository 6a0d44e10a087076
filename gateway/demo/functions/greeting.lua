-- Version 2 (and $LATEST) of greeting; version 1 is greeting_v1.lua.
return function(_, context)
  return { greeting = "Hello again", version = context.version }
end
