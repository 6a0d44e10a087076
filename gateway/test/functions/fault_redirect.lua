-- Fault: a redirect to another host; a client must not follow it blindly.
return function(_, context)
  return context.response{
    status = 302,
    headers = {
      ["Location"] = "http://other-host.invalid/v1/functions/echo",
      ["Content-Type"] = "text/plain",
    },
    body = "Found\n",
  }
end
