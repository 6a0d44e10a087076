/* The Lua-frame methods of clients with a Lua transport (see lua_methods.c). */
#ifndef CBF_LUA_METHODS_H
#define CBF_LUA_METHODS_H

#include "compat.h"

/* Wrap invoke, try_invoke and invoke_all of the methods table on top of the stack. */
void cbf_lua_methods_install(lua_State *L);

#endif
