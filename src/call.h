/* Non-blocking calls: client:start returns a call object at once; client:poll and the
 * event-loop methods (watch, timeout, socket_action) drive the started calls on the
 * client's loop; each call's on_done runs from those methods, never from libcurl. */
#ifndef CBF_CALL_H
#define CBF_CALL_H

#include "client.h"

#define CBF_CALL_MT "cloudbase.functions.call"

/* Add start, try_start, poll, watch, timeout and socket_action to the methods table
 * on top of the stack; create the call metatable. */
void cbf_call_register(lua_State *L);
/* End every started call of the client at stack index `client`: a finished one gets
 * its outcome, the others CANCELLED. Their on_done callbacks will not run. */
void cbf_call_cancel_all(lua_State *L, int client);
/* The client is being freed without Lua (its __gc): the call loses its transfer and
 * reports CANCELLED if anyone still asks. */
void cbf_call_lose_transfer(struct cbf_call *call);

#endif
