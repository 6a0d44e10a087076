/* The client's lifetime: open or closed, busy while a loop runs, call counting (a
 * close() during a call takes effect when the last one ends), __gc and __close, and
 * the guard every method runs under, which gives back the transfers a call claimed
 * however it ends. The pool of transfers is handed out here too. */
#include "client.h"

#include <string.h>

#include "call.h"
#include "error.h"
#include "pool.h"
#include "transport_curl.h"

/* Slots a method may need on top of its arguments, checked once on entry. */
#define STACK_NEED 64

cbf_client *cbf_client_check(lua_State *L, int idx) {
    return (cbf_client *)luaL_checkudata(L, idx, CBF_CLIENT_MT);
}

cbf_client *cbf_client_check_open(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    if (c->closed) cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "the client is closed");
    if (c->running)
        cbf_error_raise(L, CBF_E_INVALID_ARGUMENT,
                        "the client is busy: a token or transport function called it again");
    return c;
}

void cbf_client_call_begin(cbf_client *c) { c->calls++; }

void cbf_client_call_end(cbf_client *c) {
    if (--c->calls == 0 && c->closed) cbf_client_release(c);
}

int cbf_client_attach(lua_State *L, cbf_client *c, cbf_transfer *t) {
    const char *why = NULL, *code = cbf_transfer_start(t, c->loop, &why);
    if (!code) {
        t->attached = 1;
        t->retry.tries++;
        return 0;
    }
    cbf_error_push(L, code, why, 0, NULL, NULL, 0);
    cbf_transfer_clear(t);
    return -1;
}

void cbf_client_detach(cbf_client *c, cbf_transfer *t) {
    cbf_transfer_stop(t, c->loop);
    t->attached = 0;
    t->active = 0;
    t->owner = NULL;
    t->started = NULL;
    t->call = 0;
    t->retry.wake_ms = 0;
    cbf_transfer_clear(t);
}

static void free_string(cbf_client *c, char **s) {
    if (*s) cbf_realloc(&c->alloc, *s, strlen(*s) + 1, 0);
    *s = NULL;
}

void cbf_client_release(cbf_client *c) {
    size_t i;
    for (i = 0; i < c->ntransfers; i++) {
        cbf_transfer *t = c->transfers[i];
        cbf_transfer_stop(t, c->loop);
        if (t->started) cbf_call_lose_transfer(t->started);
        cbf_transfer_free(t);
    }
    if (c->transfers) cbf_realloc(&c->alloc, c->transfers, c->transfers_cap * sizeof *c->transfers, 0);
    c->transfers = NULL;
    c->ntransfers = c->transfers_cap = 0;
    cbf_loop_free(c->loop);
    c->loop = NULL;
    cbf_share_release(c->share); /* after every easy handle that used it is gone */
    c->share = NULL;
    cbf_buffer_free(&c->resolve);
    free_string(c, &c->base_url);
    free_string(c, &c->qualifier);
    free_string(c, &c->ca_file);
    free_string(c, &c->ca_path);
    free_string(c, &c->proxy);
}

static int client_gc(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    c->closed = 1;
    cbf_client_release(c);
    return 0;
}

/* Closing from a token, transport or codec function, in the middle of a call, must
 * not free what that call is using: the call finishes, then the client is released.
 * Started calls end at once with CANCELLED. */
static int client_close(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    if (c->closed) return 0;
    c->closed = 1;
    cbf_client_call_begin(c); /* a user codec settling a finished call may close again */
    cbf_call_cancel_all(L, 1);
    cbf_client_call_end(c);
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

void cbf_client_claim(cbf_client *c, cbf_transfer *t) {
    t->active = 1;
    t->owner = c->owner;
}

void cbf_client_unclaim(cbf_transfer *t) {
    t->active = 0;
    t->call = 0;
    t->owner = NULL;
}

/* Take back every transfer `owner` claimed: detached, cleared and idle again. A
 * started call's transfer belongs to the call (owner = the call), never to a guard. */
static void release_owned(cbf_client *c, const void *owner) {
    size_t k;
    for (k = 0; k < c->ntransfers; k++) {
        cbf_transfer *t = c->transfers[k];
        if (t->owner == owner) cbf_client_detach(c, t);
    }
}

/* A closed or busy client is refused before anything starts, and the body runs under
 * lua_pcall so that, whatever raises inside (a memory error, a caller's metamethod),
 * its transfers, the call count and the busy flag are given back. Then the raise goes
 * on (invoke, invoke_all), or becomes nil, err (try_invoke, prepare, process). */
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
        return cbf_error_fail(L, raise);
    }
    cbf_client_call_begin(c);
    c->owner = &owner;
    lua_pushcfunction(L, body);
    lua_insert(L, 1);
    status = lua_pcall(L, nargs, LUA_MULTRET, 0);
    release_owned(c, &owner);
    c->owner = outer;
    c->running = 0; /* set only by a loop that runs no nested call */
    cbf_client_call_end(c);
    if (status == 0) return lua_gettop(L);
    if (raise) return lua_error(L);
    if (!cbf_error_is(L, -1)) {
        /* Not one of ours: a memory error, or caller code raising on a path that has
         * no error of its own. */
        if (status == LUA_ERRMEM)
            cbf_error_push(L, CBF_E_OUT_OF_MEMORY, "not enough memory", 0, NULL, NULL, 0);
        else
            cbf_error_pushf(L, CBF_E_INVALID_ARGUMENT, "caller-supplied code raised: %s",
                            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
        lua_replace(L, -2);
    }
    return cbf_error_fail(L, 0);
}

int cbf_client_ensure_transfers(cbf_client *c, size_t n) {
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

cbf_transfer *cbf_client_idle_transfer(cbf_client *c) {
    size_t k;
    for (k = 0; k < c->ntransfers; k++)
        if (!c->transfers[k]->active) return c->transfers[k];
    return cbf_client_ensure_transfers(c, c->ntransfers + 1) ? NULL : c->transfers[c->ntransfers - 1];
}


void cbf_client_register_meta(lua_State *L) {
    static const luaL_Reg meta[] = {{"__gc", client_gc},
                                    {"__close", client_close}, /* deferred while a call runs */
                                    {"__tostring", client_tostring},
                                    {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
}

void cbf_client_register(lua_State *L) {
    lua_pushcfunction(L, client_close);
    lua_setfield(L, -2, "close");
}
