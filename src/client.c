/* functions.new: option parsing, and the client's lifetime (close, __gc, __close). */
#include "client.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "options.h"
#include "request.h"
#include "transport_curl.h"
#include "wire.h"

#define DEFAULT_TIMEOUT 60.0
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_MAX_RESPONSE (64u * 1024 * 1024)
#define DEFAULT_MAX_REQUEST (6u * 1024 * 1024)

cbf_client *cbf_client_check(lua_State *L, int idx) {
    return (cbf_client *)luaL_checkudata(L, idx, CBF_CLIENT_MT);
}

static void free_string(cbf_client *c, char **s) {
    if (*s) cbf_realloc(&c->alloc, *s, strlen(*s) + 1, 0);
    *s = NULL;
}

void cbf_client_release(cbf_client *c) {
    cbf_curl_client_close(c);
    free_string(c, &c->base_url);
    free_string(c, &c->qualifier);
    free_string(c, &c->ca_file);
    free_string(c, &c->ca_path);
    free_string(c, &c->proxy);
}

/* Slots a method may need on top of its arguments, checked once on entry. */
#define STACK_NEED 64

/* Give a transfer to the call that `c->owner` names: the guard around that call
 * takes it back however the call ends. */
void cbf_client_claim(cbf_client *c, cbf_transfer *t) {
    t->active = 1;
    t->owner = c->owner;
}

/* Take back every transfer `owner` claimed: detached, cleared and idle again. */
static void release_owned(cbf_client *c, const void *owner) {
    size_t k;
    for (k = 0; k < c->ntransfers; k++) {
        cbf_transfer *t = c->transfers[k];
        if (t->owner != owner) continue;
        if (t->active) cbf_transfer_detach(c, t); /* a no-op if not added */
        t->active = 0;
        t->owner = NULL;
        cbf_transfer_clear(t);
    }
}

/* Calls in progress keep the client alive through a close() made meanwhile. */
static void call_begin(cbf_client *c) { c->calls++; }
static void call_end(cbf_client *c) {
    if (--c->calls == 0 && c->closed) cbf_client_release(c);
}

/* Every method runs `body` through here: a closed or busy client is refused before
 * anything starts, and the body runs under lua_pcall so that, whatever raises inside
 * (a memory error, a caller's metamethod), its transfers, the call count and the busy
 * flag are given back. Then the raise goes on (raise = 1: invoke, invoke_all), or
 * becomes nil, err (try_invoke, prepare, process, which never raise). */
