/* client:connect(n) and new's preconnect option: open and handshake connections before
 * the first call, into the pool the calls use. */
#ifndef CBF_CONNECT_H
#define CBF_CONNECT_H

#include "client.h"

/* client:connect(n): push how many connections are ready, or nil and an error; raises
 * only for a bad n, a closed or busy client, or a memory error. */
int cbf_connect_method(lua_State *L);
/* Add connect to the methods table on top of the stack. */
void cbf_connect_register(lua_State *L);

#endif
