/* luaopen_cloudbase_functions: the module table. */
#include <pthread.h>

#include <curl/curl.h>

#include "client.h"
#include "error.h"
#include "json.h"
#include "pool.h"

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

CBF_EXPORT int luaopen_cloudbase_functions(lua_State *L) {
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK) return luaL_error(L, "curl_global_init failed");
    lua_newtable(L);
    cbf_client_open(L);
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
