#include "connect.h"

#include <ctype.h>
#include <string.h>

#include "error.h"
#include "options.h"
#include "transport_curl.h"

#define POLL_MS 1000

/* libcurl never reuses a CURLOPT_CONNECT_ONLY connection for a request (7.88 and
 * later skip connect_only connections when looking for one to reuse), so a warm-up is
 * a real request that leaves its connection in the pool: HEAD of the base URL's root.
 * It carries no credential and runs no function; any HTTP answer (404, 401) will do,
 * as long as the server keeps the connection. */
static void warmup_request(const cbf_client *c, cbf_request *req) {
    strcpy(req->method, "HEAD");
    cbf_buffer_reset(&req->url, CBF_BUFFER_KEEP);
    cbf_buffer_reset(&req->headers, CBF_BUFFER_KEEP);
    cbf_buffer_reset(&req->body, CBF_BUFFER_KEEP);
    req->has_body = 0;
    req->timeout = c->timeout;
    req->connect_timeout = c->connect_timeout;
}

static int is_token(const char *v, size_t len, const char *word) {
    size_t n = strlen(word), i;
    if (len != n) return 0;
    for (i = 0; i < n; i++)
        if (tolower((unsigned char)v[i]) != word[i]) return 0;
    return 1;
}

/* Whether the answer says the server closes the connection after it
 * ("Connection: close" among the final response's headers). */
static int server_closes(const cbf_buffer *headers) {
    const char *p = headers->data, *end = p + headers->len;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        if (line_end - p > 11 && is_token(p, 11, "connection:")) {
            const char *v = p + 11;
            while (v < line_end) { /* a comma-separated list of tokens */
                const char *tok_end;
                while (v < line_end && (*v == ' ' || *v == '\t' || *v == ',')) v++;
                tok_end = v;
                while (tok_end < line_end && *tok_end != ',' && *tok_end != ' ' && *tok_end != '\t' &&
                       *tok_end != '\r')
                    tok_end++;
                if (is_token(v, (size_t)(tok_end - v), "close")) return 1;
                v = tok_end + (tok_end < line_end);
            }
        }
        p = eol ? eol + 1 : NULL;
    }
    return 0;
}

/* Failures below push the error object only; connect_body puts the nil before it. */

/* Start warm-up transfers on the first `n` of `ts`, drive the loop until they are all
 * done. Returns 0, or -1 with an error pushed (nothing left on the loop then). */
static int run_warmups(lua_State *L, cbf_client *c, cbf_transfer **ts, size_t n, int fresh) {
    size_t i, started = 0, done;
    int rc = 0;
    for (i = 0; i < n; i++) {
        warmup_request(c, &ts[i]->req);
        if (cbf_buffer_append_str(&ts[i]->req.url, c->base_url) ||
            cbf_buffer_append(&ts[i]->req.url, "/", 2)) {
            cbf_error_push(L, CBF_E_OUT_OF_MEMORY, "no memory for the warm-up request", 0, NULL, NULL, 0);
            rc = -1;
            break;
        }
        /* HTTP/1.1 extra connections: a new one each, not the one just warmed. */
        cbf_transfer_fresh_connect(ts[i], fresh);
        if (cbf_client_attach(L, c, ts[i])) {
            rc = -1;
            break;
        }
        started++;
    }
    c->running = 1;
    do {
        for (i = 0, done = 0; i < started; i++) done += ts[i]->done != 0;
        if (done < started) cbf_loop_step(c->loop, POLL_MS);
    } while (done < started);
    c->running = 0;
    for (i = 0; i < n; i++)
        if (fresh) cbf_transfer_fresh_connect(ts[i], 0);
    return rc;
}

/* How many of the finished warm-ups left a connection in the pool. */
static size_t kept(cbf_transfer **ts, size_t n) {
    size_t i, k = 0;
    for (i = 0; i < n; i++) {
        cbf_transfer_outcome o;
        cbf_transfer_outcome_of(ts[i], &o);
        k += !o.error && !server_closes(o.headers);
    }
    return k;
}

/* The first warm-up tells what the server speaks: over HTTP/2 every call multiplexes
 * on that one connection; over HTTP/1.1 a connection carries one call at a time, so
 * n - 1 more are opened side by side (unless the server closed the first). The
 * transfers are claimed for the method's guard, which gives them back. */
static int warm(lua_State *L, cbf_client *c, size_t n, cbf_transfer **ts) {
    size_t i, ready;
    for (i = 0; i < n; i++) {
        ts[i] = cbf_client_idle_transfer(c);
        if (!ts[i]) {
            cbf_error_push(L, CBF_E_OUT_OF_MEMORY, "no memory for a transfer", 0, NULL, NULL, 0);
            return -1;
        }
        cbf_client_claim(c, ts[i]);
        if (i == 0) {
            cbf_transfer_outcome first;
            if (run_warmups(L, c, ts, 1, 0)) return -1;
            cbf_transfer_outcome_of(ts[0], &first);
            if (first.error) {
                cbf_error_push(L, first.error, first.message, first.status, NULL, NULL, 0);
                return -1;
            }
            /* nothing more to open where one connection does it all, or where the
             * server keeps none */
            if (first.multiplexed || !kept(ts, 1)) n = 1;
        }
    }
    ready = kept(ts, 1);
    if (n > 1) {
        if (run_warmups(L, c, ts + 1, n - 1, 1)) return -1;
        ready += kept(ts + 1, n - 1);
        /* libcurl keeps 4 idle connections per running transfer by default; keep
         * what was asked for. */
        if (n > 4) cbf_loop_keep_connections(c->loop, (long)n);
    }
    lua_pushinteger(L, (lua_Integer)ready);
    return 0;
}

/* (client, n) under the method guard: ready, or nil, err. */
static int connect_body(lua_State *L) {
    cbf_client *c = cbf_client_check(L, 1);
    cbf_transfer *ts[CBF_MAX_CONNECTIONS];
    int nothing_to_open;
    cbf_getuservalue(L, 1);
    lua_getfield(L, -1, CBF_UV_TRANSPORT);
    nothing_to_open = !lua_isnil(L, -1) || !cbf_transfer_reuses(c);
    lua_pop(L, 2);
    if (nothing_to_open) { /* a Lua transport, or a mode where no connection outlives its call */
        lua_pushinteger(L, 0);
        return 1;
    }
    if (warm(L, c, (size_t)lua_tointeger(L, 2), ts) == 0) return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

int cbf_connect_method(lua_State *L) {
    lua_Integer n = 1;
    cbf_client_check(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        if (!lua_isinteger(L, 2) || lua_tointeger(L, 2) < 1 || lua_tointeger(L, 2) > CBF_MAX_CONNECTIONS) {
            lua_pushfstring(L, "connect(n): n must be an integer from 1 to %d", CBF_MAX_CONNECTIONS);
            return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, lua_tostring(L, -1));
        }
        n = lua_tointeger(L, 2);
    }
    lua_settop(L, 1);
    lua_pushinteger(L, n);
    return cbf_client_guarded(L, connect_body, 1);
}

void cbf_connect_register(lua_State *L) {
    lua_pushcfunction(L, cbf_connect_method);
    lua_setfield(L, -2, "connect");
}
