-- Appends "<event.marker> <worker pid>" to <run dir>/markers.log as soon as it starts,
-- then sleeps event.ms milliseconds (default 100). The file outlives a killed worker and
-- a restart on the same run dir, so a spec can count how often each call really ran.
return function(event)
  local f = assert(io.open(ngx.config.prefix() .. "markers.log", "a"))
  f:write(tostring(event.marker), " ", tostring(ngx.worker.pid()), "\n")
  f:close()
  ngx.sleep((tonumber(event.ms) or 100) / 1000)
  return { marker = event.marker }
end
