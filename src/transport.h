/* The I/O seam: what the sans-I/O core (request.c, response.c) hands a transport and
 * what it takes back. Nothing here knows libcurl or how a Lua transport is called.
 *
 * Every transport does one attempt in two steps:
 *   send      a cbf_request goes out as it is (the headers as listed, the body as is,
 *             within its timeouts). The transport may add what its own library needs
 *             to keep the wire that way (libcurl's Expect suppression: transport_curl.c).
 *   receive   push the final response's headers (a record or a { name = value }
 *             table) and fill a cbf_response, returning 0; or, when no usable response
 *             came, push an error object and return -1.
 * cbf_response_finish (response.c) then turns the response into `result, info`.
 *
 * The transports:
 *   libcurl   transport_curl.h: cbf_transfer_start sends on the client's loop;
 *             cbf_transfer_outcome_of says what came back, and cbf_invoke_finish
 *             (invoke.c) pushes it as above.
 *   Lua       transport_lua.h: cbf_request_push hands the request to a
 *             function(request) -> response; cbf_lua_response_read receives. The
 *             cosocket transport (lua/cloudbase/functions/ngx.lua) is such a function.
 * They are not called through one table of function pointers: libcurl's attempts run
 * on a loop that C drives, a Lua transport's in Lua frames that may yield. */
#ifndef CBF_TRANSPORT_H
#define CBF_TRANSPORT_H

#include <stddef.h>

#include "buffer.h"
#include "request_id.h"

/* One request, ready to send. */
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

/* What a transport received, for cbf_response_finish. */
typedef struct {
    long status;
    const char *body;
    size_t body_len;
    int headers;  /* stack index: { lower-case name = value }, or an info record */
    double elapsed; /* seconds; negative when unknown */
    const char *sent_id; /* the X-Request-Id sent, or NULL: the id when the answer has none */
} cbf_response;

#endif
