-- Reports the version that ran (versions "1", "2" and "$LATEST").
return function(_, context)
  return { version = context.version }
end
