-- Raises: the gateway answers FUNCTION_INVOCATION_FAILED with the message,
-- stripped of host paths. event.mention_path puts this file's absolute path
-- in the message; event.blame_caller raises at level 2 (a position inside
-- the gateway's own code).
return function(event)
  if event.mention_path then
    error("cannot open " .. debug.getinfo(1, "S").source:sub(2) .. " for writing")
  end
  if event.blame_caller then
    error("bad argument", 2)
  end
  error("boom")
end
