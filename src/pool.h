/* functions.pool(): a libcurl share (connection pool, TLS sessions, DNS cache) that
 * several clients use, so a client made for another credential costs no handshake. */
#ifndef CBF_POOL_H
#define CBF_POOL_H

#include "compat.h"

#define CBF_POOL_MT "cloudbase.functions.pool"

/* The shared state, counted: the pool userdata holds one reference and every client
 * using it another, so it outlives whichever of them Lua collects first. */
typedef struct cbf_share cbf_share;

/* The share handle to give CURLOPT_SHARE (a CURLSH *, which libcurl declares void). */
void *cbf_share_handle(const cbf_share *s);
/* The pool userdata at idx: take a reference for a client (raises if idx is not a pool). */
cbf_share *cbf_pool_acquire(lua_State *L, int idx);
/* Drop a client's reference; the share is freed with the last one. The caller must
 * have cleaned up every easy handle it set CURLOPT_SHARE on. NULL is ignored. */
void cbf_share_release(cbf_share *s);
/* Create the metatable (once per state) and push functions.pool. */
void cbf_pool_open(lua_State *L);

#endif
