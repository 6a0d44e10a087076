#include "hooks.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

#define FUNCTIONS_PATH "/v1/functions/"

void cbf_hooks_read(lua_State *L, int opts, int uv) {
    static const char *const names[] = {CBF_UV_ON_REQUEST, CBF_UV_ON_RESPONSE};
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        lua_pushstring(L, names[i]);
        lua_rawget(L, opts);
        if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) {
            lua_pushfstring(L, "%s must be a function(summary)", names[i]);
            cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, lua_tostring(L, -1));
        }
        lua_setfield(L, uv, names[i]);
    }
}

/* Push the hook `key` and a summary table with the fields both summaries share, and
 * return 1; or return 0 (nothing pushed) when the hook is unset. */
static int begin(lua_State *L, int uv, const char *key, const char *event, const cbf_request *req) {
    const char *url = req->url.data ? req->url.data : "";
    const char *name = strstr(url, FUNCTIONS_PATH);
    lua_getfield(L, uv, key);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    lua_createtable(L, 0, 12);
    lua_pushstring(L, event);
    lua_setfield(L, -2, "event");
    lua_pushstring(L, req->method);
    lua_setfield(L, -2, "method");
    lua_pushlstring(L, url, req->url.len);
    lua_setfield(L, -2, "url");
    if (name) {
        name += sizeof FUNCTIONS_PATH - 1;
        lua_pushlstring(L, name, strcspn(name, "/?"));
        lua_setfield(L, -2, "name");
    }
    if (req->request_id[0]) {
        lua_pushstring(L, req->request_id);
        lua_setfield(L, -2, "request_id");
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

void cbf_hooks_request(lua_State *L, int uv, cbf_client *c, const cbf_request *req, int attempt) {
    if (!begin(L, uv, CBF_UV_ON_REQUEST, "request", req)) return;
    lua_pushinteger(L, attempt);
    lua_setfield(L, -2, "attempt");
    cbf_hooks_call(L, c, CBF_UV_ON_REQUEST);
}

/* summary[key] = outcome[key] */
static void copy_field(lua_State *L, int outcome, const char *key) {
    lua_getfield(L, outcome, key);
    lua_setfield(L, -2, key);
}

void cbf_hooks_response(lua_State *L, int uv, cbf_client *c, const cbf_request *req, int outcome,
                        int ok, int attempts, long long started_ms) {
    if (outcome < 0) outcome = lua_gettop(L) + outcome + 1;
    if (!begin(L, uv, CBF_UV_ON_RESPONSE, "response", req)) return;
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
    lua_pushnumber(L, (double)(cbf_loop_clock_ms() - started_ms) / 1000.0);
    lua_setfield(L, -2, "elapsed");
    cbf_hooks_call(L, c, CBF_UV_ON_RESPONSE);
}
