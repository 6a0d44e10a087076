-- Raises: the gateway answers FUNCTION_INVOCATION_FAILED with the message.
return function()
  error("boom")
end
