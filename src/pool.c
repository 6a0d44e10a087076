#include "pool.h"

#include <pthread.h>
#include <string.h>

#include <curl/curl.h>

#include "buffer.h"
#include "error.h"
#include "options.h"

/* libcurl takes one lock per kind of shared data (CURL_LOCK_DATA_*). A Lua state is
 * single-threaded, but the module may be loaded by several states on several threads
 * (and libcurl locks from inside any transfer): real mutexes cost little and leave
 * nothing to assume. */
#define LOCK_KINDS CURL_LOCK_DATA_LAST

struct cbf_share {
    cbf_alloc alloc; /* the Lua state's, like all the module's memory */
    CURLSH *sh;
    pthread_mutex_t locks[LOCK_KINDS];
    pthread_mutex_t refs_lock;
    int refs;
};

typedef struct {
    cbf_share *share; /* NULL once collected */
} pool_box;

static void on_lock(CURL *easy, curl_lock_data data, curl_lock_access access, void *ud) {
    cbf_share *s = ud;
    (void)easy;
    (void)access;
    if ((int)data >= 0 && data < LOCK_KINDS) pthread_mutex_lock(&s->locks[data]);
}

static void on_unlock(CURL *easy, curl_lock_data data, void *ud) {
    cbf_share *s = ud;
    (void)easy;
    if ((int)data >= 0 && data < LOCK_KINDS) pthread_mutex_unlock(&s->locks[data]);
}

static void share_free(cbf_share *s) {
    int i;
    if (s->sh) curl_share_cleanup(s->sh);
    for (i = 0; i < LOCK_KINDS; i++) pthread_mutex_destroy(&s->locks[i]);
    pthread_mutex_destroy(&s->refs_lock);
    cbf_realloc(&s->alloc, s, sizeof *s, 0);
}

/* What is shared: connections (CURL_LOCK_DATA_CONNECT, libcurl >= 7.57), TLS sessions
 * (resumption makes a new connection's handshake shorter) and resolved names. Cookies
 * are not: the module sends none. */
static const curl_lock_data shared_data[] = {CURL_LOCK_DATA_CONNECT, CURL_LOCK_DATA_SSL_SESSION,
                                             CURL_LOCK_DATA_DNS};

static cbf_share *share_new(cbf_alloc alloc) {
    cbf_share *s = cbf_realloc(&alloc, NULL, 0, sizeof *s);
    size_t i;
    CURLSHcode rc = CURLSHE_OK;
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    s->alloc = alloc;
    for (i = 0; i < LOCK_KINDS; i++) pthread_mutex_init(&s->locks[i], NULL);
    pthread_mutex_init(&s->refs_lock, NULL);
    s->refs = 1;
    s->sh = curl_share_init();
    if (!s->sh) rc = CURLSHE_NOMEM;
    if (rc == CURLSHE_OK) rc = curl_share_setopt(s->sh, CURLSHOPT_LOCKFUNC, on_lock);
    if (rc == CURLSHE_OK) rc = curl_share_setopt(s->sh, CURLSHOPT_UNLOCKFUNC, on_unlock);
    if (rc == CURLSHE_OK) rc = curl_share_setopt(s->sh, CURLSHOPT_USERDATA, (void *)s);
    for (i = 0; rc == CURLSHE_OK && i < sizeof shared_data / sizeof shared_data[0]; i++)
        rc = curl_share_setopt(s->sh, CURLSHOPT_SHARE, shared_data[i]);
    if (rc != CURLSHE_OK) {
        share_free(s);
        return NULL;
    }
    return s;
}

void *cbf_share_handle(const cbf_share *s) { return s->sh; }

static void share_retain(cbf_share *s) {
    pthread_mutex_lock(&s->refs_lock);
    s->refs++;
    pthread_mutex_unlock(&s->refs_lock);
}

void cbf_share_release(cbf_share *s) {
    int left;
    if (!s) return;
    pthread_mutex_lock(&s->refs_lock);
    left = --s->refs;
    pthread_mutex_unlock(&s->refs_lock);
    if (left == 0) share_free(s);
}

cbf_share *cbf_pool_acquire(lua_State *L, int idx) {
    pool_box *b = (pool_box *)luaL_testudata(L, idx, CBF_POOL_MT);
    if (!b || !b->share) {
        cbf_option_raise(L, CBF_OPTION_NEW(pool));
        return NULL;
    }
    share_retain(b->share);
    return b->share;
}

static int pool_new(lua_State *L) {
    pool_box *b;
    if (!lua_isnone(L, 1)) return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "functions.pool takes no arguments");
    b = (pool_box *)cbf_newuserdata(L, sizeof *b);
    b->share = NULL;
    luaL_setmetatable(L, CBF_POOL_MT);
    b->share = share_new(cbf_alloc_of(L));
    if (!b->share) return cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "cannot create the connection pool");
    return 1;
}

/* Clients hold the pool through their uservalue, so this runs once none is reachable;
 * a client Lua has not finalised yet still holds its own reference. */
static int pool_gc(lua_State *L) {
    pool_box *b = (pool_box *)luaL_checkudata(L, 1, CBF_POOL_MT);
    cbf_share_release(b->share);
    b->share = NULL;
    return 0;
}

static int pool_tostring(lua_State *L) {
    lua_pushfstring(L, "cloudbase.functions pool: %p", lua_touserdata(L, 1));
    return 1;
}

void cbf_pool_open(lua_State *L) {
    static const luaL_Reg meta[] = {{"__gc", pool_gc}, {"__tostring", pool_tostring}, {NULL, NULL}};
    if (luaL_newmetatable(L, CBF_POOL_MT)) luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
    lua_pushcfunction(L, pool_new);
}
