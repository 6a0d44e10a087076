-- Fault: sends the headers with a Content-Length, part of the body, then
-- drops the connection.
return function()
  local part = '{"data":"' .. string.rep("y", 1000)
  ngx.status = 200
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Content-Length"] = 100000
  ngx.print(part)
  ngx.flush(true)
  return ngx.exit(ngx.ERROR)
end
