std = "lua54"
max_line_length = 110
-- the specs run on every Lua (make test): the globals of any of them, and busted's
files["spec/**/*.lua"] = { std = "max+busted" }
files["gateway/**/*.lua"] = { std = "luajit", globals = { "ngx" } }
exclude_files = { "build/**", "build-asan/**", "build-fuzz/**" }
-- Code that runs inside nginx (ngx_lua: LuaJIT, the ngx global).
files["lua/**/*.lua"] = { std = "luajit", read_globals = { "ngx" } }
files["spec/nginx/lua/**/*.lua"] = { std = "luajit", globals = { "ngx" } }
files["examples/openresty/**/*.lua"] = { std = "luajit", globals = { "ngx" } }
files["bench/nginx_*.lua"] = { read_globals = { "ngx" } }
