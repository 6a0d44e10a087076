/* The client object and the per-call state it owns.
 * Everything a call allocates lives in a cbf_transfer owned by the client, so a Lua
 * error raised at any point leaks nothing: the client's __gc frees it all. Neither
 * type shows how a transport works: the libcurl side of a transfer lives in
 * transport_curl.c, the loop's in loop.c. */
#ifndef CBF_CLIENT_H
#define CBF_CLIENT_H

#include "buffer.h"
#include "compat.h"
#include "loop.h"
#include "retry.h"
#include "transport.h"

#define CBF_CLIENT_MT "cloudbase.functions.client"
#define CBF_VERSION "0.1.0"

/* Keys of the client's uservalue table (Lua-side settings). */
#define CBF_UV_TOKEN "token"         /* string or function */
#define CBF_UV_HEADERS "headers"     /* { name = value } sent on every call */
#define CBF_UV_TRANSPORT "transport" /* function(request) -> response */
#define CBF_UV_JSON "json"           /* user codec table, or nil for the built-in one */
#define CBF_UV_STARTED "started"     /* { [lightuserdata] = call } not yet reported by poll */
#define CBF_UV_POOL "pool"           /* the functions.pool() this client uses, kept alive */
#define CBF_UV_BIG_INTEGERS "big_integers" /* cbf_json_big for the built-in decoder */

struct cbf_call;
struct cbf_share;

/* One call's slot in the client's pool. The curl transport allocates it with its own
 * state behind it (transport_curl.c), so the pool serves every call. */
typedef struct cbf_transfer {
    cbf_request req;
    int done;     /* the transport finished the attempt: cbf_transfer_outcome tells how */
    int attached; /* on the client's loop, not yet finished */
    int call;   /* index of the call this transfer serves (invoke_all), else 0 */
    cbf_alloc alloc; /* the client's: this struct and its buffers come from it */
    int active;   /* in use by a call (invoke, invoke_all or a started call) */
    const void *owner; /* the method call that claimed it (cbf_client_guarded), or the
                        * started call (struct cbf_call) that holds it */
    struct cbf_call *started; /* the client:start call it serves, or NULL */
    cbf_retry_state retry;    /* the call's attempts (src/retry.c) */
} cbf_transfer;

typedef enum { CBF_HTTP_AUTO, CBF_HTTP_1_1, CBF_HTTP_2_PRIOR_KNOWLEDGE } cbf_http_mode;

typedef struct {
    cbf_loop *loop;
    cbf_alloc alloc;          /* the Lua state's: every allocation of the client */
    cbf_transfer **transfers; /* pool, each allocated on its own: curl keeps pointers */
    size_t ntransfers;
    size_t transfers_cap; /* entries allocated in `transfers` */
    char *base_url;  /* no trailing slash */
    char *qualifier; /* default X-Qualifier, or NULL */
    char *ca_file;
    char *ca_path;
    char *proxy;
    cbf_buffer resolve; /* "host:port:address\0" entries, back to back */
    double timeout;
    double connect_timeout;
    size_t max_response_size;
    size_t max_request_size;
    cbf_http_mode http_mode;
    cbf_retry_policy retry; /* the client's retry option; attempts 1: none */
    int hook_failed;        /* a hook raised once already (reported once) */
    long max_idle;           /* seconds: idle connections this old are not reused */
    struct cbf_share *share; /* a functions.pool() reference, or NULL */
    int running; /* a multi loop is active: re-entrant calls are refused */
    int calls;   /* calls in progress: a close() during one takes effect when they end */
    int closed;
    const void *owner; /* the innermost method call in progress, for claimed transfers */
} cbf_client;

/* functions.new (client.c): read the options, push the client. */
int cbf_client_new(lua_State *L);

/* ---- the client's lifetime (lifetime.c) ---- */
cbf_client *cbf_client_check(lua_State *L, int idx);
/* The client at stack index 1, or raise: closed, or busy (a nested call while a
 * multi loop runs). */
cbf_client *cbf_client_check_open(lua_State *L);
/* Calls in progress keep the client alive through a close() made meanwhile. */
void cbf_client_call_begin(cbf_client *c);
void cbf_client_call_end(cbf_client *c);
/* Run `body` as a method: a closed or busy client is refused, and whatever raises in
 * `body`, the transfers it claimed, the call count and the busy flag are given back;
 * then the raise goes on (raise = 1) or becomes `nil, err`. */
int cbf_client_guarded(lua_State *L, lua_CFunction body, int raise);
/* Make sure the pool holds at least n transfers. 0, or -1 out of memory. */
int cbf_client_ensure_transfers(cbf_client *c, size_t n);
/* A transfer no call is using, made if need be (NULL out of memory). */
cbf_transfer *cbf_client_idle_transfer(cbf_client *c);
/* Give t to the method running now (c->owner): its guard takes it back however it
 * ends. */
void cbf_client_claim(cbf_client *c, cbf_transfer *t);
/* The call is over with t: idle again, owned by nobody. */
void cbf_client_unclaim(cbf_transfer *t);
/* Start t (its t->req) on the client's loop: one more attempt. Returns 0, or -1 with
 * an error pushed (t is then cleared). Calls (invoke.c) and token refreshes (auth.c)
 * both go through here. */
int cbf_client_attach(lua_State *L, cbf_client *c, cbf_transfer *t);
/* Give a transfer back to the pool: off the loop if on it, cleared, owned by nobody. */
void cbf_client_detach(cbf_client *c, cbf_transfer *t);
/* Free the handles, transfers and settings (idempotent); `closed` is the caller's. */
void cbf_client_release(cbf_client *c);
/* Add __gc, __close (close, deferred while a call runs) and __tostring to the
 * metatable on top of the stack. */
void cbf_client_register_meta(lua_State *L);
/* Add close to the methods table on top of the stack. */
void cbf_client_register(lua_State *L);

#endif
