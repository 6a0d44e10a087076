/* luaopen_cloudbase_functions: the module table. */
#include "call.h"
#include "client.h"
#include "connect.h"
#include "error.h"
#include "invoke.h"
#include "json.h"
#include "lua_methods.h"
#include "pool.h"
#include "transport_curl.h"

/* The client's metatable, its methods gathered from the files that implement them;
 * then push functions.new. */
static void open_client(lua_State *L) {
    if (luaL_newmetatable(L, CBF_CLIENT_MT)) {
        cbf_client_register_meta(L);
        lua_newtable(L);
        cbf_client_register(L);
        cbf_invoke_register(L);
        cbf_call_register(L);
        cbf_connect_register(L);
        cbf_lua_methods_install(L); /* last: it wraps methods registered above */
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, cbf_client_new);
}

static int is_error(lua_State *L) {
    lua_pushboolean(L, cbf_error_is(L, 1));
    return 1;
}

/* The one symbol the module exports; everything else is built -fvisibility=hidden. */
#if defined(__GNUC__) || defined(__clang__)
#define CBF_EXPORT __attribute__((visibility("default")))
#else
#define CBF_EXPORT
#endif

CBF_EXPORT int luaopen_cloudbase_functions(lua_State *L);

CBF_EXPORT int luaopen_cloudbase_functions(lua_State *L) {
    if (cbf_transport_curl_init()) return luaL_error(L, "curl_global_init failed");
    lua_newtable(L);
    open_client(L);
    lua_setfield(L, -2, "new");
    cbf_pool_open(L);
    lua_setfield(L, -2, "pool");
    lua_pushcfunction(L, is_error);
    lua_setfield(L, -2, "is_error");
    cbf_error_push_metatable(L);
    lua_setfield(L, -2, "Error");
    lua_pushlightuserdata(L, NULL); /* the same value as cjson.null */
    lua_setfield(L, -2, "null");
    cbf_json_push_array_mt(L);
    lua_setfield(L, -2, "array_mt");
    cbf_json_push_module(L);
    lua_setfield(L, -2, "json");
    lua_pushliteral(L, CBF_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
