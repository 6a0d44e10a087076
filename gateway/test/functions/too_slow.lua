-- Sleeps 2 s against a 0.2 s timeout: FUNCTION_TIME_LIMIT_EXCEEDED.
return function()
  ngx.sleep(2)
  return { finished = true }
end