int cbf_client_guarded(lua_State *L, lua_CFunction body, int raise) {
    cbf_client *c = cbf_client_check(L, 1);
    int nargs = lua_gettop(L), status;
    const void *outer = c->owner;
    char owner; /* its address names this call's transfers */
    const char *refused = c->closed    ? "the client is closed"
                          : c->running ? "the client is busy: a token or codec function called it again"
                                       : NULL;
    if (refused || !lua_checkstack(L, STACK_NEED)) {
        cbf_error_push(L, refused ? CBF_E_INVALID_ARGUMENT : CBF_E_OUT_OF_MEMORY,
                       refused ? refused : "Lua stack exhausted", 0, NULL, NULL, 0);
        return raise ? lua_error(L) : cbf_error_nil_err(L);
    }
    call_begin(c);
    c->owner = &owner;
    lua_pushcfunction(L, body);
    lua_insert(L, 1);
    status = lua_pcall(L, nargs, LUA_MULTRET, 0);
    release_owned(c, &owner);
    c->owner = outer;
    c->running = 0; /* set only by a loop that runs no nested call */
    call_end(c);
    if (status == 0) return lua_gettop(L);
    if (raise) return lua_error(L);
    if (!cbf_error_is(L, -1)) {
        /* Not one of ours: a memory error, or caller code raising on a path that has
         * no error of its own. */
        char msg[200];
        snprintf(msg, sizeof msg, "caller-supplied code raised: %.150s",
                 lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
        cbf_error_push(L, status == LUA_ERRMEM ? CBF_E_OUT_OF_MEMORY : CBF_E_INVALID_ARGUMENT,
                       status == LUA_ERRMEM ? "not enough memory" : msg, 0, NULL, NULL, 0);
        lua_replace(L, -2);
    }
    return cbf_error_nil_err(L);
}

static int client_gc(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    c->closed = 1;
    cbf_client_release(c);
    return 0;
}

/* Closing from a token, transport or codec function, in the middle of a call, must
 * not free what that call is using: the call finishes, then the client is released.
 * `<close>` means the same as close(); only __gc frees at once (no call can be running
 * then: a running call holds the client on its stack). */
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

/* What functions.new gathers before the base URL can be settled. */
typedef struct {
    cbf_client *c;
    int uv;
    const char *url, *env; /* option values, kept alive by the options table or environ */
    int url_from_env, env_from_env, intl;
} client_setup;

/* Raise "option 'name' must be <its expect>, got <value>". */
static void refuse(lua_State *L, const char *name, int value) {
    cbf_option_invalid(L, cbf_option_find(cbf_client_options, name), value);
    lua_error(L);
}

/* Raise "option 'name' <what>", for a refusal more precise than the expected type. */
static void refuse_because(lua_State *L, const char *name, const char *what) {
    lua_pushfstring(L, "option '%s' %s", name, what);
    cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, lua_tostring(L, -1));
}

/* A copy of s from the client's allocator; its size is strlen + 1 (free_string). */
static char *dup_or_raise(lua_State *L, cbf_client *c, const char *s) {
    size_t len = strlen(s);
    char *copy = cbf_realloc(&c->alloc, NULL, 0, len + 1);
    if (!copy) cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "not enough memory for the client");
    memcpy(copy, s, len + 1);
    return copy;
}

/* The string at `value` (the type is checked), refused with control bytes; NULL for nil. */
static const char *text(lua_State *L, const char *name, int value) {
    size_t len;
    const char *v;
    if (lua_isnil(L, value)) return NULL;
    v = lua_tolstring(L, value, &len);
    if (!cbf_wire_ok(v, len, CBF_WIRE_VALUE)) refuse(L, name, value);
    return v;
}

static char *text_copy(lua_State *L, cbf_client *c, const char *name, int value) {
    const char *v = text(L, name, value);
    return v ? dup_or_raise(L, c, v) : NULL;
}

static void check_base_url(lua_State *L, const char *url) {
    const char *authority, *end;
    if (strncmp(url, "http://", 7) == 0) {
        authority = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        authority = url + 8;
    } else {
        refuse_because(L, "base_url", "must start with http:// or https://");
        return;
    }
    end = authority + strcspn(authority, "/");
    if (end == authority) refuse_because(L, "base_url", "has no host");
    if (memchr(authority, '@', (size_t)(end - authority)))
        refuse_because(L, "base_url", "must not carry credentials: use the token option");
    if (!cbf_wire_ok(url, strlen(url), CBF_WIRE_URL) || strpbrk(url, "?#"))
        refuse_because(L, "base_url", "must not contain spaces, a query or a fragment");
}

static char *base_url_from_env(lua_State *L, cbf_client *c, const char *env, int intl) {
    size_t i, len = strlen(env);
    if (len == 0 || len > 100) refuse_because(L, "env", "must be 1 to 100 characters");
    for (i = 0; i < len; i++)
        if (!isalnum((unsigned char)env[i]) && env[i] != '-')
            refuse_because(L, "env", "may hold only letters, digits and '-'");
    lua_pushfstring(L, "https://%s.api.%stcloudbasegateway.com", env, intl ? "intl." : "");
    return dup_or_raise(L, c, lua_tostring(L, -1));
}

/* ---- one parser per row of CBF_CLIENT_OPTIONS (options.h) ---------------------
 * Each gets the option's value at `value` (nil when absent; its environment
 * variable's value when that stands in, then `from_env` is 1), with its type already
 * checked against the table, and raises on a bad value. */

