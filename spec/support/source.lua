-- Reading the checkout's own files, for the specs that check the source against itself
-- and the README (docs_spec, structure_spec).
local M = {}

-- The whole file at `path` (relative to the checkout).
function M.read(path)
  local fh = assert(io.open(path, "rb"))
  local text = fh:read("*a")
  fh:close()
  return text
end

-- The paths matching a shell pattern such as "src/*.c", sorted.
function M.files(pattern)
  local list = {}
  local ls = io.popen("ls " .. pattern)
  for name in ls:lines() do
    list[#list + 1] = name
  end
  ls:close()
  return list
end

return M
