#include "hooks.h"

#include <stdio.h>
#include <string.h>


#define FUNCTIONS_PATH "/v1/functions/"

/* What a summary says about the request: never its headers or body. */
typedef struct {
    const char *method, *url, *request_id; /* any may be NULL */
} request_facts;

void cbf_hooks_read(lua_State *L, int opts, int uv) {
    static const char *const names[] = {CBF_UV_ON_REQUEST, CBF_UV_ON_RESPONSE};
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        lua_pushstring(L, names[i]);
        lua_rawget(L, opts); /* nil or a function: cbf_options_check saw to that */
        lua_setfield(L, uv, names[i]);
    }
}

static void set_string(lua_State *L, const char *key, const char *value) {
    if (!value || !*value) return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

/* Push the hook `key` and return 1 when it is set; else 0, nothing pushed. */
static int hooked(lua_State *L, int uv, const char *key) {
    lua_getfield(L, uv, key);
    if (lua_isfunction(L, -1)) return 1;
    lua_pop(L, 1);
    return 0;
}

/* Push the hook `key` and a summary table with the fields both summaries share, and
 * return 1; or return 0 (nothing pushed) when the hook is unset. */
static int begin(lua_State *L, int uv, const char *key, const char *event, const request_facts *f) {
    const char *name;
    if (!hooked(L, uv, key)) return 0;
    name = f->url ? strstr(f->url, FUNCTIONS_PATH) : NULL;
    lua_createtable(L, 0, 12);
    set_string(L, "event", event);
    set_string(L, "method", f->method);
    set_string(L, "url", f->url);
    set_string(L, "request_id", f->request_id);
    if (name) {
        name += sizeof FUNCTIONS_PATH - 1;
        lua_pushlstring(L, name, strcspn(name, "/?"));
        lua_setfield(L, -2, "name");
    }
    return 1;
}

void cbf_hooks_call(lua_State *L, cbf_client *c, const char *key) {
    if (lua_pcall(L, 1, 0, 0) == 0) return;
    if (!c->hook_failed) {
        c->hook_failed = 1;
        fprintf(stderr, "cloudbase.functions: %s raised (ignored; reported once per client): %.200s\n",
                key, lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
    }
    lua_pop(L, 1);
}

static void request_hook(lua_State *L, int uv, cbf_client *c, const request_facts *f, int attempt) {
    if (!begin(L, uv, CBF_UV_ON_REQUEST, "request", f)) return;
    lua_pushinteger(L, attempt);
    lua_setfield(L, -2, "attempt");
    cbf_hooks_call(L, c, CBF_UV_ON_REQUEST);
}

/* summary[key] = outcome[key] */
static void copy_field(lua_State *L, int outcome, const char *key) {
    lua_getfield(L, outcome, key);
    lua_setfield(L, -2, key);
}

static void response_hook(lua_State *L, int uv, cbf_client *c, const request_facts *f, int outcome,
                          int ok, int attempts, double elapsed) {
    if (outcome < 0) outcome = lua_gettop(L) + outcome + 1;
    if (!begin(L, uv, CBF_UV_ON_RESPONSE, "response", f)) return;
    lua_pushboolean(L, ok);
    lua_setfield(L, -2, "ok");
    lua_pushinteger(L, attempts > 0 ? attempts : 1);
    lua_setfield(L, -2, "attempts");
    if (lua_istable(L, outcome)) {
        copy_field(L, outcome, "status");
        copy_field(L, outcome, "request_id"); /* the gateway's when it answered */
        if (ok) {
            copy_field(L, outcome, "timings");
        } else {
            copy_field(L, outcome, "code");
            copy_field(L, outcome, "message");
        }
    }
    lua_pushnumber(L, elapsed);
    lua_setfield(L, -2, "elapsed");
    cbf_hooks_call(L, c, CBF_UV_ON_RESPONSE);
}

static request_facts facts_of(const cbf_request *req) {
    request_facts f;
    f.method = req->method;
    f.url = req->url.data;
    f.request_id = req->request_id;
    return f;
}

void cbf_hooks_request(lua_State *L, int uv, cbf_client *c, const cbf_request *req, int attempt) {
    request_facts f = facts_of(req);
    request_hook(L, uv, c, &f, attempt);
}

void cbf_hooks_response(lua_State *L, int uv, cbf_client *c, const cbf_request *req, int outcome,
                        int ok, int attempts, long long started_ms) {
    request_facts f = facts_of(req);
    if (!hooked(L, uv, CBF_UV_ON_RESPONSE)) return; /* no clock read for nobody */
    lua_pop(L, 1);
    response_hook(L, uv, c, &f, outcome, ok, attempts,
                  (double)(cbf_loop_clock_ms() - started_ms) / 1000.0);
}

/* The facts of the request table at `req`, whose strings stay on the stack above base. */
static request_facts facts_of_table(lua_State *L, int req) {
    request_facts f;
    lua_getfield(L, req, "method");
    lua_getfield(L, req, "url");
    lua_getfield(L, req, "request_id");
    f.method = lua_type(L, -3) == LUA_TSTRING ? lua_tostring(L, -3) : NULL;
    f.url = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    f.request_id = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    return f;
}

void cbf_hooks_request_table(lua_State *L, int uv, cbf_client *c, int req) {
    int base = lua_gettop(L);
    request_facts f;
    if (!lua_istable(L, req)) return;
    f = facts_of_table(L, req);
    request_hook(L, uv, c, &f, 1);
    lua_settop(L, base);
}

void cbf_hooks_response_table(lua_State *L, int uv, cbf_client *c, int req, int outcome, int ok,
                              double elapsed) {
    int base = lua_gettop(L);
    request_facts f;
    if (outcome < 0) outcome = base + outcome + 1;
    if (!lua_istable(L, req)) return;
    f = facts_of_table(L, req);
    response_hook(L, uv, c, &f, outcome, ok, 1, elapsed);
    lua_settop(L, base);
}
