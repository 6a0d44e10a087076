/* The client's calling methods: invoke, try_invoke, invoke_all, prepare, process. */
#ifndef CBF_INVOKE_H
#define CBF_INVOKE_H

#include "client.h"

/* invoke, try_invoke, invoke_all, prepare, process (module.c puts them in the client's
 * method table). */
extern const luaL_Reg cbf_invoke_methods[];
/* Helpers for the Lua methods (lua_methods.c) of clients with a Lua transport, which
 * run invoke_all's calls in Lua frames:
 *   plan_all(client, calls, opts) -> #calls, concurrency  (raises as invoke_all does)
 *   prepare_call(client, calls, i) -> request | nil, err  (calls[i] as invoke_all reads it) */
int cbf_invoke_plan_all(lua_State *L);
int cbf_invoke_prepare_call(lua_State *L);

#endif
