/* The client's calling methods: invoke, try_invoke, invoke_all, prepare, process. */
#ifndef CBF_INVOKE_H
#define CBF_INVOKE_H

#include "client.h"

/* Add the methods to the table on top of the stack. */
void cbf_invoke_register(lua_State *L);

#endif
