/* The sans-I/O front half: validate a call and build the HTTP request for it. */
#ifndef CBF_REQUEST_H
#define CBF_REQUEST_H

#include "client.h"
#include "options.h"

/* Stack positions of one call's inputs. uv is the client's uservalue table. */
typedef struct {
    int uv;
    int name;
    int payload; /* may be nil */
    int opts;    /* nil or a table */
    int opts_is_call; /* a cbf_opts_kind: which keys opts may hold besides the call options */
} cbf_call_args;

/* Which entries of the call options table (src/options.h) opts may hold. */
typedef enum {
    CBF_OPTS_INVOKE = CBF_IN_CALL,                         /* the call options only */
    CBF_OPTS_CALL_TABLE = CBF_IN_CALL | CBF_IN_CALL_TABLE, /* name, payload, [1], [2] too */
    CBF_OPTS_START = CBF_IN_CALL | CBF_IN_START            /* client:start: on_done too */
} cbf_opts_kind;

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
/* The Bearer credential in req's headers (not NUL-safe to print: it is the secret), or
 * NULL; *len gets its length. */
const char *cbf_request_bearer(const cbf_request *req, size_t *len);
/* Replace req's Authorization header with "Bearer token". 0, or -1 out of memory. */
int cbf_request_set_bearer(cbf_request *req, const char *token, size_t len);
void cbf_request_init(cbf_request *req, cbf_alloc alloc);
void cbf_request_free(cbf_request *req);

#endif
