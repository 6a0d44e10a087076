/* functions.new: read the options into a new client (its lifetime: lifetime.c). */
#include "client.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "connect.h"
#include "error.h"
#include "hooks.h"
#include "json_int64.h"
#include "options.h"
#include "pool.h"
#include "request.h"
#include "wire.h"

/* The longest environment id the gateway's host names take. */
#define ENV_ID_MAX 100

/* A message of its own about option o, starting with its name: fmt has one %s for it. */
static int bad_option(lua_State *L, const char *fmt, const cbf_option *o) {
    lua_pushfstring(L, fmt, o->name);
    return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, lua_tostring(L, -1));
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

/* A checked STRING option, or NULL when absent. */
static const char *string_option(lua_State *L, int opts, const cbf_option *o) {
    const char *v;
    cbf_rawfield(L, opts, o->name);
    v = lua_tostring(L, -1);
    lua_pop(L, 1); /* the options table keeps the string alive */
    return v;
}

/* The value of o's environment variable, or NULL when it is unset or empty. */
static const char *env_value(const cbf_option *o) {
    const char *v = getenv(o->env);
    return v && *v ? v : NULL;
}

static void check_base_url(lua_State *L, const char *url) {
    const cbf_option *o = CBF_OPTION_NEW(base_url);
    const char *authority, *end;
    if (strncmp(url, "http://", 7) == 0) {
        authority = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        authority = url + 8;
    } else {
        bad_option(L, "%s must start with http:// or https://", o);
        return;
    }
    end = authority + strcspn(authority, "/");
    if (end == authority) bad_option(L, "%s has no host", o);
    if (memchr(authority, '@', (size_t)(end - authority)))
        bad_option(L, "%s must not carry credentials: use the token option", o);
    if (!cbf_wire_ok(url, strlen(url), CBF_WIRE_URL) || strpbrk(url, "?#"))
        bad_option(L, "%s must not contain spaces, a query or a fragment", o);
}

static char *base_url_from_env(lua_State *L, cbf_client *c, const char *env, int intl) {
    char *url;
    size_t i, len = strlen(env);
    if (len == 0 || len > ENV_ID_MAX) {
        lua_pushfstring(L, "%s must be 1 to %d characters", CBF_OPTION_NEW(env)->name, ENV_ID_MAX);
        cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, lua_tostring(L, -1));
    }
    for (i = 0; i < len; i++)
        if (!isalnum((unsigned char)env[i]) && env[i] != '-')
            bad_option(L, "%s may hold only letters, digits and '-'", CBF_OPTION_NEW(env));
    lua_pushfstring(L, "https://%s.api.%stcloudbasegateway.com", env, intl ? "intl." : "");
    url = dup_or_raise(L, c, lua_tostring(L, -1));
    lua_pop(L, 1);
    return url;
}

/* Lua-side settings live in the client's uservalue table. */
static void parse_lua_settings(lua_State *L, int opts, int uv) {
    const cbf_option *json = CBF_OPTION_NEW(json);
    cbf_rawfield(L, opts, CBF_OPTION_NEW(token)->name);
    if (lua_isnil(L, -1)) {
        const char *t = env_value(CBF_OPTION_NEW(token));
        lua_pop(L, 1);
        if (t) lua_pushstring(L, t);
        else lua_pushnil(L);
    } else if (lua_type(L, -1) != LUA_TSTRING && !lua_isfunction(L, -1)) {
        cbf_option_raise(L, CBF_OPTION_NEW(token));
    }
    lua_setfield(L, uv, CBF_UV_TOKEN);

    /* A checked copy: changing the caller's table later reaches nothing. */
    cbf_rawfield(L, opts, CBF_OPTION_NEW(headers)->name);
    if (cbf_request_check_headers(L, lua_gettop(L), "headers", 1)) lua_error(L);
    lua_setfield(L, uv, CBF_UV_HEADERS);
    lua_pop(L, 1);

    cbf_rawfield(L, opts, CBF_OPTION_NEW(transport)->name);
    lua_setfield(L, uv, CBF_UV_TRANSPORT);

    cbf_rawfield(L, opts, json->name);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "encode");
        lua_getfield(L, -2, "decode");
        if (lua_isnil(L, -1) || lua_isnil(L, -2)) cbf_option_raise(L, json);
        lua_pop(L, 2);
    }
    lua_setfield(L, uv, CBF_UV_JSON);
    cbf_hooks_read(L, opts, uv);
    cbf_auth_read(L, opts, uv);
    cbf_rawfield(L, opts, CBF_OPTION_NEW(big_integers)->name);
    {
        const char *why = NULL;
        int big = cbf_json_big_option(L, -1, &why);
        if (big < 0) cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, why);
        lua_pushinteger(L, big);
    }
    lua_setfield(L, uv, CBF_UV_BIG_INTEGERS);
    lua_pop(L, 1); /* the option's value */
}

static void retry_option(lua_State *L, int opts, cbf_client *c) {
    static const cbf_retry_policy none = {1, 0, 0};
    cbf_rawfield(L, opts, CBF_OPTION_NEW(retry)->name);
    if (cbf_retry_policy_read(L, -1, "retry", &none, &c->retry)) lua_error(L);
    lua_pop(L, 1);
}

