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
/* The Lua-callable halves around a transport call made from Lua frames (the embedded
 * methods in lua_methods.c):
 *   complete(client, started, request, ok, response | nil, code, message)
 *     -> true, result, info | false, err    (ok, response... as pcall(transport) gives them)
 *   transport_of(client) -> the client's Lua transport function, or nil
 *   clock() -> monotonic seconds, for `started` */
int cbf_lua_transport_complete(lua_State *L);
/* sending(client, request): runs on_request before the Lua methods call the transport. */
int cbf_lua_transport_sending(lua_State *L);
/* From C (a started call of a client with a Lua transport): call the transport at
 * `transport` with req and settle as complete does. Pushes `result, info` (0) or an
 * error (-1). */
int cbf_lua_transport_run(lua_State *L, cbf_client *c, int uv, int transport, const cbf_request *req);
int cbf_lua_transport_of(lua_State *L);
int cbf_lua_clock(lua_State *L);

#endif
