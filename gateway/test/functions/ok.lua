-- Shared by admin_only, members_only and public: only the rules differ.
return function()
  return { ok = true }
end
