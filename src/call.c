#include "call.h"

#include <string.h>

#include "error.h"
#include "hooks.h"
#include "invoke.h"
#include "loop.h"
#include "request.h"
#include "transport_curl.h"
#include "transport_lua.h"

#define WAIT_SLICE_MS 1000

/* The call's uservalue table holds: client (the client userdata, so the client lives as
 * long as a call does), on_done, and once settled ok with result and info, or error.
 * The client's uservalue holds every started call not yet reported by poll (the
 * CBF_UV_STARTED table), so a call nobody references still finishes and reports. */
struct cbf_call {
    cbf_client *client;
    cbf_transfer *transfer; /* while the call holds one */
    int settled;            /* the outcome is in the uservalue */
};

typedef struct cbf_call cbf_call;

static cbf_call *check_call(lua_State *L, int idx) {
    return (cbf_call *)luaL_checkudata(L, idx, CBF_CALL_MT);
}

/* Finished: settled, or its transfer is done (or was lost with its client). */
static int is_done(const cbf_call *k) { return k->settled || !k->transfer || k->transfer->done; }

void cbf_call_lose_transfer(cbf_call *k) { k->transfer = NULL; }

/* Give the call's transfer back to the pool, detaching it from the loop if running. */
static void drop_transfer(cbf_call *k) {
    if (!k->transfer) return;
    cbf_client_detach(k->client, k->transfer);
    k->transfer = NULL;
}

/* Store the outcome on top (`result, info` when ok, an error otherwise) in the call at
 * `idx`, popping it. */
static void store(lua_State *L, int idx, int ok) {
    cbf_getuservalue(L, idx);
    cbf_invoke_set_outcome(L, lua_gettop(L), ok);
    lua_pop(L, 1);
    ((cbf_call *)lua_touserdata(L, idx))->settled = 1;
}

static void store_cancelled(lua_State *L, int idx, const char *why) {
    cbf_error_push(L, CBF_E_CANCELLED, why, 0, NULL, NULL, 0);
    store(L, idx, 0);
}

/* Push the client's table of started calls, created if `create`; or nil. */
static void push_started(lua_State *L, int client, int create) {
    cbf_getuservalue(L, client);
    lua_getfield(L, -1, CBF_UV_STARTED);
    if (lua_isnil(L, -1) && create) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, CBF_UV_STARTED);
    }
    lua_remove(L, -2);
}

/* Turn a finished call's transfer into its stored outcome (1), or, when its retry
 * policy or a token replay sends it again, keep it going (0). */
static int settle(lua_State *L, int idx) {
    cbf_call *k = lua_touserdata(L, idx);
    cbf_transfer *t = k->transfer;
    cbf_client *c = k->client;
    int uv, ok;
    if (k->settled) return 1;
    if (!t) {
        store_cancelled(L, idx, "the client was closed");
        return 1;
    }
    /* Detached first: a close() from a user codec below must not touch it. */
    k->transfer = NULL;
    t->started = NULL;
    cbf_getuservalue(L, idx);
    lua_getfield(L, -1, "client");
    cbf_getuservalue(L, -1);
    uv = lua_gettop(L);
    cbf_client_call_begin(c);
    ok = cbf_invoke_finish(L, uv, t) == 0;
    if (!ok && !c->closed && cbf_invoke_again(L, c, uv, t) == 1) {
        /* resend_due puts it back on the loop when its wait is over */
        k->transfer = t;
        t->started = k;
        cbf_client_call_end(c);
        lua_settop(L, uv - 3);
        return 0;
    }
    cbf_hooks_response(L, uv, c, &t->req, -1, ok, t->retry.tries, t->retry.started_ms);
    cbf_client_unclaim(t);
    cbf_client_call_end(c);
    lua_remove(L, uv);
    lua_remove(L, uv - 1);
    lua_remove(L, uv - 2);
    store(L, idx, ok);
    return 1;
}

/* Milliseconds until the first started call waiting to be sent again is due (0: now),
 * or -1 when none waits. */
