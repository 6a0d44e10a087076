/* The transport seam: what the sans-I/O core hands to a transport, and what a transport
 * hands back. No libcurl and no Lua-transport details here: the curl transport
 * (transport_curl.c), the Lua one (transport_lua.c) and any later one (a cosocket, a
 * non-blocking loop) each turn a cbf_request into a cbf_response or a failure (an error
 * code of error_codes.h and a message), in their own idiom. */
#ifndef CBF_TRANSPORT_H
#define CBF_TRANSPORT_H

#include "buffer.h"
#include "compat.h"

typedef struct {
    char method[16];
    cbf_buffer url;
    cbf_buffer headers; /* "Name: value\0" entries, back to back, every one with a value */
    cbf_buffer body;
    int has_body;
    double timeout;         /* seconds */
    double connect_timeout; /* seconds */
} cbf_request;

typedef struct {
    long status;
    const char *body;
    size_t body_len;
    int headers;    /* stack index: { lower-case name = value }, or an info record */
    double elapsed; /* seconds; negative when unknown */
} cbf_response;

#endif
