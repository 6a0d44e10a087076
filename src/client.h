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
    cbf_transfer **transfers; /* pool, each allocated on its own: curl keeps pointers */
    size_t ntransfers;
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
} cbf_client;

cbf_client *cbf_client_check(lua_State *L, int idx);
/* Free the handles, transfers and settings (idempotent); `closed` is the caller's. */
void cbf_client_release(cbf_client *c);
/* The client's lifetime, all here: a method starts with check_open (refuses a closed
 * or busy client); a call is counted between call_begin and call_end, so a close()
 * made meanwhile takes effect when the last call ends. */
cbf_client *cbf_client_check_open(lua_State *L, int idx);
void cbf_client_call_begin(cbf_client *c);
void cbf_client_call_end(cbf_client *c);
/* functions.new */
int cbf_client_new(lua_State *L);
/* The metatable's entries and the lifetime methods (close); module.c assembles them
 * with the calling methods of invoke.h into the client's metatable. */
extern const luaL_Reg cbf_client_meta[];
extern const luaL_Reg cbf_client_methods[];

#endif