static long long next_wake(const cbf_client *c) {
    long long now = cbf_loop_clock_ms(), best = -1;
    size_t k;
    for (k = 0; k < c->ntransfers; k++) {
        const cbf_transfer *t = c->transfers[k];
        long long due;
        if (!t->started || t->retry.wake_ms == 0) continue;
        due = t->retry.wake_ms > now ? t->retry.wake_ms - now : 0;
        if (best < 0 || due < best) best = due;
    }
    return best;
}

/* Put the started calls of the client at `client` whose wait is over back on the loop;
 * one that cannot be (its on_request closed the client, no memory) settles with the
 * error. */
static void resend_due(lua_State *L, int client) {
    cbf_client *c = lua_touserdata(L, client);
    long long now = cbf_loop_clock_ms();
    size_t k;
    int uv;
    if (c->closed) return;
    cbf_getuservalue(L, client);
    uv = lua_gettop(L);
    cbf_client_call_begin(c);
    for (k = 0; k < c->ntransfers; k++) {
        cbf_transfer *t = c->transfers[k];
        cbf_call *call = t->started;
        if (!call || t->retry.wake_ms == 0 || t->retry.wake_ms > now) continue;
        if (!c->closed && cbf_invoke_resend(L, c, uv, t) == 0) continue;
        if (c->closed) cbf_error_push(L, CBF_E_CANCELLED, "the client was closed", 0, NULL, NULL, 0);
        cbf_hooks_response(L, uv, c, &t->req, -1, 0, t->retry.tries, t->retry.started_ms);
        t->retry.wake_ms = 0;
        call->transfer = NULL;
        t->started = NULL;
        cbf_client_unclaim(t);
        push_started(L, client, 0);
        lua_pushlightuserdata(L, call);
        lua_rawget(L, -2);
        lua_replace(L, -2); /* the call object, above the error */
        lua_insert(L, -2);
        store(L, lua_gettop(L) - 1, 0);
        lua_pop(L, 1);
    }
    cbf_client_call_end(c);
    lua_settop(L, uv - 1);
}

/* Settle every finished started call of the client at `client`, forget them, then run
 * their on_done callbacks under pcall. Every callback runs; the first error raised by
 * one is raised again after the others. Returns how many calls finished. */
static int report_finished(lua_State *L, int client) {
    int started, first_error, list, i, n = 0, settled = 0, failed = 0;
    push_started(L, client, 0);
    started = lua_gettop(L);
    if (lua_isnil(L, started)) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushnil(L);
    first_error = lua_gettop(L);
    lua_newtable(L);
    list = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, started) != 0) {
        if (is_done(lua_touserdata(L, -1))) lua_rawseti(L, list, ++n);
        else lua_pop(L, 1);
    }
    /* All are settled and forgotten before any callback runs, so a poll from inside
     * one sees a consistent client. */
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        if (settle(L, lua_gettop(L))) {
            lua_pushlightuserdata(L, lua_touserdata(L, -1));
            lua_pushnil(L);
            lua_rawset(L, started);
            settled++;
        } else { /* sent again: not finished */
            lua_pushboolean(L, 0);
            lua_rawseti(L, list, i);
        }
        lua_pop(L, 1);
    }
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        if (!lua_toboolean(L, -1)) {
            lua_settop(L, list);
            continue;
        }
        cbf_getuservalue(L, -1);
        lua_getfield(L, -1, "on_done");
        if (!lua_isnil(L, -1)) {
            lua_pushvalue(L, -3);
            if (lua_pcall(L, 1, 0, 0) != 0 && !failed) {
                lua_replace(L, first_error);
                failed = 1;
            }
        }
        lua_settop(L, list);
    }
    if (failed) {
        lua_pushvalue(L, first_error);
        return lua_error(L);
    }
    lua_settop(L, started - 1);
    return settled;
}

/* Drive the client at `client` for at most wait_ms, until some started call finished;
 * report them. Returns how many finished. */
