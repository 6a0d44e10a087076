std = "lua54"
max_line_length = 110
-- the specs run on every Lua (make test): the globals of any of them, and busted's
files["spec/**/*.lua"] = { std = "max+busted" }
files["gateway/**/*.lua"] = { std = "luajit", globals = { "ngx" } }
exclude_files = { "build/**", "build-asan/**" }
