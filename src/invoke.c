/* client:invoke, try_invoke, invoke_all, prepare and process: one call or many through
 * the libcurl transport (the client's multi handle); clients with a Lua transport go
 * through lua_methods.c, which uses prepare and the helpers at the end. */
#include "invoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "error.h"
#include "hooks.h"
#include "info.h"
#include "request.h"
#include "response.h"
#include "transport_curl.h"
#include "transport_lua.h"

#define POLL_MS 1000

int cbf_invoke_finish(lua_State *L, int uv, cbf_transfer *t) {
    cbf_transfer_outcome o;
    cbf_response r;
    int record, rc;
    cbf_transfer_outcome_of(t, &o);
    t->retry.unsent = o.unsent;
    cbf_info_push_record(L, o.headers->data, o.headers->len, &o.timings);
    record = lua_gettop(L);
    if (o.error) {
        const char *id = cbf_info_header(L, record, "x-request-id");
        cbf_error_push(L, o.error, o.message, o.status, id ? id : t->req.request_id, NULL, 0);
        lua_replace(L, record);
        lua_settop(L, record);
        rc = -1;
    } else {
        r.status = o.status;
        r.body = o.body->data ? o.body->data : "";
        r.body_len = o.body->len;
        r.headers = record;
        r.elapsed = o.timings.total;
        r.sent_id = t->req.request_id;
        rc = cbf_response_finish(L, uv, &r);
        lua_rotate(L, record, rc == 0 ? 2 : 1); /* the outcome over the record */
        lua_settop(L, record + (rc == 0 ? 1 : 0));
    }
    cbf_retry_mark(L, -1, &t->retry);
    cbf_transfer_clear(t);
    return rc;
}

int cbf_invoke_token(lua_State *L, cbf_client *c, int uv) {
    if (cbf_auth_enabled(L, uv) ? cbf_auth_token(L, c, uv) : cbf_request_token(L, uv)) return -1;
    if (c->closed) {
        cbf_error_push(L, CBF_E_INVALID_ARGUMENT, "the client was closed by its token function", 0,
                       NULL, NULL, 0);
        lua_replace(L, -2);
        return -1;
    }
    return 0;
}

int cbf_invoke_start(lua_State *L, cbf_client *c, int uv, cbf_transfer *t,
                     const cbf_retry_policy *policy) {
    cbf_retry_begin(&t->retry, policy, t->req.timeout);
    cbf_hooks_request(L, uv, c, &t->req, 1);
    return cbf_client_attach(L, c, t);
}

int cbf_invoke_policy(lua_State *L, cbf_client *c, int opts, cbf_retry_policy *out) {
    int rc;
    if (!lua_istable(L, opts)) {
        *out = c->retry;
        return 0;
    }
    lua_pushliteral(L, "retry");
    lua_rawget(L, opts);
    rc = cbf_retry_policy_read(L, -1, "opts.retry", &c->retry, out);
    lua_remove(L, rc ? -2 : -1);
    return rc;
}

/* A retry is due: its time left becomes the attempt's timeout. */
static void prepare_retry(cbf_transfer *t) {
    t->retry.wake_ms = 0;
    t->req.timeout = cbf_retry_time_left(&t->retry);
    if (t->req.connect_timeout > t->req.timeout) t->req.connect_timeout = t->req.timeout;
}

/* An attempt failed with its error on top. With `auth`, ACCESS_TOKEN_EXPIRED (the
 * gateway refused before running the function) is refreshed and replayed once per
 * call: 1, the error popped, t->req carrying the new token. 0: not that case (the
 * error stays). -1: the refresh failed, AUTH_REFRESH_FAILED replaced the error. */
static int replay_expired(lua_State *L, cbf_client *c, int uv, cbf_transfer *t) {
    int expired;
    if (t->retry.replayed || !lua_istable(L, -1) || !cbf_auth_enabled(L, uv)) return 0;
    lua_getfield(L, -1, "code");
    expired = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "ACCESS_TOKEN_EXPIRED") == 0;
    lua_pop(L, 1);
    if (!expired) return 0;
    t->retry.replayed = 1;
    if (cbf_auth_renew(L, c, uv, &t->req)) {
        cbf_retry_mark(L, -1, &t->retry);
        lua_remove(L, -2);
        return -1;
    }
    lua_pop(L, 1);
    return 1;
}