static int drive(lua_State *L, int client, int wait_ms) {
    cbf_client *c = lua_touserdata(L, client);
    long long end = cbf_loop_clock_ms() + wait_ms;
    int n;
    for (;;) {
        long long left = end - cbf_loop_clock_ms(), wait = left, wake = next_wake(c);
        if (wake >= 0 && wake < wait) wait = wake; /* a call waits to be sent again */
        if (wait < 0) wait = 0;
        if (cbf_loop_running(c->loop) > 0) cbf_loop_step(c->loop, (int)wait);
        else if (wake > 0) cbf_retry_wait(c->loop, cbf_loop_clock_ms() + wait);
        resend_due(L, client);
        n = report_finished(L, client);
        /* An on_done may have closed the client (and freed its loop). */
        if (n > 0 || left <= 0 || c->closed || (cbf_loop_running(c->loop) == 0 && next_wake(c) < 0)) break;
    }
    return n;
}

static int wait_ms_arg(lua_State *L, int idx) {
    double wait = 0;
    if (!lua_isnoneornil(L, idx)) {
        if (lua_type(L, idx) != LUA_TNUMBER || !(lua_tonumber(L, idx) >= 0) ||
            lua_tonumber(L, idx) >= CBF_MAX_SECONDS) {
            lua_pushfstring(L, "poll's wait must be a number of seconds, 0 or more and below %d",
                            (int)CBF_MAX_SECONDS);
            cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, lua_tostring(L, -1));
        }
        wait = lua_tonumber(L, idx);
    }
    return wait * 1000 > 2147483647.0 ? 2147483647 : (int)(wait * 1000);
}

/* ---- client methods -------------------------------------------------------- */

/* client:start(name, payload, opts) -> call; try_start -> call | nil, err. Runs under
 * the method guard (lifetime.c): a raise anywhere gives the claimed transfer back. */
static int start_body(lua_State *L) {
    enum { UV = 5, ON_DONE, CALL, TOKEN };
    cbf_client *c = cbf_client_check(L, 1);
    cbf_call_args a;
    cbf_retry_policy policy;
    cbf_call *k;
    cbf_transfer *t;
    cbf_invoke_method_args(L, &a);
    a.opts_is_call = CBF_OPTS_START;
    if (lua_istable(L, a.opts)) cbf_rawfield(L, a.opts, "on_done");
    else lua_pushnil(L);
    /* Checked before the token function runs (cbf_request_build checks it again). */
    if (!lua_isnil(L, ON_DONE) && !lua_isfunction(L, ON_DONE)) return cbf_option_raise(L, CBF_OPTION_CALL(on_done));
    k = (cbf_call *)cbf_newuserdata(L, sizeof *k);
    memset(k, 0, sizeof *k);
    k->client = c;
    luaL_setmetatable(L, CBF_CALL_MT);
    lua_createtable(L, 0, 6);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "client");
    lua_pushvalue(L, ON_DONE);
    lua_setfield(L, -2, "on_done");
    cbf_setuservalue(L, CALL);

    if (cbf_invoke_token(L, c, UV)) return lua_error(L);
    t = cbf_client_idle_transfer(c);
    if (!t) return cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "no memory for a transfer");
    cbf_client_claim(c, t); /* a nested call from a user codec must take another one */
    if (cbf_request_build(L, c, &a, TOKEN, &t->req) || cbf_invoke_policy(L, c, a.opts, &policy))
        return lua_error(L);
    lua_getfield(L, UV, CBF_UV_TRANSPORT);
    if (!lua_isnil(L, -1)) {
        /* A Lua transport cannot be driven from a loop: the call runs now, and
         * reports through poll like any other. */
        store(L, CALL, cbf_lua_transport_run(L, c, UV, lua_gettop(L), &t->req) == 0);
    } else if (c->closed) {
        return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "the client was closed while the call was built");
    } else {
        if (cbf_invoke_start(L, c, UV, t, &policy)) return lua_error(L);
        t->owner = k; /* the call's now, not the guard's */
        t->started = k;
        k->transfer = t;
    }
    /* Last: if this raises (out of memory), the unreferenced call's __gc detaches. */
    push_started(L, 1, 1);
    lua_pushlightuserdata(L, k);
    lua_pushvalue(L, CALL);
    lua_rawset(L, -3);
    lua_pushvalue(L, CALL);
    return 1;
}

static int client_start(lua_State *L) { return cbf_client_guarded(L, start_body, 1); }
static int client_try_start(lua_State *L) { return cbf_client_guarded(L, start_body, 0); }

