/* functions.new: read the options into a new client (its lifetime: lifetime.c). */
#include "client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "connect.h"
#include "error.h"
#include "hooks.h"
#include "json_int64.h"
#include "pool.h"
#include "request.h"
#include "wire.h"

#define DEFAULT_TIMEOUT 60.0
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_MAX_RESPONSE (64u * 1024 * 1024)
#define DEFAULT_MAX_REQUEST (6u * 1024 * 1024)
/* Below the 60 s idle timeout common to load balancers and nginx's 75 s default
 * keepalive_timeout (the gateway emulator's too), so a call is never sent on a
 * connection the server is closing at that moment. */
#define DEFAULT_MAX_IDLE 50

static const char *const known_options[] = {
    "env",     "base_url",  "token",   "qualifier", "timeout",          "connect_timeout",
    "headers", "max_response_size",    "ca_file",   "ca_path",          "proxy",
    "resolve", "intl",      "max_request_size",     "transport",        "json",
    "http2",   "retry",     "on_request", "on_response", "auth",   "pool",
    "preconnect", "max_idle", "big_integers", NULL};

static int bad_option(lua_State *L, const char *fmt, const char *name) {
    char msg[200];
    snprintf(msg, sizeof msg, fmt, name);
    return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, msg);
}

/* A copy of s from the client's allocator; its size is strlen + 1 (free_string). */
static char *dup_or_raise(lua_State *L, cbf_client *c, const char *s) {
    size_t len = strlen(s);
    char *copy = cbf_realloc(&c->alloc, NULL, 0, len + 1);
    if (!copy) cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "not enough memory for the client");
    memcpy(copy, s, len + 1);
    return copy;
}

/* The base URL without trailing slashes, as a copy of its own size. */
static char *dup_base_url(lua_State *L, cbf_client *c, const char *url) {
    size_t n = strlen(url);
    char *copy;
    while (n > 0 && url[n - 1] == '/') n--;
    copy = cbf_realloc(&c->alloc, NULL, 0, n + 1);
    if (!copy) cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "not enough memory for the client");
    memcpy(copy, url, n);
    copy[n] = '\0';
    return copy;
}

/* Option `key` as a string (or the environment variable `env`), or NULL. */
static const char *string_option(lua_State *L, int opts, const char *key, const char *env) {
    const char *v = NULL;
    cbf_rawfield(L, opts, key);
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        v = lua_tolstring(L, -1, &len);
        if (!cbf_wire_ok(v, len, CBF_WIRE_VALUE)) bad_option(L, "%s must not contain control bytes", key);
    } else if (!lua_isnil(L, -1)) {
        bad_option(L, "%s must be a string", key);
    } else if (env) {
        v = getenv(env);
        if (v && !*v) v = NULL;
    }
    lua_pop(L, 1); /* the options table keeps the string alive */
    return v;
}

static double seconds_option(lua_State *L, int opts, const char *key, double dflt) {
    double v = dflt;
    cbf_rawfield(L, opts, key);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) > 0) ||
            lua_tonumber(L, -1) >= 1e9)
            bad_option(L, "%s must be a positive number of seconds", key);
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static size_t size_option(lua_State *L, int opts, const char *key, size_t dflt) {
    size_t v = dflt;
    cbf_rawfield(L, opts, key);
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) <= 0)
            bad_option(L, "%s must be a positive integer (bytes)", key);
        v = (size_t)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* An integer option from lo to hi, or dflt when absent; `what` completes the message. */
