-- LuaRocks knows Lua versions, not LuaJIT: to build for LuaJIT 2.1 it is LuaRocks' 5.1,
-- with LuaJIT's headers (LUA_INCDIR, given on the command line) and, so that installed
-- commands such as cloudbase-fn run on LuaJIT, its interpreter:
--   LUAROCKS_CONFIG=rockspec/luarocks-config-luajit.lua luarocks --lua-version 5.1 \
--     make --deps-mode=none rockspec/lua-cloudbase-functions-0.1.0-1.rockspec \
--     LUA_INCDIR=/usr/include/luajit-2.1
lua_interpreter = "luajit"
