-- Adds event.numbers (a JSON array) and answers {"sum": N, "count": N}.
return function(event)
  local numbers = event.numbers
  if type(numbers) ~= "table" then
    error("event.numbers must be an array of numbers")
  end
  local total = 0
  for i, n in ipairs(numbers) do
    if type(n) ~= "number" then
      error("event.numbers[" .. i .. "] is not a number")
    end
    total = total + n
  end
  return { sum = total, count = #numbers }
end
