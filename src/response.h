/* The sans-I/O back half: turn what a transport received into a result or an error. */
#ifndef CBF_RESPONSE_H
#define CBF_RESPONSE_H

#include "compat.h"
#include "transport.h"

/* Push `result, info` and return 0, or push an error object and return -1. */
int cbf_response_finish(lua_State *L, int uv, const cbf_response *r);

#endif
