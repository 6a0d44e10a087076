/* The client's calling methods: invoke, try_invoke, invoke_all, prepare, process; and
 * the steps of one call that client:start (call.c) shares with them. */
#ifndef CBF_INVOKE_H
#define CBF_INVOKE_H

#include "client.h"
#include "request.h"

/* Add the methods to the table on top of the stack. */
void cbf_invoke_register(lua_State *L);
/* Helpers for the Lua methods (lua_methods.c) of clients with a Lua transport, which
 * run invoke_all's calls in Lua frames:
 *   plan_all(client, calls, opts) -> #calls, concurrency  (raises as invoke_all does)
 *   prepare_call(client, calls, i) -> request | nil, err  (calls[i] as invoke_all reads it) */
int cbf_invoke_plan_all(lua_State *L);
int cbf_invoke_prepare_call(lua_State *L);

/* A method's (self, name, payload, opts) as call arguments; the uservalue goes to 5. */
void cbf_invoke_method_args(lua_State *L, cbf_call_args *a);
/* Push the call's credential (cbf_request_token); the token function may have closed
 * the client, which fails the call. Returns 0, or -1 with an error pushed. */
int cbf_invoke_token(lua_State *L, cbf_client *c, int uv);
/* A call's first attempt: its retry state begins (policy NULL: no retry), on_request
 * runs, then cbf_client_attach. */
int cbf_invoke_start(lua_State *L, cbf_client *c, int uv, cbf_transfer *t,
                     const cbf_retry_policy *policy);
/* The retry policy of a call: its opts.retry over the client's. 0, or -1 with an
 * error pushed. */
int cbf_invoke_policy(lua_State *L, cbf_client *c, int opts, cbf_retry_policy *out);
/* An attempt failed with its error on top. 1: the call goes again (the error popped;
 * t->retry.wake_ms says when; a token replay is due at once), 0: the error is final,
 * -1: a failed refresh replaced it with AUTH_REFRESH_FAILED (final too). */
int cbf_invoke_again(lua_State *L, cbf_client *c, int uv, cbf_transfer *t);
/* A call's wait is over: on_request runs, then t goes on the loop with the time left.
 * 0, or -1 with an error pushed. */
int cbf_invoke_resend(lua_State *L, cbf_client *c, int uv, cbf_transfer *t);
/* The outcome under the table at the top (`result, info` when ok, an error otherwise;
 * `tbl` is the table's index) moves into it as { ok = true, result =, info = } or
 * { ok = false, error = }; the table stays on top. */
void cbf_invoke_set_outcome(lua_State *L, int tbl, int ok);
/* The transfer has finished: what the curl transport received becomes `result, info`
 * (0) or an error (-1), pushed; t is cleared. */
int cbf_invoke_finish(lua_State *L, int uv, cbf_transfer *t);

#endif
