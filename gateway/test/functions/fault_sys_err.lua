-- The gateway fails internally after the function ran: 500 SYS_ERR. A client
-- cannot know whether the call took effect, so it must not retry it blindly.
return function(_, context)
  return context.gateway_error(500, "SYS_ERR", "internal error of the gateway (emulated)")
end
