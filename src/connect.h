/* client:connect(n) and new's preconnect option: open and handshake connections before
 * the first call, into the pool the calls use. */
#ifndef CBF_CONNECT_H
#define CBF_CONNECT_H

#include "client.h"

/* Largest n connect accepts. */
#define CBF_CONNECT_MAX 1024

/* Warm up to n connections of the client at stack index `client`: push how many are
 * ready (0) or nil and an error (-1). Never raises for network failures. */
int cbf_connect_run(lua_State *L, int client, lua_Integer n);
/* Add connect to the methods table on top of the stack. */
void cbf_connect_register(lua_State *L);

#endif
