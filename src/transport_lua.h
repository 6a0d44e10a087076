/* The transport seam for Lua: a function(request) -> response supplied by the user
 * (an OpenResty cosocket client, a test stub, a recorder). */
#ifndef CBF_TRANSPORT_LUA_H
#define CBF_TRANSPORT_LUA_H

#include "client.h"
#include "response.h"

/* Push the request as { method, url, headers = { name = value }, body, timeout,
 * connect_timeout }. */
void cbf_request_push(lua_State *L, const cbf_request *req);
/* Read the response table at `resp` ({ status, headers, body }). On success push its
 * headers (lower-case names) and body, fill `r` (elapsed unknown: -1) and return 0;
 * otherwise push an error (code `bad` for a malformed table) and return -1. */
int cbf_lua_response_read(lua_State *L, int resp, size_t max_response_size, const char *bad,
                          cbf_response *r);
/* Call the transport at stack index `fn` with the request. On success push the
 * response's headers table (lower-case names) and body string, fill `r` and return 0;
 * otherwise push an error object and return -1. */
int cbf_lua_transport_call(lua_State *L, int fn, const cbf_request *req,
                           size_t max_response_size, cbf_response *r);

#endif