int cbf_invoke_again(lua_State *L, cbf_client *c, int uv, cbf_transfer *t) {
    switch (replay_expired(L, c, uv, t)) {
    case 1:
        t->retry.wake_ms = cbf_loop_clock_ms(); /* at once */
        return 1;
    case -1:
        return -1;
    default:
        break;
    }
    if (!cbf_retry_schedule(L, &t->retry)) return 0;
    lua_pop(L, 1);
    return 1;
}

int cbf_invoke_resend(lua_State *L, cbf_client *c, int uv, cbf_transfer *t) {
    prepare_retry(t);
    cbf_hooks_request(L, uv, c, &t->req, t->retry.tries + 1);
    return cbf_client_attach(L, c, t);
}

/* Send t->req through libcurl until an attempt's outcome is final; waits between
 * attempts keep the loop (and the client's started calls) moving. Pushes `result,
 * info` (0) or an error (-1). */
static int run_attempts(lua_State *L, cbf_client *c, int uv, cbf_transfer *t,
                        const cbf_retry_policy *policy) {
    if (cbf_invoke_start(L, c, uv, t, policy)) return -1;
    for (;;) {
        /* No Lua code runs between here and the end of the loop. The loop also
         * moves the client's started calls along; they wait for poll. */
        c->running = 1;
        while (!t->done) cbf_loop_step(c->loop, POLL_MS);
        c->running = 0;
        if (cbf_invoke_finish(L, uv, t) == 0) return 0;
        if (cbf_invoke_again(L, c, uv, t) != 1) return -1;
        c->running = 1;
        cbf_retry_wait(c->loop, t->retry.wake_ms);
        c->running = 0;
        if (cbf_invoke_resend(L, c, uv, t)) return -1;
    }
}

/* One call end to end through libcurl (a client with a Lua transport calls through the
 * Lua methods of lua_methods.c instead). Pushes `result, info` (0) or an error (-1). */
static int run_one(lua_State *L, cbf_client *c, const cbf_call_args *a) {
    int base = lua_gettop(L), token, rc;
    cbf_retry_policy policy;
    cbf_transfer *t;
    if (c->closed) { /* by an earlier call's token or transport function */
        cbf_error_push(L, CBF_E_INVALID_ARGUMENT, "the client is closed", 0, NULL, NULL, 0);
        return -1;
    }
    if (cbf_invoke_token(L, c, a->uv)) return -1;
    token = lua_gettop(L);
    t = cbf_client_idle_transfer(c);
    if (!t) {
        cbf_error_push(L, CBF_E_OUT_OF_MEMORY, "no memory for a transfer", 0, NULL, NULL, 0);
        lua_replace(L, token);
        return -1;
    }
    /* Lua code still runs below (a user codec, a hook): a nested call on this client
     * must take another transfer, not this one. */
    cbf_client_claim(c, t);
    if (cbf_request_build(L, c, a, token, &t->req) || cbf_invoke_policy(L, c, a->opts, &policy)) {
        rc = -1;
    } else {
        rc = run_attempts(L, c, a->uv, t, &policy);
        cbf_hooks_response(L, a->uv, c, &t->req, -1, rc == 0, t->retry.tries, t->retry.started_ms);
    }
    cbf_client_unclaim(t);
    lua_remove(L, base + 1); /* the token: the outcome moves down to base + 1 */
    return rc;
}

void cbf_invoke_method_args(lua_State *L, cbf_call_args *a) {
    lua_settop(L, 4);
    cbf_getuservalue(L, 1);
    a->uv = 5;
    a->name = 2;
    a->payload = 3;
    a->opts = 4;
    a->opts_is_call = CBF_OPTS_INVOKE;
}

static int invoke_body(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    cbf_call_args a;
    cbf_invoke_method_args(L, &a);
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
    if (cbf_invoke_token(L, c, a->uv)) return cbf_error_fail(L, 0);
    token = lua_gettop(L);
    t = cbf_client_idle_transfer(c);
    if (!t) {
        cbf_error_push(L, CBF_E_OUT_OF_MEMORY, "no memory for a request", 0, NULL, NULL, 0);
        return cbf_error_fail(L, 0);
    }
    cbf_client_claim(c, t);
    if (cbf_request_build(L, c, a, token, &t->req)) return cbf_error_fail(L, 0);
    cbf_request_push(L, &t->req);
    /* so a transport can stop reading a body early (the ngx transport does) */
    lua_pushinteger(L, (lua_Integer)c->max_response_size);
    lua_setfield(L, -2, "max_response_size");
    return 1;
}