static void parse_resolve(lua_State *L, int opts, cbf_client *c) {
    const cbf_option *o = CBF_OPTION_NEW(resolve);
    size_t i, n;
    cbf_rawfield(L, opts, o->name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    n = lua_rawlen(L, -1);
    for (i = 1; i <= n; i++) {
        size_t len = 0;
        const char *entry;
        lua_rawgeti(L, -1, (lua_Integer)i);
        entry = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (!entry || !cbf_wire_ok(entry, len, CBF_WIRE_URL)) cbf_option_raise(L, o);
        if (cbf_buffer_append(&c->resolve, entry, len + 1))
            cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "not enough memory for the client");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static cbf_http_mode http_mode_option(lua_State *L, int opts) {
    const cbf_option *o = CBF_OPTION_NEW(http2);
    cbf_http_mode mode = CBF_HTTP_AUTO;
    cbf_rawfield(L, opts, o->name);
    if (lua_isboolean(L, -1)) {
        mode = lua_toboolean(L, -1) ? CBF_HTTP_AUTO : CBF_HTTP_1_1;
    } else if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "prior-knowledge") == 0) {
        mode = CBF_HTTP_2_PRIOR_KNOWLEDGE;
    } else if (!lua_isnil(L, -1)) {
        cbf_option_raise(L, o);
    }
    lua_pop(L, 1);
    return mode;
}

/* A STRING option's copy in the client's allocator, or NULL when absent. */
static char *string_copy(lua_State *L, cbf_client *c, int opts, const cbf_option *o) {
    const char *s = string_option(L, opts, o);
    return s ? dup_or_raise(L, c, s) : NULL;
}

/* A checked number option (SECONDS), or its default when absent. */
static lua_Number number_option(lua_State *L, int opts, const cbf_option *o) {
    return cbf_option_number(L, opts, o, o->dflt);
}

/* A checked integer option (BYTES, INTEGER), or its default when absent. */
static lua_Integer integer_option(lua_State *L, int opts, const cbf_option *o) {
    return cbf_option_integer(L, opts, o, (lua_Integer)o->dflt);
}

int cbf_client_new(lua_State *L) {
    cbf_client *c;
    const char *url, *env;
    int opts, uv, intl;
    lua_Integer preconnect;
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    if (!lua_istable(L, 1)) return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "functions.new expects a table of options");
    lua_settop(L, 1);
    opts = 1;
    cbf_options_check_or_raise(L, opts, cbf_client_options, CBF_NEW_COUNT, 0, "functions.new");

    c = (cbf_client *)cbf_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    c->alloc = cbf_alloc_of(L);
    cbf_buffer_init(&c->resolve, c->alloc);
    luaL_setmetatable(L, CBF_CLIENT_MT); /* from here on, __gc frees whatever is set */
    lua_newtable(L);
    uv = lua_gettop(L);

    /* An explicit option beats an environment variable; base_url beats env. */
    url = string_option(L, opts, CBF_OPTION_NEW(base_url));
    env = string_option(L, opts, CBF_OPTION_NEW(env));
    cbf_rawfield(L, opts, CBF_OPTION_NEW(intl)->name);
    intl = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!url && !env && (url = env_value(CBF_OPTION_NEW(base_url))) == NULL)
        env = env_value(CBF_OPTION_NEW(env));
    if (url) {
        check_base_url(L, url);
        c->base_url = dup_base_url(L, c, url);
    } else if (env) {
        c->base_url = base_url_from_env(L, c, env, intl);
    } else {
        lua_pushfstring(L, "set env or base_url (or %s / %s)", CBF_OPTION_NEW(env)->env,
                        CBF_OPTION_NEW(base_url)->env);
        return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, lua_tostring(L, -1));
    }

    c->qualifier = string_copy(L, c, opts, CBF_OPTION_NEW(qualifier));
    c->ca_file = string_copy(L, c, opts, CBF_OPTION_NEW(ca_file));
    c->ca_path = string_copy(L, c, opts, CBF_OPTION_NEW(ca_path));
    c->proxy = string_copy(L, c, opts, CBF_OPTION_NEW(proxy));
    c->timeout = number_option(L, opts, CBF_OPTION_NEW(timeout));
    c->connect_timeout = number_option(L, opts, CBF_OPTION_NEW(connect_timeout));
    c->max_response_size = (size_t)integer_option(L, opts, CBF_OPTION_NEW(max_response_size));
    c->max_request_size = (size_t)integer_option(L, opts, CBF_OPTION_NEW(max_request_size));
    c->http_mode = http_mode_option(L, opts);
    c->max_idle = (long)integer_option(L, opts, CBF_OPTION_NEW(max_idle));
    preconnect = integer_option(L, opts, CBF_OPTION_NEW(preconnect));
    parse_resolve(L, opts, c);
    retry_option(L, opts, c);
    parse_lua_settings(L, opts, uv);
    cbf_rawfield(L, opts, CBF_OPTION_NEW(pool)->name);
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
