#include "auth.h"

#include <string.h>
#include <time.h>

#include "error.h"
#include "hooks.h"
#include "json.h"
#include "options.h"
#include "request.h"
#include "transport_curl.h"
#include "wire.h"

#define TOKEN_PATH "/auth/v1/token"
#define DEFAULT_MARGIN 30.0
#define POLL_MS 1000

static double wall_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Push given[key] without metamethods: reading options never runs caller code. */
static void raw_get(lua_State *L, int given, const char *key) {
    lua_pushstring(L, key);
    lua_rawget(L, given);
}

/* "auth" and why, raised. */
static void bad(lua_State *L, const char *why) {
    lua_pushfstring(L, "%s%s", CBF_OPTION_NEW(auth)->name, why);
    cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, lua_tostring(L, -1));
}

/* A token string at the top, or nil; refuses what cannot go in a header. */
static int token_ok(lua_State *L, int idx) {
    size_t len;
    const char *s;
    if (lua_type(L, idx) != LUA_TSTRING) return 0;
    s = lua_tolstring(L, idx, &len);
    return len > 0 && cbf_wire_ok(s, len, CBF_WIRE_VALUE);
}

void cbf_auth_read(lua_State *L, int opts, int uv) {
    static const char *const known[] = {"access_token", "refresh_token", "expires_in", "expires_at",
                                        "refresh_margin", "on_refresh", NULL};
    int given, state;
    double now = wall_clock();
    lua_pushliteral(L, "auth");
    lua_rawget(L, opts);
    given = lua_gettop(L);
    if (lua_isnil(L, given)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, given)) cbf_option_raise(L, CBF_OPTION_NEW(auth));
    lua_pushliteral(L, "token");
    lua_rawget(L, opts);
    if (!lua_isnil(L, -1)) bad(L, " and token are exclusive: auth manages the token");
    lua_pop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, given) != 0) {
        int i, found = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (i = 0; known[i]; i++) found |= strcmp(lua_tostring(L, -2), known[i]) == 0;
        if (!found) bad(L, " knows access_token, refresh_token, expires_in, expires_at, refresh_margin and on_refresh");
        lua_pop(L, 1);
    }
    lua_createtable(L, 0, 5);
    state = lua_gettop(L);
    raw_get(L, given, "refresh_token");
    if (!token_ok(L, -1)) bad(L, ".refresh_token must be a non-empty string without control bytes");
    lua_setfield(L, state, "refresh_token");
    raw_get(L, given, "access_token");
    if (!lua_isnil(L, -1) && !token_ok(L, -1)) bad(L, ".access_token must be a non-empty string without control bytes");
    lua_setfield(L, state, "access_token");
    raw_get(L, given, "expires_in");
    raw_get(L, given, "expires_at");
    if (!lua_isnil(L, -1) && !lua_isnil(L, -2)) bad(L, ": give expires_in or expires_at, not both");
    if (!lua_isnil(L, -2)) {
        if (lua_type(L, -2) != LUA_TNUMBER) bad(L, ".expires_in must be a number of seconds");
        lua_pushnumber(L, now + lua_tonumber(L, -2));
        lua_setfield(L, state, "expires_at");
    } else if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER) bad(L, ".expires_at must be a Unix time in seconds");
        lua_pushvalue(L, -1);
        lua_setfield(L, state, "expires_at");
    }
    lua_pop(L, 2);
    raw_get(L, given, "refresh_margin");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushnumber(L, DEFAULT_MARGIN);
    } else if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) >= 0)) {
        bad(L, ".refresh_margin must be a number of seconds (0 or more)");
    }
    lua_setfield(L, state, "margin");
    raw_get(L, given, "on_refresh");
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) bad(L, ".on_refresh must be a function(tokens)");
    lua_setfield(L, state, "on_refresh");
    lua_setfield(L, uv, CBF_UV_AUTH);
    lua_pushnil(L);
    lua_setfield(L, uv, CBF_UV_TOKEN);
    lua_pop(L, 1);
}

int cbf_auth_enabled(lua_State *L, int uv) {
    int yes;
    lua_getfield(L, uv, CBF_UV_AUTH);
    yes = lua_istable(L, -1);
    lua_pop(L, 1);
    return yes;
}

/* Fill t->req with the refresh request for the token state at `state`. 0, or -1 with
 * an error pushed. */
