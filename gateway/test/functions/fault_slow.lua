-- Fault: answers only after event.ms milliseconds (default 5000).
return function(event)
  local ms = tonumber(event.ms) or 5000
  ngx.sleep(ms / 1000)
  return { slept = ms }
end