static void parse_env(lua_State *L, int value, int from_env, client_setup *s) {
    s->env = text(L, "env", value);
    s->env_from_env = from_env;
}

static void parse_intl(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    s->intl = lua_toboolean(L, value);
}

static void parse_base_url(lua_State *L, int value, int from_env, client_setup *s) {
    s->url = text(L, "base_url", value);
    s->url_from_env = from_env;
}

static void parse_token(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    lua_pushvalue(L, value);
    lua_setfield(L, s->uv, CBF_UV_TOKEN);
}

static void parse_qualifier(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    s->c->qualifier = text_copy(L, s->c, "qualifier", value);
}

static double seconds(lua_State *L, const char *name, int value, double dflt) {
    double v;
    if (lua_isnil(L, value)) return dflt;
    v = lua_tonumber(L, value);
    if (!(v > 0) || v >= CBF_MAX_SECONDS) refuse(L, name, value);
    return v;
}

static void parse_timeout(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    s->c->timeout = seconds(L, "timeout", value, DEFAULT_TIMEOUT);
}

static void parse_connect_timeout(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    s->c->connect_timeout = seconds(L, "connect_timeout", value, DEFAULT_CONNECT_TIMEOUT);
}

/* A checked copy: changing the caller's table later reaches nothing. */
static void parse_headers(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    if (cbf_request_check_headers(L, value, "headers", 1)) lua_error(L);
    lua_setfield(L, s->uv, CBF_UV_HEADERS);
}

static size_t bytes(lua_State *L, const char *name, int value, size_t dflt) {
    if (lua_isnil(L, value)) return dflt;
    if (!lua_isinteger(L, value) || lua_tointeger(L, value) <= 0) refuse(L, name, value);
    return (size_t)lua_tointeger(L, value);
}

static void parse_max_response_size(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    s->c->max_response_size = bytes(L, "max_response_size", value, DEFAULT_MAX_RESPONSE);
}

static void parse_max_request_size(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    s->c->max_request_size = bytes(L, "max_request_size", value, DEFAULT_MAX_REQUEST);
}

static void parse_ca_file(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    s->c->ca_file = text_copy(L, s->c, "ca_file", value);
}

static void parse_ca_path(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    s->c->ca_path = text_copy(L, s->c, "ca_path", value);
}

static void parse_proxy(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    s->c->proxy = text_copy(L, s->c, "proxy", value);
}

static void parse_resolve(lua_State *L, int value, int from_env, client_setup *s) {
    size_t i, n;
    (void)from_env;
    if (lua_isnil(L, value)) return;
    n = lua_rawlen(L, value);
    for (i = 1; i <= n; i++) {
        size_t len = 0;
        const char *entry;
        lua_rawgeti(L, value, (lua_Integer)i);
        entry = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        if (!entry || !cbf_wire_ok(entry, len, CBF_WIRE_URL)) refuse(L, "resolve", value);
        if (cbf_curl_resolve_add(s->c, entry))
            cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "not enough memory for the client");
        lua_pop(L, 1);
    }
}

static void parse_http2(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    if (lua_isnil(L, value) || (lua_isboolean(L, value) && lua_toboolean(L, value)))
        s->c->http_mode = CBF_HTTP_AUTO;
    else if (lua_isboolean(L, value))
        s->c->http_mode = CBF_HTTP_1_1;
    else if (strcmp(lua_tostring(L, value), "prior-knowledge") == 0)
        s->c->http_mode = CBF_HTTP_2_PRIOR_KNOWLEDGE;
    else
        refuse(L, "http2", value);
}

static void parse_transport(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    lua_pushvalue(L, value);
    lua_setfield(L, s->uv, CBF_UV_TRANSPORT);
}

