/* client:invoke, try_invoke, invoke_all, prepare and process: one call or many, through
 * the libcurl transport (the client's multi handle) or the user's Lua transport. */
#include "invoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "info.h"
#include "options.h"
#include "request.h"
#include "response.h"
#include "transport_curl.h"
#include "transport_lua.h"

#define DEFAULT_CONCURRENCY 16
#define POLL_MS 1000

/* Make sure the pool holds at least n transfers. Returns 0, or -1 out of memory. */
static int ensure_transfers(cbf_client *c, size_t n) {
    cbf_transfer **grown;
    if (c->ntransfers >= n) return 0;
    grown = cbf_realloc(&c->alloc, c->transfers, c->transfers_cap * sizeof *grown, n * sizeof *grown);
    if (!grown) return -1;
    c->transfers = grown;
    c->transfers_cap = n;
    while (c->ntransfers < n) {
        cbf_transfer *t = cbf_transfer_new(c);
        if (!t) return -1;
        c->transfers[c->ntransfers++] = t;
    }
    return 0;
}

/* A transfer no call is using, made if need be. */
static cbf_transfer *idle_transfer(cbf_client *c) {
    size_t k;
    for (k = 0; k < c->ntransfers; k++)
        if (!c->transfers[k]->active) return c->transfers[k];
    return ensure_transfers(c, c->ntransfers + 1) ? NULL : c->transfers[c->ntransfers - 1];
}

/* The transfer has finished: push `result, info` (0) or an error (-1). */
static int finish_curl(lua_State *L, int uv, cbf_transfer *t) {
    cbf_response r;
    cbf_timings tm;
    int record, rc;
    long status = cbf_transfer_status(t);
    cbf_transfer_timings(t, &tm);
    cbf_info_push_record(L, t->resp_headers.data, t->resp_headers.len, &tm);
    record = lua_gettop(L);
    if (!cbf_transfer_succeeded(t)) {
        char msg[CBF_TRANSFER_MESSAGE_SIZE];
        const char *code = cbf_transfer_error(t, status, msg, sizeof msg);
        const char *id = cbf_info_header(L, record, "x-request-id");
        cbf_error_push(L, code, msg, status, id, NULL, 0);
        lua_replace(L, record);
        lua_settop(L, record);
        rc = -1;
    } else {
        r.status = status;
        r.body = t->resp_body.data ? t->resp_body.data : "";
        r.body_len = t->resp_body.len;
        r.headers = record;
        r.elapsed = tm.total;
        rc = cbf_response_finish(L, uv, &r);
        lua_rotate(L, record, rc == 0 ? 2 : 1); /* the outcome over the record */
        lua_settop(L, record + (rc == 0 ? 1 : 0));
    }
    cbf_transfer_clear(t);
    return rc;
}

/* Push the call's credential (cbf_request_token); the token function may have closed
 * the client, which fails the call. Returns 0, or -1 with an error pushed. */
static int call_token(lua_State *L, cbf_client *c, int uv) {
    if (cbf_request_token(L, uv)) return -1;
    if (c->closed) {
        cbf_error_push(L, CBF_E_INVALID_ARGUMENT, "the client was closed by its token function", 0,
                       NULL, NULL, 0);
        lua_replace(L, -2);
        return -1;
    }
    return 0;
}

/* One call end to end through libcurl (a client with a Lua transport calls through the
 * Lua methods of lua_methods.c instead). Pushes `result, info` (0) or an error (-1). */
