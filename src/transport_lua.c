#include "transport_lua.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "hooks.h"

void cbf_request_push(lua_State *L, const cbf_request *req) {
    size_t pos = 0;
    lua_createtable(L, 0, 6);
    lua_pushstring(L, req->method);
    lua_setfield(L, -2, "method");
    lua_pushlstring(L, req->url.data, req->url.len);
    lua_setfield(L, -2, "url");
    lua_newtable(L);
    while (pos < req->headers.len) {
        const char *entry = req->headers.data + pos, *colon = strchr(entry, ':');
        size_t len = strlen(entry);
        if (colon) { /* always: the core builds every entry as "Name: value" */
            const char *v = colon + 1;
            while (*v == ' ') v++;
            lua_pushlstring(L, entry, (size_t)(colon - entry));
            lua_pushstring(L, v);
            lua_rawset(L, -3);
        }
        pos += len + 1;
    }
    lua_setfield(L, -2, "headers");
    if (req->has_body) {
        lua_pushlstring(L, req->body.data ? req->body.data : "", req->body.len);
        lua_setfield(L, -2, "body");
    }
    lua_pushnumber(L, req->timeout);
    lua_setfield(L, -2, "timeout");
    lua_pushnumber(L, req->connect_timeout);
    lua_setfield(L, -2, "connect_timeout");
    lua_pushstring(L, req->request_id);
    lua_setfield(L, -2, "request_id");
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Push an error and leave it alone above `base`. */
static int fail(lua_State *L, int base, const char *code, const char *message) {
    cbf_error_push(L, code, message, 0, NULL, NULL, 0);
    if (lua_gettop(L) > base + 1) {
        lua_replace(L, base + 1);
        lua_settop(L, base + 1);
    }
    return -1;
}

/* Replace the list at `idx` by its values joined with ", ". Each value goes into a
 * luaL_Buffer as soon as it is read, so the stack stays bounded whatever the length.
 * Returns -1 (list left in place) when a value is not a string or a number. */
static int join_list(lua_State *L, int idx) {
    size_t i, n = lua_rawlen(L, idx);
    luaL_Buffer b;
    for (i = 1; i <= n; i++) { /* check first: a luaL_Buffer cannot be abandoned midway */
        int ok;
        lua_rawgeti(L, idx, (lua_Integer)i);
        ok = lua_isstring(L, -1);
        lua_pop(L, 1);
        if (!ok) return -1;
    }
    luaL_buffinit(L, &b);
    for (i = 1; i <= n; i++) {
        if (i > 1) luaL_addlstring(&b, ", ", 2);
        lua_rawgeti(L, idx, (lua_Integer)i);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_replace(L, idx);
    return 0;
}

/* Copy the response headers with lower-case names, the shape the core reads; a list
 * of values (a repeated header, as lua-resty-http gives it) is joined with ", ". */
static int push_lowercase_headers(lua_State *L, int src) {
    lua_newtable(L);
    if (lua_isnil(L, src)) return 0;
    if (!lua_istable(L, src)) return -1;
    lua_pushnil(L);
    while (lua_next(L, src) != 0) {
        char name[256];
        size_t len, i;
        const char *k;
        if (lua_type(L, -2) != LUA_TSTRING) return -1;
        if (lua_istable(L, -1)) {
            if (join_list(L, lua_gettop(L)) != 0) return -1;
        } else if (!lua_isstring(L, -1)) {
            return -1;
        }
        k = lua_tolstring(L, -2, &len);
        if (len >= sizeof name) return -1;
        for (i = 0; i < len; i++) name[i] = (char)tolower((unsigned char)k[i]);
        lua_pushlstring(L, name, len);
        lua_pushvalue(L, -2);
        lua_rawset(L, -5);
        lua_pop(L, 1);
    }
    return 0;
}

int cbf_lua_response_read(lua_State *L, int resp, size_t max_response_size, const char *bad,
                          cbf_response *r) {
    int base = lua_gettop(L);
    char msg[160];
    if (!lua_istable(L, resp))
        return fail(L, base, bad, "a response is a table { status =, headers =, body = }");
    cbf_rawfield(L, resp, "status");
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 100 || lua_tointeger(L, -1) > 599)
        return fail(L, base, bad, "a response needs an integer status (100-599)");
    r->status = (long)lua_tointeger(L, -1);
    lua_pop(L, 1);
    cbf_rawfield(L, resp, "headers");
    if (push_lowercase_headers(L, lua_gettop(L)) != 0)
        return fail(L, base, bad, "response headers must be { name = string or list of strings }");
    lua_remove(L, -2);
    cbf_rawfield(L, resp, "body");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    } else if (lua_type(L, -1) != LUA_TSTRING) {
        return fail(L, base, bad, "a response body must be a string");
    }
    r->body = lua_tolstring(L, -1, &r->body_len);
    if (r->body_len > max_response_size) {
        snprintf(msg, sizeof msg, "response body exceeds max_response_size (%zu bytes)",
                 max_response_size);
        return fail(L, base, CBF_E_RESPONSE_TOO_LARGE, msg);
    }
    r->headers = lua_gettop(L) - 1;
    r->elapsed = -1;
    r->sent_id = NULL;
    return 0;
}

