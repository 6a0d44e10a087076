-- Sleeps event.ms milliseconds (default 100) without blocking the worker.
return function(event)
  local ms = tonumber(event.ms) or 100
  ngx.sleep(ms / 1000)
  return { slept = ms }
end
