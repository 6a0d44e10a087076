-- Fault: what a proxy in front of the gateway answers when it fails.
return function(_, context)
  return context.response{
    status = 502,
    headers = { ["Content-Type"] = "text/html" },
    body = "<html><head><title>502 Bad Gateway</title></head>"
      .. "<body><center><h1>502 Bad Gateway</h1></center></body></html>\n",
  }
end
