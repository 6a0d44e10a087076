/* The sans-I/O back half: turn what a transport received into a result or an error. */
#ifndef CBF_RESPONSE_H
#define CBF_RESPONSE_H

#include "client.h"

typedef struct {
    long status;
    const char *body;
    size_t body_len;
    int headers;  /* stack index: { lower-case name = value }, or an info record */
    double elapsed; /* seconds; negative when unknown */
    const char *sent_id; /* the X-Request-Id sent, or NULL: the id when the answer has none */
} cbf_response;

/* Push `result, info` and return 0, or push an error object and return -1. */
int cbf_response_finish(lua_State *L, int uv, const cbf_response *r);

#endif
