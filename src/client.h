/* The client object and the per-call state it owns.
 * Everything a call allocates lives in a cbf_transfer owned by the client, so a Lua
 * error raised at any point leaks nothing: the client's __gc frees it all. */
#ifndef CBF_CLIENT_H
#define CBF_CLIENT_H

#include <curl/curl.h>

#include "buffer.h"
#include "compat.h"
#include "loop.h"
#include "request_id.h"
#include "retry.h"

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

/* What the sans-I/O core hands to a transport. */
typedef struct {
    char method[16];
    cbf_buffer url;
    cbf_buffer headers; /* "Name: value\0" entries, back to back */
    cbf_buffer body;
    int has_body;
    double timeout;         /* seconds */
    double connect_timeout; /* seconds */
    char request_id[CBF_REQUEST_ID_MAX + 1]; /* the X-Request-Id sent; "" before build */
} cbf_request;

/* One call in flight on the libcurl transport. */
typedef struct {
    CURL *easy;
    cbf_request req;
    /* CURLOPT_HTTPHEADER: curl_slist nodes kept in header_nodes, pointing into
     * req.headers (no copies: each call's fresh X-Request-Id changes the headers). */
    struct curl_slist *header_list;
    cbf_buffer header_nodes;
    cbf_buffer resp_headers; /* raw header lines of the final response */
    cbf_buffer resp_body;
    size_t max_response_size;
    int too_large;
    int out_of_memory; /* a callback could not store what libcurl gave it */
    int attempts;      /* times libcurl was about to send this request (pre-request) */
    int done;
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
    int call;   /* index of the call this transfer serves (invoke_all), else 0 */
    cbf_alloc alloc; /* the client's: this struct and its buffers come from it */
    int active;   /* in use by a call (invoke, invoke_all or a started call) */
    int attached; /* on the client's loop, not yet finished */
    const void *owner; /* the call that claimed it (see guarded() in invoke.c), or the
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
    struct curl_slist *resolve;
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

cbf_client *cbf_client_check(lua_State *L, int idx);
/* The client at stack index 1, or raise: closed, or busy (a nested call while a
 * multi loop runs). */
cbf_client *cbf_client_check_open(lua_State *L);
/* Calls in progress keep the client alive through a close() made meanwhile. */
void cbf_client_call_begin(cbf_client *c);
void cbf_client_call_end(cbf_client *c);
/* Give a transfer back to the pool: off the loop if on it, cleared, owned by nobody. */
void cbf_client_detach(cbf_client *c, cbf_transfer *t);
/* Free the handles, transfers and settings (idempotent); `closed` is the caller's. */
void cbf_client_release(cbf_client *c);
void cbf_client_open(lua_State *L); /* pushes functions.new */

#endif