static lua_Integer ranged_option(lua_State *L, int opts, const char *key, lua_Integer dflt, lua_Integer lo,
                                 lua_Integer hi, const char *what) {
    lua_Integer v = dflt;
    cbf_rawfield(L, opts, key);
    if (!lua_isnil(L, -1)) {
        char fmt[120];
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < lo || lua_tointeger(L, -1) > hi) {
            snprintf(fmt, sizeof fmt, "%%s must be an integer from %ld to %ld (%s)", (long)lo, (long)hi, what);
            bad_option(L, fmt, key);
        }
        v = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static void check_known_options(lua_State *L, int opts) {
    lua_pushnil(L);
    while (lua_next(L, opts) != 0) {
        int i, found = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (i = 0; known_options[i]; i++) found |= strcmp(lua_tostring(L, -2), known_options[i]) == 0;
        if (!found)
            bad_option(L, "unknown option '%.60s'",
                       lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?");
        lua_pop(L, 1);
    }
}

static void check_base_url(lua_State *L, const char *url) {
    const char *authority, *end;
    if (strncmp(url, "http://", 7) == 0) {
        authority = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        authority = url + 8;
    } else {
        bad_option(L, "%s must start with http:// or https://", "base_url");
        return;
    }
    end = authority + strcspn(authority, "/");
    if (end == authority) bad_option(L, "%s has no host", "base_url");
    if (memchr(authority, '@', (size_t)(end - authority)))
        bad_option(L, "%s must not carry credentials: use the token option", "base_url");
    if (!cbf_wire_ok(url, strlen(url), CBF_WIRE_URL) || strpbrk(url, "?#")) bad_option(L, "%s must not contain spaces, a query or a fragment", "base_url");
}

static char *base_url_from_env(lua_State *L, cbf_client *c, const char *env, int intl) {
    char url[160];
    size_t i, len = strlen(env);
    if (len == 0 || len > 100) bad_option(L, "%s must be 1 to 100 characters", "env");
    for (i = 0; i < len; i++)
        if (!isalnum((unsigned char)env[i]) && env[i] != '-')
            bad_option(L, "%s may hold only letters, digits and '-'", "env");
    snprintf(url, sizeof url, "https://%s.api.%stcloudbasegateway.com", env, intl ? "intl." : "");
    return dup_or_raise(L, c, url);
}

/* Lua-side settings live in the client's uservalue table. */
static void parse_lua_settings(lua_State *L, int opts, int uv) {
    cbf_rawfield(L, opts, "token");
    if (lua_isnil(L, -1)) {
        const char *t = getenv("CLOUDBASE_TOKEN");
        lua_pop(L, 1);
        if (t && *t) lua_pushstring(L, t);
        else lua_pushnil(L);
    } else if (lua_type(L, -1) != LUA_TSTRING && !lua_isfunction(L, -1)) {
        bad_option(L, "%s must be a string or a function returning one", "token");
    }
    lua_setfield(L, uv, CBF_UV_TOKEN);

    /* A checked copy: changing the caller's table later reaches nothing. */
    cbf_rawfield(L, opts, "headers");
    if (cbf_request_check_headers(L, lua_gettop(L), "headers", 1)) lua_error(L);
    lua_setfield(L, uv, CBF_UV_HEADERS);
    lua_pop(L, 1);

    cbf_rawfield(L, opts, "transport");
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1))
        bad_option(L, "%s must be a function(request) returning a response", "transport");
    lua_setfield(L, uv, CBF_UV_TRANSPORT);

    cbf_rawfield(L, opts, "json");
    if (!lua_isnil(L, -1)) {
        int ok = lua_istable(L, -1);
        if (ok) {
            lua_getfield(L, -1, "encode");
            lua_getfield(L, -2, "decode");
            ok = !lua_isnil(L, -1) && !lua_isnil(L, -2);
            lua_pop(L, 2);
        }
        if (!ok) bad_option(L, "%s must be a codec table with encode and decode", "json");
    }
    lua_setfield(L, uv, CBF_UV_JSON);
    cbf_hooks_read(L, opts, uv);
    cbf_auth_read(L, opts, uv);
    cbf_rawfield(L, opts, "big_integers");
    {
        const char *why = NULL;
        int big = cbf_json_big_option(L, -1, &why);
        if (big < 0) bad_option(L, "%s", why);
        lua_pushinteger(L, big);
    }
    lua_setfield(L, uv, CBF_UV_BIG_INTEGERS);
    lua_pop(L, 1); /* the option's value */
}

static void retry_option(lua_State *L, int opts, cbf_client *c) {
    static const cbf_retry_policy none = {1, 0, 0};
    cbf_rawfield(L, opts, "retry");
    if (cbf_retry_policy_read(L, -1, "retry", &none, &c->retry)) lua_error(L);
    lua_pop(L, 1);
}