static int run_one(lua_State *L, cbf_client *c, const cbf_call_args *a) {
    int base = lua_gettop(L), token, rc;
    cbf_transfer *t;
    if (c->closed) { /* by an earlier call's token or transport function */
        cbf_error_push(L, CBF_E_INVALID_ARGUMENT, "the client is closed", 0, NULL, NULL, 0);
        return -1;
    }
    if (call_token(L, c, a->uv)) return -1;
    token = lua_gettop(L);
    t = idle_transfer(c);
    if (!t) {
        cbf_error_push(L, CBF_E_OUT_OF_MEMORY, "no memory for a transfer", 0, NULL, NULL, 0);
        lua_replace(L, token);
        return -1;
    }
    /* Lua code still runs below (a user codec): a nested call on this client must
     * take another transfer, not this one. */
    cbf_client_claim(c, t);
    if (cbf_request_build(L, c, a, token, &t->req)) {
        rc = -1;
    } else {
        const char *message, *code = cbf_transfer_start(c, t, &message);
        if (code) {
            cbf_error_push(L, code, message, 0, NULL, NULL, 0);
            rc = -1;
        } else {
            /* No Lua code runs between here and the end of the loop. */
            c->running = 1;
            while (!t->done) cbf_multi_step(c->multi, POLL_MS);
            c->running = 0;
            rc = finish_curl(L, a->uv, t);
        }
    }
    t->active = 0;
    t->owner = NULL;
    lua_remove(L, base + 1); /* the token: the outcome moves down to base + 1 */
    return rc;
}

/* A method's (self, name, payload, opts) as call arguments; the uservalue goes to 5. */
static void method_args(lua_State *L, cbf_call_args *a) {
    lua_settop(L, 4);
    cbf_getuservalue(L, 1);
    a->uv = 5;
    a->name = 2;
    a->payload = 3;
    a->opts = 4;
    a->opts_is_call = 0;
}

static int invoke_body(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    cbf_call_args a;
    method_args(L, &a);
    if (run_one(L, c, &a) == 0) return 2;
    return lua_error(L); /* the guard gives everything back, then raises it on */
}

static int client_invoke(lua_State *L) { return cbf_client_guarded(L, invoke_body, 1); }
static int client_try_invoke(lua_State *L) { return cbf_client_guarded(L, invoke_body, 0); }

/* ---- the sans-I/O halves, for callers that move the bytes themselves --------- */

/* Build the request table for the call in `a` (under the guard, which takes the
 * transfer back): returns 1 with it pushed, or 2 with `nil, err` pushed. */
static int prepare_args(lua_State *L, cbf_client *c, const cbf_call_args *a) {
    cbf_transfer *t;
    int token;
    if (call_token(L, c, a->uv)) return cbf_error_nil_err(L);
    token = lua_gettop(L);
    t = idle_transfer(c);
    if (!t) {
        cbf_error_push(L, CBF_E_OUT_OF_MEMORY, "no memory for a request", 0, NULL, NULL, 0);
        return cbf_error_nil_err(L);
    }
    cbf_client_claim(c, t);
    if (cbf_request_build(L, c, a, token, &t->req)) return cbf_error_nil_err(L);
    cbf_request_push(L, &t->req);
    /* so a transport can stop reading a body early (the ngx transport does) */
    lua_pushinteger(L, (lua_Integer)c->max_response_size);
    lua_setfield(L, -2, "max_response_size");
    return 1;
}

static int prepare_body(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    cbf_call_args a;
    method_args(L, &a);
    return prepare_args(L, c, &a);
}

/* client:prepare(name, payload, opts) -> request | nil, err. The request is the table
 * a transport gets; it carries the credential, so it is the caller's to guard. */
static int client_prepare(lua_State *L) { return cbf_client_guarded(L, prepare_body, 0); }

/* client:process(response) -> result, info | nil, err, for a response table
 * { status, headers, body [, elapsed] } obtained for a prepared request. */
