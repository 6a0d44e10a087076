-- A string result: 200 text/plain.
return function()
  return "Hello fn"
end
