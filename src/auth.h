/* The token lifecycle (the `auth` option): an access token refreshed through the
 * gateway's POST /auth/v1/token shortly before it expires, rotated refresh tokens handed
 * to on_refresh, and one refresh-and-replay on ACCESS_TOKEN_EXPIRED. The refresh is a
 * transfer on the client's own loop; Lua is single-threaded, so one refresh runs at a
 * time and every call that needs a token after it gets the new one. */
#ifndef CBF_AUTH_H
#define CBF_AUTH_H

#include "client.h"

#define CBF_UV_AUTH "auth" /* the internal token state table, or nil */

/* Check functions.new's `auth` option and store its state in the uservalue table at
 * uv (clearing `token`); raises INVALID_ARGUMENT. */
void cbf_auth_read(lua_State *L, int opts, int uv);
/* 1 when the client at uv has `auth`. */
int cbf_auth_enabled(lua_State *L, int uv);
/* Push the access token for a call, refreshing first when it is missing or within
 * refresh_margin of its expiry. 0, or -1 with AUTH_REFRESH_FAILED pushed. */
int cbf_auth_token(lua_State *L, cbf_client *c, int uv);
/* req was answered ACCESS_TOKEN_EXPIRED (the error on top): refresh unless another
 * call did since req was built, and put the current token in req. 0 (send req again),
 * or -1 with AUTH_REFRESH_FAILED pushed above the original error (its `cause`). */
int cbf_auth_renew(lua_State *L, cbf_client *c, int uv, cbf_request *req);

#endif
