-- Returns nothing: the gateway answers 200 application/json `null`.
return function()
end
