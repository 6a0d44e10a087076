/* The sans-I/O front half: validate a call and build the HTTP request for it. */
#ifndef CBF_REQUEST_H
#define CBF_REQUEST_H

#include "client.h"

/* Stack positions of one call's inputs. uv is the client's uservalue table. */
typedef struct {
    int uv;
    int name;
    int payload; /* may be nil */
    int opts;    /* nil or a table */
    int opts_is_call; /* opts is an invoke_all call table: name, payload, [1], [2] allowed */
} cbf_call_args;

/* Push the Bearer credential for one call (a string), or nil when none is set.
 * A token function runs here, under pcall. Returns 0, or -1 with an error pushed. */
int cbf_request_token(lua_State *L, int uv);
/* Build the request; the token is at stack index `token`. Returns 0, or -1 with an
 * error object pushed. Nothing is sent: callers hand `req` to a transport. */
int cbf_request_build(lua_State *L, cbf_client *c, const cbf_call_args *a, int token,
                      cbf_request *req);
/* Check a { name = value } header table (raw access): refuses control bytes, names
 * that are not tokens and the headers the client owns (src/wire.c). With `copy`, push
 * a copy of it (values as strings; nil for nil) that later changes cannot reach.
 * Returns 0, or -1 with an error pushed. */
int cbf_request_check_headers(lua_State *L, int idx, const char *what, int copy);
void cbf_request_init(cbf_request *req, cbf_alloc alloc);
void cbf_request_free(cbf_request *req);

#endif
