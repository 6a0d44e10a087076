-- Returns what the function saw: the decoded event and its context.
return function(event, context)
  return {
    event = event,
    version = context.version,
    function_name = context.function_name,
    request_id = context.request_id,
    method = context.method,
    uri = context.uri,
    headers = context.headers,
    identity = context.identity,
  }
end
