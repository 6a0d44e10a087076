-- The gateway gives up waiting on its backend: after event.ms (default 100)
-- it answers 504 SERVER_TIMEOUT although the function ran.
return function(event, context)
  ngx.sleep((tonumber(event.ms) or 100) / 1000)
  return context.gateway_error(504, "SERVER_TIMEOUT", "the gateway timed out waiting for the function")
end