static void parse_resolve(lua_State *L, int opts, cbf_client *c) {
    size_t i, n;
    cbf_rawfield(L, opts, "resolve");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1)) bad_option(L, "%s must be a list of \"host:port:address\" strings", "resolve");
    n = lua_rawlen(L, -1);
    for (i = 1; i <= n; i++) {
        size_t len = 0;
        const char *entry;
        lua_rawgeti(L, -1, (lua_Integer)i);
        entry = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (!entry || !cbf_wire_ok(entry, len, CBF_WIRE_URL))
            bad_option(L, "%s must be a list of \"host:port:address\" strings", "resolve");
        if (cbf_buffer_append(&c->resolve, entry, len + 1))
            cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "not enough memory for the client");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static cbf_http_mode http_mode_option(lua_State *L, int opts) {
    cbf_http_mode mode = CBF_HTTP_AUTO;
    cbf_rawfield(L, opts, "http2");
    if (lua_isboolean(L, -1)) {
        mode = lua_toboolean(L, -1) ? CBF_HTTP_AUTO : CBF_HTTP_1_1;
    } else if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "prior-knowledge") == 0) {
        mode = CBF_HTTP_2_PRIOR_KNOWLEDGE;
    } else if (!lua_isnil(L, -1)) {
        bad_option(L, "%s must be true, false or \"prior-knowledge\"", "http2");
    }
    lua_pop(L, 1);
    return mode;
}

int cbf_client_new(lua_State *L) {
    cbf_client *c;
    const char *url, *env, *s;
    int opts, uv;
    lua_Integer preconnect;
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    if (!lua_istable(L, 1)) return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "functions.new expects a table of options");
    lua_settop(L, 1);
    opts = 1;
    check_known_options(L, opts);

    c = (cbf_client *)cbf_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    c->alloc = cbf_alloc_of(L);
    cbf_buffer_init(&c->resolve, c->alloc);
    luaL_setmetatable(L, CBF_CLIENT_MT); /* from here on, __gc frees whatever is set */
    lua_newtable(L);
    uv = lua_gettop(L);

    url = string_option(L, opts, "base_url", NULL);
    env = string_option(L, opts, "env", NULL);
    cbf_rawfield(L, opts, "intl");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1)) bad_option(L, "%s must be a boolean", "intl");
    if (url) {
        check_base_url(L, url);
        c->base_url = dup_base_url(L, c, url);
    } else if (env) {
        c->base_url = base_url_from_env(L, c, env, lua_toboolean(L, -1));
    } else if ((url = getenv("CLOUDBASE_BASE_URL")) != NULL && *url) {
        check_base_url(L, url);
        c->base_url = dup_base_url(L, c, url);
    } else if ((env = getenv("CLOUDBASE_ENV_ID")) != NULL && *env) {
        c->base_url = base_url_from_env(L, c, env, lua_toboolean(L, -1));
    } else {
        return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "set env or base_url (or CLOUDBASE_ENV_ID / CLOUDBASE_BASE_URL)");
    }
    lua_pop(L, 1);

    if ((s = string_option(L, opts, "qualifier", NULL)) != NULL) c->qualifier = dup_or_raise(L, c, s);
    if ((s = string_option(L, opts, "ca_file", NULL)) != NULL) c->ca_file = dup_or_raise(L, c, s);
    if ((s = string_option(L, opts, "ca_path", NULL)) != NULL) c->ca_path = dup_or_raise(L, c, s);
    if ((s = string_option(L, opts, "proxy", NULL)) != NULL) c->proxy = dup_or_raise(L, c, s);
    c->timeout = seconds_option(L, opts, "timeout", DEFAULT_TIMEOUT);
    c->connect_timeout = seconds_option(L, opts, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
    c->max_response_size = size_option(L, opts, "max_response_size", DEFAULT_MAX_RESPONSE);
    c->max_request_size = size_option(L, opts, "max_request_size", DEFAULT_MAX_REQUEST);
    c->http_mode = http_mode_option(L, opts);
    c->max_idle = (long)ranged_option(L, opts, "max_idle", DEFAULT_MAX_IDLE, 1, 86400, "seconds");
    preconnect = ranged_option(L, opts, "preconnect", 0, 1, CBF_CONNECT_MAX, "connections");
    parse_resolve(L, opts, c);
    retry_option(L, opts, c);
    parse_lua_settings(L, opts, uv);
    cbf_rawfield(L, opts, "pool");
    if (!lua_isnil(L, -1)) c->share = cbf_pool_acquire(L, -1);
    lua_setfield(L, uv, CBF_UV_POOL);

    c->loop = cbf_loop_new(c->alloc);
    if (!c->loop) return cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "curl_multi_init failed");

    cbf_setuservalue(L, -2);
    if (preconnect == 0) return 1;
    /* preconnect never fails new: the client comes back with what connect returned. */
    lua_pushcfunction(L, cbf_connect_method);
    lua_pushvalue(L, -2);
    lua_pushinteger(L, preconnect);
    lua_call(L, 2, LUA_MULTRET);
    return lua_gettop(L) - opts; /* the client and what connect returned */
}