/* client:poll([wait]) -> number of started calls that finished. */
static int poll_body(lua_State *L) {
    int wait_ms = wait_ms_arg(L, 2);
    lua_settop(L, 1);
    lua_pushinteger(L, drive(L, 1, wait_ms));
    return 1;
}

static int client_poll(lua_State *L) { return cbf_client_guarded(L, poll_body, 1); }

static void push_timeout(lua_State *L, const cbf_client *c) {
    double t = cbf_loop_timeout(c->loop);
    long long wake = next_wake(c); /* socket_action() also sends waiting calls again */
    if (wake >= 0 && (t < 0 || (double)wake / 1000.0 < t)) t = (double)wake / 1000.0;
    if (t < 0) lua_pushnil(L);
    else lua_pushnumber(L, t);
}

static const char *const event_names[] = {"remove", "r", "w", "rw"}; /* by CBF_WATCH_* bits */

/* client:watch() -> { { fd =, events = "r" | "w" | "rw" | "remove" }, ... }, timeout */
static int client_watch(lua_State *L) {
    cbf_client *c = cbf_client_check_open(L);
    const cbf_watch_change *ch;
    int n = cbf_loop_changes(c->loop, &ch), i;
    if (n < 0) return cbf_error_raise(L, CBF_E_OUT_OF_MEMORY, "no memory for the watch list");
    lua_createtable(L, n, 0);
    for (i = 0; i < n; i++) {
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, ch[i].fd);
        lua_setfield(L, -2, "fd");
        lua_pushstring(L, event_names[ch[i].events & 3]);
        lua_setfield(L, -2, "events");
        lua_rawseti(L, -2, i + 1);
    }
    push_timeout(L, c);
    return 2;
}

/* client:timeout() -> seconds until socket_action() is due, or nil. */
static int client_timeout(lua_State *L) {
    push_timeout(L, cbf_client_check_open(L));
    return 1;
}

/* client:socket_action([fd, events]) -> number of started calls that finished.
 * With an fd: it is ready for `events` ("r", "w", "rw"; nil: let libcurl look).
 * Without: the timeout passed. */
static int socket_action_body(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    int fd = -1, events = 0;
    if (!lua_isnoneornil(L, 2)) {
        if (!lua_isinteger(L, 2) || lua_tointeger(L, 2) < 0 || lua_tointeger(L, 2) > 2147483647)
            return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "socket_action's fd must be a file descriptor");
        fd = (int)lua_tointeger(L, 2);
        if (!lua_isnoneornil(L, 3)) {
            const char *e = lua_type(L, 3) == LUA_TSTRING ? lua_tostring(L, 3) : "";
            for (events = 1; events < 4 && strcmp(e, event_names[events]) != 0; events++) {
            }
            if (events == 4)
                return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "socket_action's events must be \"r\", \"w\" or \"rw\"");
        }
    }
    lua_settop(L, 1);
    cbf_loop_action(c->loop, fd, events);
    resend_due(L, 1);
    lua_pushinteger(L, report_finished(L, 1));
    return 1;
}

static int client_socket_action(lua_State *L) { return cbf_client_guarded(L, socket_action_body, 1); }

void cbf_call_cancel_all(lua_State *L, int client) {
    int started, list, i, n = 0;
    if (client < 0) client = lua_gettop(L) + client + 1;
    push_started(L, client, 0);
    started = lua_gettop(L);
    if (lua_isnil(L, started)) {
        lua_pop(L, 1);
        return;
    }
    lua_newtable(L);
    list = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, started) != 0) lua_rawseti(L, list, ++n);
    cbf_getuservalue(L, client);
    lua_pushnil(L);
    lua_setfield(L, -2, CBF_UV_STARTED);
    lua_pop(L, 1);
    for (i = 1; i <= n; i++) {
        cbf_call *k;
        lua_rawgeti(L, list, i);
        k = lua_touserdata(L, -1);
        if (k->transfer && !k->transfer->done) {
            drop_transfer(k);
            store_cancelled(L, lua_gettop(L), "the client was closed");
        } else {
            settle(L, lua_gettop(L));
        }
        lua_pop(L, 1);
    }
    lua_settop(L, started - 1);
}

