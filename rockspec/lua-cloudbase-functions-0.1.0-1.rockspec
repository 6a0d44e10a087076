rockspec_format = "3.0"
package = "lua-cloudbase-functions"
version = "0.1.0-1"
source = {
   -- Built from a checkout with `luarocks make`; the project has no public release URL yet.
   url = "git+https://invalid.example/lua-cloudbase-functions.git",
   tag = "v0.1.0",
}
description = {
   summary = "Invoke Tencent CloudBase cloud functions from Lua 5.1-5.4 and LuaJIT",
   detailed = [[
A C module over libcurl: a Lua table goes in as the JSON body of
POST /v1/functions/:name, the function's result comes back as a Lua value,
and every failure is a structured error carrying the gateway's code and
requestId. Includes an exact JSON codec, invoke_all on the curl multi
interface (HTTP/2 multiplexing, keep-alive) and a transport seam.
]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.1",
   "argparse", -- for bin/cloudbase-fn (Debian: lua-argparse)
}
external_dependencies = {
   -- library only: Debian keeps curl/curl.h in a multiarch directory that a
   -- `header` check does not search, while gcc finds it by itself.
   CURL = { library = "curl" },
}
build = {
   type = "builtin",
   modules = {
      ["cloudbase.functions"] = {
         sources = {
            "src/auth.c", "src/buffer.c", "src/call.c", "src/client.c", "src/connect.c",
            "src/error.c", "src/hooks.c", "src/info.c", "src/invoke.c", "src/json_decode.c",
            "src/json_encode.c", "src/json_int64.c", "src/json_lua.c", "src/json_number.c",
            "src/lifetime.c",
            "src/loop.c", "src/lua_methods.c", "src/module.c", "src/options.c", "src/pool.c",
            "src/request.c",
            "src/request_id.c", "src/response.c", "src/retry.c", "src/transport_curl.c",
            "src/transport_lua.c", "src/wire.c",
         },
         defines = { "_POSIX_C_SOURCE=200809L" },
         incdirs = { "src", "$(CURL_INCDIR)" },
         libdirs = { "$(CURL_LIBDIR)" },
         libraries = { "curl", "pthread" },
      },
      -- the OpenResty client (cosockets); loaded only inside ngx_lua
      ["cloudbase.functions.ngx"] = "lua/cloudbase/functions/ngx.lua",
   },
   install = {
      -- luarocks wraps it so that it runs with the tree's interpreter and paths
      bin = { ["cloudbase-fn"] = "bin/cloudbase-fn" },
   },
}
