/* The client object and the per-call state it owns.
 * Everything a call allocates lives in a cbf_transfer owned by the client, so a Lua
 * error raised at any point leaks nothing: the client's __gc frees it all. */
#ifndef CBF_CLIENT_H
#define CBF_CLIENT_H

#include <curl/curl.h>

#include "buffer.h"
#include "compat.h"
#include "transport.h"

#define CBF_CLIENT_MT "cloudbase.functions.client"
#define CBF_VERSION "0.1.0"

/* Keys of the client's uservalue table (Lua-side settings). */
#define CBF_UV_TOKEN "token"         /* string or function */
#define CBF_UV_HEADERS "headers"     /* { name = value } sent on every call */
#define CBF_UV_TRANSPORT "transport" /* function(request) -> response */
#define CBF_UV_JSON "json"           /* user codec table, or nil for the built-in one */

/* One call in flight on the libcurl transport (transport_curl.h). */
typedef struct cbf_transfer cbf_transfer;

typedef enum { CBF_HTTP_AUTO, CBF_HTTP_1_1, CBF_HTTP_2_PRIOR_KNOWLEDGE } cbf_http_mode;

typedef struct {
    CURLM *multi;
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
    int running; /* a multi loop is active: re-entrant calls are refused */
    int calls;   /* calls in progress: a close() during one takes effect when they end */
    int closed;
    const void *owner; /* the innermost method call in progress, for claimed transfers */
} cbf_client;

cbf_client *cbf_client_check(lua_State *L, int idx);
/* Free the handles, transfers and settings (idempotent); `closed` is the caller's. */
void cbf_client_release(cbf_client *c);
/* The client's lifetime, all here. Every method runs its body through guarded: a closed
 * or busy client is refused before anything starts; the call is counted, so a close()
 * made meanwhile takes effect when the last call ends; the body runs under lua_pcall,
 * and the transfers it claimed (claim), the count and the busy flag are given back
 * however it ends. Then a raise goes on (raise = 1) or becomes `nil, err`. */
int cbf_client_guarded(lua_State *L, lua_CFunction body, int raise);
void cbf_client_claim(cbf_client *c, cbf_transfer *t);
/* functions.new */
int cbf_client_new(lua_State *L);
/* The metatable's entries and the lifetime methods (close); module.c assembles them
 * with the calling methods of invoke.h into the client's metatable. */
extern const luaL_Reg cbf_client_meta[];
extern const luaL_Reg cbf_client_methods[];

#endif
