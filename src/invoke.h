/* The client's calling methods: invoke, try_invoke, invoke_all, prepare, process. */
#ifndef CBF_INVOKE_H
#define CBF_INVOKE_H

#include "client.h"

/* Add the methods to the table on top of the stack. */
void cbf_invoke_register(lua_State *L);
/* Helpers for the Lua methods (lua_methods.c) of clients with a Lua transport, which
 * run invoke_all's calls in Lua frames:
 *   plan_all(client, calls, opts) -> #calls, concurrency  (raises as invoke_all does)
 *   prepare_call(client, calls, i) -> request | nil, err  (calls[i] as invoke_all reads it) */
int cbf_invoke_plan_all(lua_State *L);
int cbf_invoke_prepare_call(lua_State *L);

#endif