static int build_refresh(lua_State *L, cbf_client *c, int state, cbf_transfer *t) {
    cbf_request *req = &t->req;
    cbf_json_error jerr;
    int rc = 0;
    cbf_buffer_reset(&req->url, CBF_BUFFER_KEEP);
    cbf_buffer_reset(&req->headers, CBF_BUFFER_KEEP);
    cbf_buffer_reset(&req->body, CBF_BUFFER_KEEP);
    strcpy(req->method, "POST");
    req->has_body = 1;
    req->timeout = c->timeout;
    req->connect_timeout = c->connect_timeout;
    if (cbf_request_id_new(req->request_id)) {
        cbf_error_push(L, CBF_E_RANDOM_UNAVAILABLE, "the OS random source failed", 0, NULL, NULL, 0);
        return -1;
    }
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "refresh_token");
    lua_setfield(L, -2, "grant_type");
    lua_getfield(L, state, "refresh_token");
    lua_setfield(L, -2, "refresh_token");
    /* The body holds the refresh token: it lives only in this buffer and on the wire. */
    rc |= cbf_json_encode(L, lua_gettop(L), "refresh", &req->body, &jerr);
    lua_pop(L, 1);
    rc |= cbf_buffer_append_str(&req->url, c->base_url) || cbf_buffer_append_str(&req->url, TOKEN_PATH);
    rc |= cbf_buffer_append(&req->headers, "Content-Type: application/json", sizeof "Content-Type: application/json");
    rc |= cbf_buffer_append(&req->headers, "Accept: application/json", sizeof "Accept: application/json");
    rc |= cbf_buffer_append_str(&req->headers, "X-Request-Id: ") ||
          cbf_buffer_append(&req->headers, req->request_id, CBF_UUID_LEN + 1);
    if (rc) cbf_error_push(L, CBF_E_OUT_OF_MEMORY, "no memory for the refresh request", 0, NULL, NULL, 0);
    return rc ? -1 : 0;
}

/* The endpoint's answer, in t: store the new tokens in `state` (0), or push the
 * endpoint's error (-1): its OAuth2 `error` as the code, `error_description` as the
 * message, or the transfer's own failure. */
static int read_answer(lua_State *L, int state, cbf_transfer *t) {
    cbf_json_error jerr;
    cbf_transfer_outcome o;
    const char *id = t->req.request_id;
    long status;
    int top = lua_gettop(L);
    cbf_transfer_outcome_of(t, &o);
    status = o.status;
    if (o.error) {
        cbf_error_push(L, o.error, o.message, status, id, NULL, 0);
        return -1;
    }
    if (o.body->len == 0 || cbf_json_decode(L, o.body->data, o.body->len, CBF_JSON_BIG_FLOAT, &jerr) != 0 ||
        !lua_istable(L, -1)) {
        lua_settop(L, top);
        cbf_error_push(L, status == 200 ? CBF_E_INVALID_RESPONSE : CBF_E_HTTP_ERROR,
                       "the token endpoint's answer is not a JSON object", status, id, NULL, 0);
        return -1;
    }
    if (status != 200) {
        const char *code, *why;
        lua_getfield(L, top + 1, "error");
        lua_getfield(L, top + 1, "error_description");
        code = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : CBF_E_HTTP_ERROR;
        why = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "the token endpoint refused the refresh";
        cbf_error_push(L, code, why, status, id, NULL, 0);
        lua_replace(L, top + 1);
        lua_settop(L, top + 1);
        return -1;
    }
    lua_getfield(L, top + 1, "access_token");
    lua_getfield(L, top + 1, "refresh_token");
    lua_getfield(L, top + 1, "expires_in");
    if (!token_ok(L, top + 2) || (!lua_isnil(L, top + 3) && !token_ok(L, top + 3)) ||
        (!lua_isnil(L, top + 4) && lua_type(L, top + 4) != LUA_TNUMBER)) {
        lua_settop(L, top);
        cbf_error_push(L, CBF_E_INVALID_RESPONSE, "the token endpoint's answer lacks a usable access_token",
                       status, id, NULL, 0);
        return -1;
    }
    lua_pushvalue(L, top + 2);
    lua_setfield(L, state, "access_token");
    if (!lua_isnil(L, top + 3)) { /* rotated: the old one is spent */
        lua_pushvalue(L, top + 3);
        lua_setfield(L, state, "refresh_token");
    }
    if (lua_isnil(L, top + 4)) lua_pushnil(L);
    else lua_pushnumber(L, wall_clock() + lua_tonumber(L, top + 4));
    lua_setfield(L, state, "expires_at");
    lua_settop(L, top);
    return 0;
}

/* Hand the new tokens to on_refresh, under pcall (hooks.c reports a raise once). */
static void notify(lua_State *L, cbf_client *c, int state) {
    static const char *const fields[] = {"access_token", "refresh_token", "expires_at"};
    size_t i;
    lua_getfield(L, state, "on_refresh");
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_createtable(L, 0, 4);
    for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        lua_getfield(L, state, fields[i]);
        lua_setfield(L, -2, fields[i]);
    }
    lua_getfield(L, state, "expires_at");
    if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_pushnumber(L, lua_tonumber(L, -1) - wall_clock());
        lua_setfield(L, -3, "expires_in");
    }
    lua_pop(L, 1);
    cbf_hooks_call(L, c, "on_refresh");
}