static int process_body(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    cbf_response r;
    lua_settop(L, 2);
    cbf_getuservalue(L, 1);
    if (cbf_lua_response_read(L, 2, c->max_response_size, CBF_E_INVALID_ARGUMENT, &r))
        return cbf_error_nil_err(L);
    if (lua_istable(L, 2)) {
        lua_pushliteral(L, "elapsed");
        lua_rawget(L, 2);
        if (lua_type(L, -1) == LUA_TNUMBER) r.elapsed = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    if (cbf_response_finish(L, 3, &r)) return cbf_error_nil_err(L);
    return 2;
}

static int client_process(lua_State *L) { return cbf_client_guarded(L, process_body, 0); }

/* ---- invoke_all ------------------------------------------------------------ */

/* Stack layout while invoke_all runs (all_through_curl gets the same as arguments). */
enum { ALL_CLIENT = 1, ALL_CALLS, ALL_OPTS, ALL_UV, ALL_RESULTS, ALL_TOP = ALL_RESULTS };

/* results[i] = { ok = true, result =, info = } from `result, info` on top, or
 * { ok = false, error = } from an error on top. */
static void store_outcome(lua_State *L, lua_Integer i, int ok) {
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, ok);
    lua_setfield(L, -2, "ok");
    if (ok) {
        lua_insert(L, -3);
        lua_setfield(L, -3, "info");
        lua_setfield(L, -2, "result");
    } else {
        lua_insert(L, -2);
        lua_setfield(L, -2, "error");
    }
    lua_rawseti(L, ALL_RESULTS, i);
}

/* Push calls[i]'s name and payload and describe them in `a` (the call table itself
 * carries the per-call options). Returns 0, or -1 with an error pushed. */
static int call_args(lua_State *L, lua_Integer i, cbf_call_args *a) {
    lua_rawgeti(L, ALL_CALLS, i);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        cbf_error_push(L, CBF_E_INVALID_ARGUMENT, "each call must be a table { name, payload, ... }",
                       0, NULL, NULL, 0);
        return -1;
    }
    a->opts = lua_gettop(L);
    cbf_rawfield(L, a->opts, "name");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_rawgeti(L, a->opts, 1);
    }
    a->name = lua_gettop(L);
    cbf_rawfield(L, a->opts, "payload");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_rawgeti(L, a->opts, 2);
    }
    a->payload = lua_gettop(L);
    a->uv = ALL_UV;
    a->opts_is_call = 1;
    return 0;
}

/* Start calls[i] on a free transfer, or store its error at once. Returns 1 if started. */
static int start_call(lua_State *L, cbf_client *c, lua_Integer i, cbf_transfer *t) {
    cbf_call_args a;
    const char *code, *message;
    int token;
    if (c->closed) { /* by a token or codec function of an earlier call */
        cbf_error_push(L, CBF_E_INVALID_ARGUMENT, "the client is closed", 0, NULL, NULL, 0);
        store_outcome(L, i, 0);
        return 0;
    }
    if (call_args(L, i, &a) != 0 || call_token(L, c, ALL_UV) != 0) {
        store_outcome(L, i, 0);
        lua_settop(L, ALL_TOP);
        return 0;
    }
    token = lua_gettop(L);
    if (cbf_request_build(L, c, &a, token, &t->req) != 0) {
        store_outcome(L, i, 0);
        lua_settop(L, ALL_TOP);
        return 0;
    }
    lua_settop(L, ALL_TOP);
    code = cbf_transfer_start(c, t, &message);
    if (code) {
        cbf_error_push(L, code, message, 0, NULL, NULL, 0);
        store_outcome(L, i, 0);
        return 0;
    }
    t->call = (int)i;
    cbf_client_claim(c, t);
    return 1;
}

static int all_through_curl(lua_State *L) {
    cbf_client *c = lua_touserdata(L, lua_upvalueindex(1));
    lua_Integer n = (lua_Integer)lua_rawlen(L, ALL_CALLS), next = 1;
    size_t limit = (size_t)lua_tointeger(L, lua_upvalueindex(2)), inflight = 0, k;
    while (next <= n || inflight > 0) {
        for (k = 0; k < limit && next <= n; k++) {
            cbf_transfer *t = c->transfers[k];
            if (t->active) continue;
            inflight += (size_t)start_call(L, c, next++, t);
        }
        if (inflight == 0) continue;
        if (cbf_multi_step(c->multi, POLL_MS) == 0) continue;
        for (k = 0; k < limit; k++) {
            cbf_transfer *t = c->transfers[k];
            if (!t->active || !t->done) continue;
            t->active = 0;
            inflight--;
            store_outcome(L, t->call, finish_curl(L, ALL_UV, t) == 0);
        }
    }
    return 0;
}