static int prepare_body(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    cbf_call_args a;
    cbf_invoke_method_args(L, &a);
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
        return cbf_error_fail(L, 0);
    if (lua_istable(L, 2)) {
        lua_pushliteral(L, "elapsed");
        lua_rawget(L, 2);
        if (lua_type(L, -1) == LUA_TNUMBER) r.elapsed = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    if (cbf_response_finish(L, 3, &r)) return cbf_error_fail(L, 0);
    return 2;
}

static int client_process(lua_State *L) { return cbf_client_guarded(L, process_body, 0); }

/* ---- invoke_all ------------------------------------------------------------ */

/* Stack layout while invoke_all runs (all_through_curl gets the same as arguments). */
enum { ALL_CLIENT = 1, ALL_CALLS, ALL_OPTS, ALL_UV, ALL_RESULTS, ALL_TOP = ALL_RESULTS };

void cbf_invoke_set_outcome(lua_State *L, int tbl, int ok) {
    int n = ok ? 2 : 1;
    lua_insert(L, tbl - n); /* the table goes under the outcome */
    tbl -= n;
    lua_pushboolean(L, ok);
    lua_setfield(L, tbl, "ok");
    if (ok) {
        lua_setfield(L, tbl, "info");
        lua_setfield(L, tbl, "result");
    } else {
        lua_setfield(L, tbl, "error");
    }
}

/* results[i] = { ok = true, result =, info = } from `result, info` on top, or
 * { ok = false, error = } from an error on top. */
static void store_outcome(lua_State *L, lua_Integer i, int ok) {
    lua_createtable(L, 0, 3);
    cbf_invoke_set_outcome(L, lua_gettop(L), ok);
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
    a->opts_is_call = CBF_OPTS_CALL_TABLE;
    return 0;
}

/* Start calls[i] on a free transfer, or store its error at once. Returns 1 if started. */
static int start_call(lua_State *L, cbf_client *c, lua_Integer i, cbf_transfer *t) {
    cbf_call_args a;
    cbf_retry_policy policy;
    int token;
    if (c->closed) { /* by a token or codec function of an earlier call */
        cbf_error_push(L, CBF_E_INVALID_ARGUMENT, "the client is closed", 0, NULL, NULL, 0);
        store_outcome(L, i, 0);
        return 0;
    }
    if (call_args(L, i, &a) != 0 || cbf_invoke_token(L, c, ALL_UV) != 0) {
        store_outcome(L, i, 0);
        lua_settop(L, ALL_TOP);
        return 0;
    }
    token = lua_gettop(L);
    if (cbf_request_build(L, c, &a, token, &t->req) != 0 || cbf_invoke_policy(L, c, a.opts, &policy)) {
        store_outcome(L, i, 0);
        lua_settop(L, ALL_TOP);
        return 0;
    }
    lua_settop(L, ALL_TOP);
    cbf_client_claim(c, t);
    if (cbf_invoke_start(L, c, ALL_UV, t, &policy)) {
        cbf_hooks_response(L, ALL_UV, c, &t->req, -1, 0, t->retry.tries, t->retry.started_ms);
        cbf_client_unclaim(t);
        store_outcome(L, i, 0);
        return 0;
    }
    t->call = (int)i;
    return 1;
}

/* Transfers in use, by started calls or by an outer call (invoke_all leaves them be). */
static size_t busy_transfers(const cbf_client *c) {
    size_t k, n = 0;
    for (k = 0; k < c->ntransfers; k++) n += c->transfers[k]->active != 0;
    return n;
}

/* Runs under lua_pcall so that any raise still lets invoke_all detach its transfers.
 * The pool never grows meanwhile: nested calls are refused while c->running. */
static int all_through_curl(lua_State *L) {
    cbf_client *c = lua_touserdata(L, lua_upvalueindex(1));
    lua_Integer n = (lua_Integer)lua_rawlen(L, ALL_CALLS), next = 1;
    size_t limit = (size_t)lua_tointeger(L, lua_upvalueindex(2)), inflight = 0, k;
    while (next <= n || inflight > 0) {
        long long now = cbf_loop_clock_ms(), wake = now + POLL_MS;
        for (k = 0; k < c->ntransfers; k++) { /* calls waiting to retry */
            cbf_transfer *t = c->transfers[k];
            if (t->call == 0 || t->retry.wake_ms == 0) continue;
            if (t->retry.wake_ms > now) {
                if (t->retry.wake_ms < wake) wake = t->retry.wake_ms;
                continue;
            }
            if (cbf_invoke_resend(L, c, ALL_UV, t)) {
                cbf_hooks_response(L, ALL_UV, c, &t->req, -1, 0, t->retry.tries, t->retry.started_ms);
                store_outcome(L, t->call, 0);
                cbf_client_unclaim(t);
                inflight--;
            }
        }
        for (k = 0; k < c->ntransfers && inflight < limit && next <= n; k++) {
            cbf_transfer *t = c->transfers[k];
            if (t->active) continue;
            inflight += (size_t)start_call(L, c, next++, t);
        }
        if (inflight == 0) continue;
        if (cbf_loop_running(c->loop) == 0) { /* only waits for retries */
            cbf_retry_wait(c->loop, wake);
            continue;
        }
        if (cbf_loop_step(c->loop, (int)(wake - now)) == 0) continue;
        for (k = 0; k < c->ntransfers; k++) {
            cbf_transfer *t = c->transfers[k];
            lua_Integer i = t->call;
            int ok;
            if (!t->active || !t->done || i == 0) continue;
            ok = cbf_invoke_finish(L, ALL_UV, t) == 0;
            if (!ok && cbf_invoke_again(L, c, ALL_UV, t) == 1) continue; /* resent above */
            cbf_hooks_response(L, ALL_UV, c, &t->req, -1, ok, t->retry.tries, t->retry.started_ms);
            cbf_client_unclaim(t);
            inflight--;
            store_outcome(L, i, ok);
        }
    }
    return 0;
}

/* invoke_all's own opts (ALL_OPTS): checked, then the concurrency; raises. */
static lua_Integer concurrency_option(lua_State *L) {
    const cbf_option *o = CBF_OPTION_CALL(concurrency);
    cbf_options_check_or_raise(L, ALL_OPTS, cbf_call_options, CBF_CALL_COUNT, CBF_IN_BATCH, "invoke_all");
    return cbf_option_integer(L, ALL_OPTS, o, (lua_Integer)o->dflt);
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
    if (cbf_client_ensure_transfers(c, (size_t)conc + busy_transfers(c)))
        return cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "no memory for the transfers");
    lua_pushlightuserdata(L, c);
    lua_pushinteger(L, conc);
    lua_pushcclosure(L, all_through_curl, 2);
    lua_pushvalue(L, ALL_CLIENT);
    lua_pushvalue(L, ALL_CALLS);
    lua_pushvalue(L, ALL_OPTS);
    lua_pushvalue(L, ALL_UV);
    lua_pushvalue(L, ALL_RESULTS);
    /* A raise inside is the guard's to clean up: it detaches this call's transfers;
     * started calls go on. */
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
        cbf_error_push(L, CBF_E_INVALID_ARGUMENT, "the client is closed", 0, NULL, NULL, 0);
        return cbf_error_fail(L, 0);
    }
    if (call_args(L, i, &a) != 0) return cbf_error_fail(L, 0);
    return prepare_args(L, c, &a);
}

/* prepare_call(client, calls, i) -> request | nil, err for calls[i] of invoke_all. */
int cbf_invoke_prepare_call(lua_State *L) { return cbf_client_guarded(L, prepare_call_body, 0); }

void cbf_invoke_register(lua_State *L) {
    static const luaL_Reg methods[] = {{"invoke", client_invoke},
                                       {"try_invoke", client_try_invoke},
                                       {"invoke_all", client_invoke_all},
                                       {"prepare", client_prepare},
                                       {"process", client_process},
                                       {NULL, NULL}};
    luaL_setfuncs(L, methods, 0);
}
