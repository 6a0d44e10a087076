/* luaopen_cloudbase_functions: the module table and the client's metatable, assembled
 * here from the tables each file exports, so dependencies run one way: this file
 * knows them all, they do not know each other. */
#include <pthread.h>

#include <curl/curl.h>

#include "client.h"
#include "error.h"
#include "invoke.h"
#include "json.h"
#include "lua_methods.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_OK;

/* libcurl's global state is process-wide: initialise it once, whatever number of Lua
 * states load the module, and never clean it up under another state's feet. */
static void init_curl(void) { curl_init_result = curl_global_init(CURL_GLOBAL_ALL); }

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

/* The client's metatable: its entries, and as __index the methods (a client with a
 * Lua transport gets the Lua-frame invoke, try_invoke and invoke_all). */
static void open_client_metatable(lua_State *L) {
    if (luaL_newmetatable(L, CBF_CLIENT_MT)) {
        luaL_setfuncs(L, cbf_client_meta, 0);
        lua_newtable(L);
        luaL_setfuncs(L, cbf_client_methods, 0);
        luaL_setfuncs(L, cbf_invoke_methods, 0);
        cbf_lua_methods_install(L);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}

/* The module's functions; its values (Error, null, array_mt, json, version) follow. */
static const luaL_Reg module_functions[] = {{"new", cbf_client_new},
                                             {"is_error", is_error},
                                             {NULL, NULL}};

CBF_EXPORT int luaopen_cloudbase_functions(lua_State *L) {
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK) return luaL_error(L, "curl_global_init failed");
    open_client_metatable(L);
    lua_newtable(L);
    luaL_setfuncs(L, module_functions, 0);
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