static lua_Integer concurrency_option(lua_State *L) {
    lua_Integer conc = DEFAULT_CONCURRENCY;
    if (cbf_options_check(L, ALL_OPTS, cbf_batch_options, "invoke_all", 0)) lua_error(L);
    if (lua_isnil(L, ALL_OPTS)) return conc;
    cbf_rawfield(L, ALL_OPTS, "concurrency");
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
            lua_tointeger(L, -1) > CBF_MAX_CONCURRENCY) {
            cbf_option_invalid(L, cbf_option_find(cbf_batch_options, "concurrency"), -1);
            lua_error(L);
        }
        conc = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return conc;
}

static int invoke_all_body(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    lua_Integer n, conc;
    lua_settop(L, 3);
    if (!lua_istable(L, ALL_CALLS))
        return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "invoke_all expects a list of calls");
    conc = concurrency_option(L);
    n = (lua_Integer)lua_rawlen(L, ALL_CALLS);
    cbf_getuservalue(L, ALL_CLIENT);
    lua_createtable(L, (int)(n < 1 << 20 ? n : 1 << 20), 0);
    if (conc > n) conc = n > 0 ? n : 1;
    if (ensure_transfers(c, (size_t)conc))
        return cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "no memory for the transfers");
    lua_pushlightuserdata(L, c);
    lua_pushinteger(L, conc);
    lua_pushcclosure(L, all_through_curl, 2);
    lua_pushvalue(L, ALL_CLIENT);
    lua_pushvalue(L, ALL_CALLS);
    lua_pushvalue(L, ALL_OPTS);
    lua_pushvalue(L, ALL_UV);
    lua_pushvalue(L, ALL_RESULTS);
    /* A raise inside is the guard's to clean up: it detaches the transfers. */
    c->running = 1;
    lua_call(L, ALL_TOP, 0);
    c->running = 0;
    lua_settop(L, ALL_RESULTS);
    return 1;
}

static int client_invoke_all(lua_State *L) { return cbf_client_guarded(L, invoke_all_body, 1); }

/* ---- for the Lua methods of clients with a Lua transport (lua_methods.c) ------- */

static int plan_all_body(lua_State *L) {
    lua_Integer conc;
    lua_settop(L, 3);
    if (!lua_istable(L, ALL_CALLS))
        return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "invoke_all expects a list of calls");
    conc = concurrency_option(L);
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, ALL_CALLS));
    lua_pushinteger(L, conc);
    return 2;
}

/* plan_all(client, calls, opts) -> #calls, concurrency; raises as invoke_all does. */
int cbf_invoke_plan_all(lua_State *L) { return cbf_client_guarded(L, plan_all_body, 1); }

static int prepare_call_body(lua_State *L) {
    cbf_client *c = cbf_client_check(L, ALL_CLIENT);
    cbf_call_args a;
    lua_Integer i = luaL_checkinteger(L, 3);
    lua_settop(L, 3);
    cbf_getuservalue(L, ALL_CLIENT); /* ALL_UV */
    if (c->closed) { /* by an earlier call's token or transport function */
        lua_pushnil(L);
        cbf_error_push(L, CBF_E_INVALID_ARGUMENT, "the client is closed", 0, NULL, NULL, 0);
        return 2;
    }
    if (call_args(L, i, &a) != 0) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return prepare_args(L, c, &a);
}

/* prepare_call(client, calls, i) -> request | nil, err for calls[i] of invoke_all. */
int cbf_invoke_prepare_call(lua_State *L) { return cbf_client_guarded(L, prepare_call_body, 0); }

const luaL_Reg cbf_invoke_methods[] = {{"invoke", client_invoke},
                                       {"try_invoke", client_try_invoke},
                                       {"invoke_all", client_invoke_all},
                                       {"prepare", client_prepare},
                                       {"process", client_process},
                                       {NULL, NULL}};