/* One transport call has returned: `ok` as pcall gave it, at `resp` the response (or
 * nil, code, message, or pcall's error), the request table at `req`. Pushes `result,
 * info` (0) or an error (-1) with nothing left between; the outcome carries the
 * request's id and attempts = 1, and on_response has seen it. */
static int settle(lua_State *L, cbf_client *c, int uv, int req, int ok, int resp, double started) {
    int base = lua_gettop(L), rc = -1, n;
    const char *sent_id;
    cbf_response r;
    lua_getfield(L, req, "request_id");
    sent_id = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (!ok) {
        cbf_error_pushf(L, CBF_E_TRANSPORT_ERROR, "transport function failed: %s",
                        cbf_error_describe(L, resp));
    } else if (lua_isnil(L, resp)) { /* nil, code, message: the transport's own failure */
        const char *code = lua_isstring(L, resp + 1) ? lua_tostring(L, resp + 1) : CBF_E_NETWORK_ERROR;
        const char *why = lua_isstring(L, resp + 2) ? lua_tostring(L, resp + 2) : "transport failed";
        cbf_error_push(L, code, why, 0, NULL, NULL, 0);
    } else if (cbf_lua_response_read(L, resp, c->max_response_size, CBF_E_TRANSPORT_ERROR, &r) == 0) {
        r.elapsed = now() - started;
        r.sent_id = sent_id;
        rc = cbf_response_finish(L, uv, &r);
    }
    if (rc != 0) cbf_error_default_request_id(L, -1, sent_id);
    lua_pushliteral(L, "attempts");
    lua_pushinteger(L, 1);
    lua_rawset(L, -3);
    cbf_hooks_response_table(L, uv, c, req, -1, rc == 0, now() - started);
    n = rc == 0 ? 2 : 1;
    lua_rotate(L, base + 1, n);
    lua_settop(L, base + n);
    return rc;
}

/* complete(client, started, request, pcall-status, response | nil, code, message): what
 * the embedded Lua methods call once the transport has returned (see lua_methods.c).
 * The transport itself runs in Lua frames, where a cosocket may yield. Returns
 * `true, result, info` or `false, err`; never raises for a bad response. */
int cbf_lua_transport_complete(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    double started = luaL_checknumber(L, 2);
    lua_settop(L, 7);
    cbf_getuservalue(L, 1);
    if (settle(L, c, 8, 3, lua_toboolean(L, 4), 5, started) == 0) {
        lua_pushboolean(L, 1);
        lua_insert(L, -3);
        return 3;
    }
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

/* sending(client, request): the Lua methods are about to call the transport. */
int cbf_lua_transport_sending(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    lua_settop(L, 2);
    cbf_getuservalue(L, 1);
    cbf_hooks_request_table(L, 3, c, 2);
    return 0;
}

int cbf_lua_transport_run(lua_State *L, cbf_client *c, int uv, int transport, const cbf_request *req) {
    int base = lua_gettop(L), ok, rc, n;
    double started = now();
    cbf_request_push(L, req);
    cbf_hooks_request_table(L, uv, c, base + 1);
    lua_pushvalue(L, transport);
    lua_pushvalue(L, base + 1);
    ok = lua_pcall(L, 1, 3, 0) == 0;
    if (!ok) lua_settop(L, base + 4); /* the error value, then nil, nil */
    rc = settle(L, c, uv, base + 1, ok, base + 2, started);
    n = rc == 0 ? 2 : 1;
    lua_rotate(L, base + 1, n);
    lua_settop(L, base + n);
    return rc;
}

int cbf_lua_transport_of(lua_State *L) {
    cbf_client_check(L, 1);
    cbf_getuservalue(L, 1);
    lua_getfield(L, -1, CBF_UV_TRANSPORT);
    return 1;
}

int cbf_lua_clock(lua_State *L) {
    lua_pushnumber(L, now());
    return 1;
}