/* One refresh on the client's loop (other transfers move on meanwhile). 0, or -1 with
 * the endpoint's (or the transfer's) error pushed. */
static int refresh(lua_State *L, cbf_client *c, int state) {
    cbf_transfer *t = cbf_client_idle_transfer(c);
    int rc, running = c->running;
    if (!t) {
        cbf_error_push(L, CBF_E_OUT_OF_MEMORY, "no memory for the refresh transfer", 0, NULL, NULL, 0);
        return -1;
    }
    cbf_client_claim(c, t); /* a raise meanwhile: the method's guard takes it back */
    rc = build_refresh(L, c, state, t);
    if (rc == 0) {
        cbf_retry_begin(&t->retry, NULL, t->req.timeout);
        rc = cbf_client_attach(L, c, t);
    }
    if (rc) {
        cbf_client_unclaim(t);
        return -1;
    }
    c->running = 1; /* no Lua runs in the loop; nested calls stay refused */
    while (!t->done) cbf_loop_step(c->loop, POLL_MS);
    c->running = running;
    rc = read_answer(L, state, t);
    cbf_buffer_reset(&t->req.body, CBF_BUFFER_KEEP); /* the refresh token goes now */
    cbf_transfer_clear(t);
    cbf_client_unclaim(t);
    if (rc == 0) notify(L, c, state);
    return rc;
}

/* The refresh failed with its error on top: replace it with AUTH_REFRESH_FAILED whose
 * cause is the error at `cause` (0: the endpoint's error itself) and whose id is
 * request_id (NULL: the refresh request's). */
static void push_failure(lua_State *L, int cause, const char *request_id) {
    int endpoint = lua_gettop(L);
    lua_getfield(L, endpoint, "code");
    lua_getfield(L, endpoint, "message");
    lua_getfield(L, endpoint, "status");
    lua_getfield(L, endpoint, "request_id");
    lua_pushfstring(L, "the access token could not be refreshed: %s: %s",
                    lua_tostring(L, endpoint + 1) ? lua_tostring(L, endpoint + 1) : "?",
                    lua_tostring(L, endpoint + 2) ? lua_tostring(L, endpoint + 2) : "");
    cbf_error_push(L, CBF_E_AUTH_REFRESH_FAILED, lua_tostring(L, -1), (long)lua_tointeger(L, endpoint + 3),
                   request_id ? request_id : lua_tostring(L, endpoint + 4), NULL, 0);
    lua_remove(L, -2);
    lua_pushvalue(L, cause ? cause : endpoint);
    lua_setfield(L, -2, "cause");
    lua_pushvalue(L, endpoint);
    lua_setfield(L, -2, "refresh_error");
    lua_replace(L, endpoint);
    lua_settop(L, endpoint);
}

int cbf_auth_token(lua_State *L, cbf_client *c, int uv) {
    int state;
    double expires_at, margin;
    lua_getfield(L, uv, CBF_UV_AUTH);
    state = lua_gettop(L);
    lua_getfield(L, state, "expires_at");
    lua_getfield(L, state, "margin");
    lua_getfield(L, state, "access_token");
    expires_at = lua_type(L, -3) == LUA_TNUMBER ? lua_tonumber(L, -3) : -1;
    margin = lua_tonumber(L, -2);
    if (lua_isnil(L, -1) || (expires_at >= 0 && wall_clock() >= expires_at - margin)) {
        lua_settop(L, state);
        if (refresh(L, c, state)) {
            push_failure(L, 0, NULL);
            lua_replace(L, state);
            lua_settop(L, state);
            return -1;
        }
        lua_getfield(L, state, "access_token");
    }
    lua_replace(L, state);
    lua_settop(L, state);
    return 0;
}

int cbf_auth_renew(lua_State *L, cbf_client *c, int uv, cbf_request *req) {
    int original = lua_gettop(L), state;
    size_t sent_len = 0, len;
    const char *sent = cbf_request_bearer(req, &sent_len), *now;
    lua_getfield(L, uv, CBF_UV_AUTH);
    state = lua_gettop(L);
    lua_getfield(L, state, "access_token");
    now = lua_tolstring(L, -1, &len);
    lua_pop(L, 1);
    /* A refresh only when no other call refreshed since this one was built; otherwise
     * the newer token is the one to use. */
    if ((!now || (sent && len == sent_len && memcmp(now, sent, len) == 0)) && refresh(L, c, state)) {
        push_failure(L, original, req->request_id);
        lua_remove(L, state);
        return -1;
    }
    lua_getfield(L, state, "access_token");
    now = lua_tolstring(L, -1, &len);
    if (!now || cbf_request_set_bearer(req, now, len)) {
        lua_settop(L, original);
        cbf_error_push(L, CBF_E_OUT_OF_MEMORY, "no memory for the request", 0, NULL, NULL, 0);
        return -1;
    }
    lua_settop(L, original);
    return 0;
}
