/* functions.new: option parsing, and the client's lifetime (close, __gc, __close). */
#include "client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "invoke.h"
#include "lua_methods.h"
#include "request.h"
#include "transport_curl.h"
#include "wire.h"

#define DEFAULT_TIMEOUT 60.0
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_MAX_RESPONSE (64u * 1024 * 1024)
#define DEFAULT_MAX_REQUEST (6u * 1024 * 1024)

static const char *const known_options[] = {
    "env",     "base_url",  "token",   "qualifier", "timeout",          "connect_timeout",
    "headers", "max_response_size",    "ca_file",   "ca_path",          "proxy",
    "resolve", "intl",      "max_request_size",     "transport",        "json",
    "http2",   NULL};

cbf_client *cbf_client_check(lua_State *L, int idx) {
    return (cbf_client *)luaL_checkudata(L, idx, CBF_CLIENT_MT);
}

void cbf_client_release(cbf_client *c) {
    size_t i;
    for (i = 0; i < c->ntransfers; i++) {
        if (c->multi) curl_multi_remove_handle(c->multi, c->transfers[i]->easy);
        cbf_transfer_free(c->transfers[i]);
    }
    free(c->transfers);
    c->transfers = NULL;
    c->ntransfers = 0;
    if (c->multi) curl_multi_cleanup(c->multi);
    c->multi = NULL;
    curl_slist_free_all(c->resolve);
    c->resolve = NULL;
    free(c->base_url);
    free(c->qualifier);
    free(c->ca_file);
    free(c->ca_path);
    free(c->proxy);
    c->base_url = c->qualifier = c->ca_file = c->ca_path = c->proxy = NULL;
}

static int client_gc(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    c->closed = 1;
    cbf_client_release(c);
    return 0;
}

/* Closing from a token, transport or codec function, in the middle of a call, must
 * not free what that call is using: the call finishes, then the client is released. */
static int client_close(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    c->closed = 1;
    if (c->calls == 0) cbf_client_release(c);
    return 0;
}

/* Shows where the client points, never its credential. */
static int client_tostring(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    if (c->closed)
        lua_pushfstring(L, "cloudbase.functions client (closed): %p", (void *)c);
    else
        lua_pushfstring(L, "cloudbase.functions client (%s): %p", c->base_url, (void *)c);
    return 1;
}

static int bad_option(lua_State *L, const char *fmt, const char *name) {
    char msg[200];
    snprintf(msg, sizeof msg, fmt, name);
    return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, msg);
}

static char *dup_or_raise(lua_State *L, const char *s) {
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    if (!copy) cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "not enough memory for the client");
    memcpy(copy, s, len + 1);
    return copy;
}

/* Push opts[key] without metamethods: reading options never runs caller code. */
static void raw_field(lua_State *L, int opts, const char *key) {
    lua_pushstring(L, key);
    lua_rawget(L, opts);
}

/* Option `key` as a string (or the environment variable `env`), or NULL. */
static const char *string_option(lua_State *L, int opts, const char *key, const char *env) {
    const char *v = NULL;
    raw_field(L, opts, key);
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
    raw_field(L, opts, key);
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
    raw_field(L, opts, key);
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) <= 0)
            bad_option(L, "%s must be a positive integer (bytes)", key);
        v = (size_t)lua_tointeger(L, -1);
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

static char *base_url_from_env(lua_State *L, const char *env, int intl) {
    char url[160];
    size_t i, len = strlen(env);
    if (len == 0 || len > 100) bad_option(L, "%s must be 1 to 100 characters", "env");
    for (i = 0; i < len; i++)
        if (!isalnum((unsigned char)env[i]) && env[i] != '-')
            bad_option(L, "%s may hold only letters, digits and '-'", "env");
    snprintf(url, sizeof url, "https://%s.api.%stcloudbasegateway.com", env, intl ? "intl." : "");
    return dup_or_raise(L, url);
}

/* Lua-side settings live in the client's uservalue table. */
static void parse_lua_settings(lua_State *L, int opts, int uv) {
    raw_field(L, opts, "token");
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
    raw_field(L, opts, "headers");
    if (cbf_request_check_headers(L, lua_gettop(L), "headers", 1)) lua_error(L);
    lua_setfield(L, uv, CBF_UV_HEADERS);
    lua_pop(L, 1);

    raw_field(L, opts, "transport");
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1))
        bad_option(L, "%s must be a function(request) returning a response", "transport");
    lua_setfield(L, uv, CBF_UV_TRANSPORT);

    raw_field(L, opts, "json");
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
}