/* ---- call methods ---------------------------------------------------------- */

/* Wait (driving the client) until the call at 1 is settled. */
static void wait_settled(lua_State *L) {
    cbf_call *k = check_call(L, 1);
    while (!is_done(k) && !k->client->closed) {
        cbf_getuservalue(L, 1);
        lua_getfield(L, -1, "client");
        if (k->client->running)
            cbf_error_raise(L, CBF_E_INVALID_ARGUMENT,
                            "the client is busy: a token or transport function waited on a call");
        drive(L, lua_gettop(L), WAIT_SLICE_MS);
        lua_pop(L, 2);
    }
    settle(L, 1);
}

static int call_done(lua_State *L) {
    lua_pushboolean(L, is_done(check_call(L, 1)));
    return 1;
}

/* Push the settled outcome: ok, then result, info or the error. */
static int push_outcome(lua_State *L) {
    int ok;
    lua_settop(L, 1);
    wait_settled(L);
    cbf_getuservalue(L, 1);
    lua_getfield(L, 2, "ok");
    ok = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (ok) {
        lua_getfield(L, 2, "result");
        lua_getfield(L, 2, "info");
    } else {
        lua_getfield(L, 2, "error");
    }
    return ok;
}

/* call:result() -> result, info, or raises the call's error. Waits if need be. */
static int call_result(lua_State *L) {
    if (push_outcome(L)) return 2;
    return lua_error(L);
}

/* call:try_result() -> result, info | nil, err. */
static int call_try_result(lua_State *L) {
    if (push_outcome(L)) return 2;
    return cbf_error_fail(L, 0);
}

/* call:cancel() -> true if the call was still running (it now ends with CANCELLED). */
static int call_cancel(lua_State *L) {
    cbf_call *k = check_call(L, 1);
    int running = !is_done(k);
    lua_settop(L, 1);
    if (running) {
        drop_transfer(k);
        store_cancelled(L, 1, "the call was cancelled");
    }
    lua_pushboolean(L, running);
    return 1;
}

static int call_tostring(lua_State *L) {
    cbf_call *k = check_call(L, 1);
    lua_pushfstring(L, "cloudbase.functions call (%s): %p", is_done(k) ? "done" : "running", (void *)k);
    return 1;
}

/* Only reached with a transfer when the client is being collected too. */
static int call_gc(lua_State *L) {
    cbf_call *k = check_call(L, 1);
    if (k->transfer) drop_transfer(k);
    return 0;
}

/* call:await() in Lua: yielding from C needs lua_yieldk, which 5.1 and LuaJIT lack.
 * Inside a coroutine it yields the call until it is done (the scheduler polls);
 * elsewhere result() waits, driving the client. */
static const char await_source[] =
    "local yield, running = coroutine.yield, coroutine.running\n"
    "return function(call)\n"
    "  local co, main = running()\n"
    "  if co and not main then\n"
    "    while not call:done() do yield(call) end\n"
    "  end\n"
    "  return call:result()\n"
    "end\n";

void cbf_call_register(lua_State *L) {
    static const luaL_Reg client_methods[] = {{"start", client_start},
                                              {"try_start", client_try_start},
                                              {"poll", client_poll},
                                              {"watch", client_watch},
                                              {"timeout", client_timeout},
                                              {"socket_action", client_socket_action},
                                              {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", call_gc}, {"__tostring", call_tostring}, {NULL, NULL}};
    static const luaL_Reg methods[] = {{"done", call_done},     {"result", call_result},
                                       {"try_result", call_try_result}, {"cancel", call_cancel},
                                       {NULL, NULL}};
    luaL_setfuncs(L, client_methods, 0);
    if (luaL_newmetatable(L, CBF_CALL_MT)) {
        luaL_setfuncs(L, meta, 0);
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        if (luaL_loadbuffer(L, await_source, sizeof await_source - 1, "=cloudbase.functions.await") != 0)
            lua_error(L);
        lua_call(L, 0, 1);
        lua_setfield(L, -2, "await");
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}
