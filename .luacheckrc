std = "lua54"
max_line_length = 110
files["spec/**/*.lua"] = { std = "+busted" }
files["gateway/**/*.lua"] = { std = "luajit", globals = { "ngx" } }
exclude_files = { "build/**", "build-asan/**", "build-fuzz/**" }