static void parse_resolve(lua_State *L, int opts, cbf_client *c) {
    size_t i, n;
    raw_field(L, opts, "resolve");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1)) bad_option(L, "%s must be a list of \"host:port:address\" strings", "resolve");
    n = lua_rawlen(L, -1);
    for (i = 1; i <= n; i++) {
        struct curl_slist *next;
        size_t len = 0;
        const char *entry;
        lua_rawgeti(L, -1, (lua_Integer)i);
        entry = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (!entry || !cbf_wire_ok(entry, len, CBF_WIRE_URL))
            bad_option(L, "%s must be a list of \"host:port:address\" strings", "resolve");
        next = curl_slist_append(c->resolve, entry);
        if (!next) cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "not enough memory for the client");
        c->resolve = next;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static cbf_http_mode http_mode_option(lua_State *L, int opts) {
    cbf_http_mode mode = CBF_HTTP_AUTO;
    raw_field(L, opts, "http2");
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

static int client_new(lua_State *L) {
    cbf_client *c;
    const char *url, *env, *s;
    int opts, uv;
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
    luaL_setmetatable(L, CBF_CLIENT_MT); /* from here on, __gc frees whatever is set */
    lua_newtable(L);
    uv = lua_gettop(L);

    url = string_option(L, opts, "base_url", NULL);
    env = string_option(L, opts, "env", NULL);
    raw_field(L, opts, "intl");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1)) bad_option(L, "%s must be a boolean", "intl");
    if (url) {
        check_base_url(L, url);
        c->base_url = dup_or_raise(L, url);
    } else if (env) {
        c->base_url = base_url_from_env(L, env, lua_toboolean(L, -1));
    } else if ((url = getenv("CLOUDBASE_BASE_URL")) != NULL && *url) {
        check_base_url(L, url);
        c->base_url = dup_or_raise(L, url);
    } else if ((env = getenv("CLOUDBASE_ENV_ID")) != NULL && *env) {
        c->base_url = base_url_from_env(L, env, lua_toboolean(L, -1));
    } else {
        return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "set env or base_url (or CLOUDBASE_ENV_ID / CLOUDBASE_BASE_URL)");
    }
    lua_pop(L, 1);
    {
        size_t n = strlen(c->base_url);
        while (n > 0 && c->base_url[n - 1] == '/') c->base_url[--n] = '\0';
    }

    if ((s = string_option(L, opts, "qualifier", NULL)) != NULL) c->qualifier = dup_or_raise(L, s);
    if ((s = string_option(L, opts, "ca_file", NULL)) != NULL) c->ca_file = dup_or_raise(L, s);
    if ((s = string_option(L, opts, "ca_path", NULL)) != NULL) c->ca_path = dup_or_raise(L, s);
    if ((s = string_option(L, opts, "proxy", NULL)) != NULL) c->proxy = dup_or_raise(L, s);
    c->timeout = seconds_option(L, opts, "timeout", DEFAULT_TIMEOUT);
    c->connect_timeout = seconds_option(L, opts, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
    c->max_response_size = size_option(L, opts, "max_response_size", DEFAULT_MAX_RESPONSE);
    c->max_request_size = size_option(L, opts, "max_request_size", DEFAULT_MAX_REQUEST);
    c->http_mode = http_mode_option(L, opts);
    parse_resolve(L, opts, c);
    parse_lua_settings(L, opts, uv);

    c->multi = curl_multi_init();
    if (!c->multi) return cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "curl_multi_init failed");
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);

    cbf_setuservalue(L, -2);
    return 1;
}

void cbf_client_open(lua_State *L) {
    static const luaL_Reg meta[] = {{"__gc", client_gc},
                                    {"__close", client_gc},
                                    {"__tostring", client_tostring},
                                    {NULL, NULL}};
    static const luaL_Reg methods[] = {{"close", client_close}, {NULL, NULL}};
    if (luaL_newmetatable(L, CBF_CLIENT_MT)) {
        luaL_setfuncs(L, meta, 0);
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        cbf_invoke_register(L);
        cbf_lua_methods_install(L);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, client_new);
}