static void parse_json(lua_State *L, int value, int from_env, client_setup *s) {
    (void)from_env;
    if (!lua_isnil(L, value)) {
        int ok;
        lua_getfield(L, value, "encode");
        lua_getfield(L, value, "decode");
        ok = !lua_isnil(L, -1) && !lua_isnil(L, -2);
        lua_pop(L, 2);
        if (!ok) refuse(L, "json", value);
    }
    lua_pushvalue(L, value);
    lua_setfield(L, s->uv, CBF_UV_JSON);
}

typedef void (*client_parser)(lua_State *L, int value, int from_env, client_setup *s);
#define CBF_PARSER_ROW(name, types, expect, env) parse_##name,
static const client_parser parsers[] = {CBF_CLIENT_OPTIONS(CBF_PARSER_ROW) NULL};
#undef CBF_PARSER_ROW

/* Every option of the table through its parser, in the table's order. */
static void parse_options(lua_State *L, int opts, client_setup *s) {
    int i;
    for (i = 0; parsers[i]; i++) {
        const cbf_option *o = &cbf_client_options[i];
        int from_env = 0, top = lua_gettop(L);
        lua_pushstring(L, o->name);
        lua_rawget(L, opts);
        if (lua_isnil(L, -1) && o->env) {
            const char *v = getenv(o->env);
            if (v && *v) {
                lua_pop(L, 1);
                lua_pushstring(L, v);
                from_env = 1;
            }
        }
        parsers[i](L, top + 1, from_env, s);
        lua_settop(L, top);
    }
}

/* The base URL without trailing slashes, as a copy of its own size. */
static char *dup_base_url(lua_State *L, cbf_client *c, const char *url) {
    size_t n = strlen(url);
    char *copy;
    check_base_url(L, url);
    while (n > 0 && url[n - 1] == '/') n--;
    copy = cbf_realloc(&c->alloc, NULL, 0, n + 1);
    if (!copy) cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "not enough memory for the client");
    memcpy(copy, url, n);
    copy[n] = '\0';
    return copy;
}

/* base_url beats env; an option beats an environment variable. */
static void settle_base_url(lua_State *L, client_setup *s) {
    cbf_client *c = s->c;
    if (s->url && !s->url_from_env)
        c->base_url = dup_base_url(L, c, s->url);
    else if (s->env && !s->env_from_env)
        c->base_url = base_url_from_env(L, c, s->env, s->intl);
    else if (s->url)
        c->base_url = dup_base_url(L, c, s->url);
    else if (s->env)
        c->base_url = base_url_from_env(L, c, s->env, s->intl);
    else
        cbf_error_raise(L, CBF_E_INVALID_ARGUMENT,
                        "set env or base_url (or CLOUDBASE_ENV_ID / CLOUDBASE_BASE_URL)");
}

int cbf_client_new(lua_State *L) {
    client_setup s;
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    lua_settop(L, 1);
    if (cbf_options_check(L, 1, cbf_client_options, "functions.new", 0)) return lua_error(L);

    memset(&s, 0, sizeof s);
    s.c = (cbf_client *)cbf_newuserdata(L, sizeof *s.c);
    memset(s.c, 0, sizeof *s.c);
    s.c->alloc = cbf_alloc_of(L);
    luaL_setmetatable(L, CBF_CLIENT_MT); /* from here on, __gc frees whatever is set */
    lua_newtable(L);
    s.uv = lua_gettop(L);
    parse_options(L, 1, &s);
    settle_base_url(L, &s);

    if (cbf_curl_client_open(s.c)) return cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "curl_multi_init failed");

    lua_settop(L, s.uv);
    cbf_setuservalue(L, -2);
    return 1;
}

const luaL_Reg cbf_client_meta[] = {{"__gc", client_gc},
                                    {"__close", client_close}, /* deferred while a call runs */
                                    {"__tostring", client_tostring},
                                    {NULL, NULL}};
const luaL_Reg cbf_client_methods[] = {{"close", client_close}, {NULL, NULL}};
