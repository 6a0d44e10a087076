/* Observability hooks: on_request(summary) before each attempt is sent and
 * on_response(summary) once per call with its outcome, so a host can log, trace and
 * count calls. Summaries hold no header at all, so never the credential. Hooks run
 * from C between libcurl steps, under pcall; one that raises changes nothing. */
#ifndef CBF_HOOKS_H
#define CBF_HOOKS_H

#include "client.h"

#define CBF_UV_ON_REQUEST "on_request"
#define CBF_UV_ON_RESPONSE "on_response"

/* Store the on_request / on_response options of functions.new (already checked by
 * cbf_options_check) in the uservalue table at uv. */
void cbf_hooks_read(lua_State *L, int opts, int uv);
/* Run on_request, if set, for attempt number `attempt` of req. */
void cbf_hooks_request(lua_State *L, int uv, cbf_client *c, const cbf_request *req, int attempt);
/* Run on_response, if set: `outcome` is the info table (ok) or the error; the call
 * made `attempts` attempts since started_ms (cbf_loop_clock_ms). */
void cbf_hooks_response(lua_State *L, int uv, cbf_client *c, const cbf_request *req, int outcome,
                        int ok, int attempts, long long started_ms);
/* The same for a call whose request is the table at `req` (client:prepare's form, as a
 * Lua transport gets it): one attempt, `elapsed` seconds. */
void cbf_hooks_request_table(lua_State *L, int uv, cbf_client *c, int req);
void cbf_hooks_response_table(lua_State *L, int uv, cbf_client *c, int req, int outcome, int ok,
                              double elapsed);
/* A user callback and its one argument are on top: call it under pcall. One that
 * raises is ignored; the first such failure of each client is written to stderr
 * (naming `what`), so a broken callback is noticed without breaking the calls. */
void cbf_hooks_call(lua_State *L, cbf_client *c, const char *what);

#endif
