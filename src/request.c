#include "request.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "json.h"
#include "options.h"
#include "request_id.h"
#include "wire.h"

#define USER_AGENT "lua-cloudbase-functions/" CBF_VERSION

static int invalid(lua_State *L, const char *message) {
    cbf_error_push(L, CBF_E_INVALID_ARGUMENT, message, 0, NULL, NULL, 0);
    return -1;
}

/* An error from inside the header check: its message is built while the `drop` values
 * the check pushed (the header's name among them) are still there; then they go, and
 * the error takes the place of the copy at `above` (0: none). */
static int header_error(lua_State *L, int above, int drop, const char *fmt, const char *what,
                        const char *name) {
    cbf_error_pushf(L, CBF_E_INVALID_ARGUMENT, fmt, what, name);
    lua_replace(L, -1 - drop);
    lua_pop(L, drop - 1);
    if (above) {
        lua_replace(L, above);
        lua_settop(L, above);
    }
    return -1;
}

static int out_of_memory(lua_State *L) {
    cbf_error_push(L, CBF_E_OUT_OF_MEMORY, "not enough memory to build the request", 0, NULL,
                   NULL, 0);
    return -1;
}

void cbf_request_init(cbf_request *req, cbf_alloc alloc) {
    memset(req, 0, sizeof *req);
    cbf_buffer_init(&req->url, alloc);
    cbf_buffer_init(&req->headers, alloc);
    cbf_buffer_init(&req->body, alloc);
}

void cbf_request_free(cbf_request *req) {
    cbf_buffer_free(&req->url);
    cbf_buffer_free(&req->headers);
    cbf_buffer_free(&req->body);
}

/* The documented name pattern: ^[a-zA-Z][a-zA-Z0-9_-]{0,58}[a-zA-Z0-9]$ */
static int valid_name(const char *s, size_t len) {
    size_t i;
    if (len < 2 || len > 60 || !isalpha((unsigned char)s[0])) return 0;
    if (!isalnum((unsigned char)s[len - 1])) return 0;
    for (i = 1; i + 1 < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '_' && ch != '-') return 0;
    }
    return 1;
}

int cbf_request_check_headers(lua_State *L, int idx, const char *what, int copy) {
    int out = 0;
    if (lua_isnoneornil(L, idx)) {
        if (copy) lua_pushnil(L);
        return 0;
    }
    if (!lua_istable(L, idx))
        return cbf_error_pushf(L, CBF_E_INVALID_ARGUMENT, "%s must be a table of name = value", what);
    if (copy) {
        lua_newtable(L);
        out = lua_gettop(L);
    }
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        size_t nlen, vlen;
        const char *name, *value;
        if (lua_type(L, -2) != LUA_TSTRING) {
            return header_error(L, out, 2, "%s: header names must be strings", what, NULL);
        }
        name = lua_tolstring(L, -2, &nlen);
        if (!cbf_wire_ok(name, nlen, CBF_WIRE_TOKEN)) {
            return header_error(L, out, 2, "%s: invalid header name", what, NULL);
        }
        if (cbf_wire_reserved_header(name, nlen)) {
            return header_error(L, out, 2, "%s: %s is set by the client and cannot be overridden",
                                what, name);
        }
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
            return header_error(L, out, 2, "%s: value of %s must be a string or a number", what,
                                name);
        }
        lua_pushvalue(L, -1); /* tolstring on a copy: never convert a number key in place */
        value = lua_tolstring(L, -1, &vlen);
        if (!cbf_wire_ok(value, vlen, CBF_WIRE_VALUE)) {
            return header_error(L, out, 3, "%s: value of %s contains a control byte", what, name);
        }
        if (copy) {
            lua_pushvalue(L, -3);
            lua_insert(L, -2);
            lua_rawset(L, out); /* the copy holds the value as a string */
            lua_pop(L, 1);
        } else {
            lua_pop(L, 2);
        }
    }
    return 0;
}

/* The value of the header `name` already added (case-insensitive), or NULL. */
static const char *header_value(const cbf_buffer *h, const char *name) {
    size_t nlen = strlen(name), pos = 0;
    while (pos < h->len) {
        const char *entry = h->data + pos;
        size_t elen = strlen(entry);
        if (elen > nlen && entry[nlen] == ':' && strncasecmp(entry, name, nlen) == 0)
            return entry + nlen + 1 + strspn(entry + nlen + 1, " \t");
        pos += elen + 1;
    }
    return NULL;
}

static int header_present(const cbf_buffer *h, const char *name) {
    return header_value(h, name) != NULL;
}

static int add_header(cbf_buffer *h, const char *name, const char *value, size_t vlen) {
    if (cbf_buffer_append_str(h, name) || cbf_buffer_append(h, ": ", 2) ||
        cbf_buffer_append(h, value, vlen) || cbf_buffer_append(h, "", 1))
        return -1;
    return 0;
}

/* Append a checked header table, skipping names already present (earlier wins). */
static int add_header_table(cbf_buffer *h, lua_State *L, int idx) {
    if (!lua_istable(L, idx)) return 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        const char *name = lua_tostring(L, -2);
        size_t vlen;
        const char *value;
        lua_pushvalue(L, -1);
        value = lua_tolstring(L, -1, &vlen);
        if (!header_present(h, name) && add_header(h, name, value, vlen)) {
            lua_pop(L, 3);
            return -1;
        }
        lua_pop(L, 2);
    }
    return 0;
}

static int add_default_header(cbf_buffer *h, const char *name, const char *value) {
    if (header_present(h, name)) return 0;
    return add_header(h, name, value, strlen(value));
}

int cbf_request_token(lua_State *L, int uv) {
    lua_getfield(L, uv, CBF_UV_TOKEN);
    if (lua_isfunction(L, -1)) {
        if (lua_pcall(L, 0, 1, 0) != 0) {
            /* The provider's own message may be shown: it is not the credential. An
             * error object (a nested call's) shows through its __tostring. */
            const char *why = cbf_error_describe(L, -1);
            lua_pushfstring(L, "token function failed: %s", why);
            cbf_error_push(L, CBF_E_TOKEN_ERROR, lua_tostring(L, -1), 0, NULL, NULL, 0);
            lua_replace(L, -4);
            lua_pop(L, 2);
            return -1;
        }
        if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            cbf_error_push(L, CBF_E_TOKEN_ERROR, "token function must return a string or nil", 0,
                           NULL, NULL, 0);
            return -1;
        }
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char *t = lua_tolstring(L, -1, &len);
        if (!cbf_wire_ok(t, len, CBF_WIRE_VALUE)) {
            lua_pop(L, 1);
            cbf_error_push(L, CBF_E_TOKEN_ERROR, "token contains a control byte", 0, NULL, NULL, 0);
            return -1;
        }
        if (len == 0) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
    }
    return 0;
}

/* What the unknown-option message calls each kind of call options table. */
static const char *opts_name(int kind) {
    return kind == CBF_OPTS_CALL_TABLE ? "an invoke_all call" : kind == CBF_OPTS_START ? "start" : "a call";
}

static int append_percent_encoded(cbf_buffer *b, const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            if (cbf_buffer_append(b, &s[i], 1)) return -1;
        } else {
            char esc[3];
            esc[0] = '%';
            esc[1] = hex[ch >> 4];
            esc[2] = hex[ch & 15];
            if (cbf_buffer_append(b, esc, 3)) return -1;
        }
    }
    return 0;
}

static int query_scalar(lua_State *L, int idx) {
    int t = lua_type(L, idx);
    return t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN;
}

static int append_query_pair(lua_State *L, cbf_buffer *url, const char *key, size_t klen,
                             int value, int *first) {
    size_t vlen;
    const char *v;
    int rc;
    if (cbf_buffer_append(url, *first ? "?" : "&", 1) ||
        append_percent_encoded(url, key, klen) || cbf_buffer_append(url, "=", 1))
        return -1;
    *first = 0;
    if (lua_type(L, value) == LUA_TBOOLEAN)
        return cbf_buffer_append_str(url, lua_toboolean(L, value) ? "true" : "false");
    lua_pushvalue(L, value); /* convert a copy: a number in the table stays a number */
    v = lua_tolstring(L, -1, &vlen);
    rc = append_percent_encoded(url, v, vlen);
    lua_pop(L, 1);
    return rc;
}

/* Query table -> "?k=v&k=v1&k=v2", keys in sorted order so URLs are reproducible. */
static int append_query(lua_State *L, int query, cbf_buffer *url) {
    int nkeys = 0, i, first = 1, keys;
    if (lua_isnil(L, query)) return 0;
    if (!lua_istable(L, query)) return cbf_option_fail(L, CBF_OPTION_CALL(query));
    lua_newtable(L);
    keys = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, query) != 0) {
        int ok = lua_type(L, -2) == LUA_TSTRING;
        if (ok && lua_istable(L, -1)) {
            /* A list: keys 1..n only. A map (or a list with extra keys) would lose
             * its other entries silently, so it is refused. */
            lua_Number n = (lua_Number)lua_rawlen(L, -1);
            lua_pushnil(L);
            while (ok && lua_next(L, -2) != 0) {
                lua_Number k = lua_type(L, -2) == LUA_TNUMBER ? lua_tonumber(L, -2) : 0;
                ok = k >= 1 && k <= n && (lua_Number)(lua_Integer)k == k && query_scalar(L, -1);
                lua_pop(L, 1);
            }
            if (!ok) lua_pop(L, 1); /* the key lua_next left behind */
        } else if (ok) {
            ok = query_scalar(L, -1);
        }
        if (!ok) {
            lua_pop(L, 3);
            return invalid(L, "query keys must be strings and values strings, numbers, "
                              "booleans or lists of them");
        }
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, keys, ++nkeys);
    }
    for (i = 2; i <= nkeys; i++) { /* insertion sort: query tables are small */
        int j = i;
        lua_rawgeti(L, keys, i);
        while (j > 1) {
            lua_rawgeti(L, keys, j - 1);
            if (strcmp(lua_tostring(L, -1), lua_tostring(L, -2)) <= 0) {
                lua_pop(L, 1);
                break;
            }
            lua_rawseti(L, keys, j--);
        }
        lua_rawseti(L, keys, j);
    }
    for (i = 1; i <= nkeys; i++) {
        size_t klen;
        const char *k;
        int value;
        lua_rawgeti(L, keys, i);
        lua_pushvalue(L, -1);
        lua_rawget(L, query);
        k = lua_tolstring(L, -2, &klen);
        value = lua_gettop(L);
        if (lua_istable(L, value)) {
            size_t j, n = lua_rawlen(L, value);
            for (j = 1; j <= n; j++) {
                lua_rawgeti(L, value, (lua_Integer)j);
                if (append_query_pair(L, url, k, klen, value + 1, &first))
                    return out_of_memory(L);
                lua_pop(L, 1);
            }
        } else if (append_query_pair(L, url, k, klen, value, &first)) {
            return out_of_memory(L);
        }
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    return 0;
}

static int build_url(lua_State *L, cbf_client *c, const cbf_call_args *a, int webfn,
                     cbf_request *req) {
    size_t nlen;
    const char *name = lua_tolstring(L, a->name, &nlen);
    cbf_buffer *url = &req->url;
    if (cbf_buffer_append_str(url, c->base_url) ||
        cbf_buffer_append_str(url, "/v1/functions/") || cbf_buffer_append(url, name, nlen))
        return out_of_memory(L);
    cbf_options_get(L, a->opts, CBF_OPTION_CALL(path)->name);
    if (!lua_isnil(L, -1)) {
        size_t plen;
        const char *p;
        if (!webfn || lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return cbf_option_fail(L, CBF_OPTION_CALL(path));
        }
        p = lua_tolstring(L, -1, &plen);
        if (!cbf_wire_ok(p, plen, CBF_WIRE_URL) || memchr(p, '?', plen) || memchr(p, '#', plen)) {
            lua_pop(L, 1);
            return invalid(L, "path must be printable ASCII without spaces, '?' or '#' "
                              "(percent-encode it)");
        }
        if (cbf_wire_has_dot_segment(p, plen)) {
            lua_pop(L, 1);
            return invalid(L, "path must not hold '.' or '..' segments (plain or percent-encoded)");
        }
        if ((plen > 0 && p[0] != '/' && cbf_buffer_append(url, "/", 1)) ||
            cbf_buffer_append(url, p, plen)) {
            lua_pop(L, 1);
            return out_of_memory(L);
        }
    }
    lua_pop(L, 1);
    cbf_options_get(L, a->opts, CBF_OPTION_CALL(query)->name);
    if (!lua_isnil(L, -1) && !webfn) {
        lua_pop(L, 1);
        return invalid(L, "query is for web functions (webfn = true) only");
    }
    if (append_query(L, lua_gettop(L), url)) {
        lua_remove(L, -2);
        return -1;
    }
    lua_pop(L, 1);
    return 0;
}

static int build_method(lua_State *L, const cbf_call_args *a, int webfn, cbf_request *req) {
    size_t len;
    const char *m;
    cbf_options_get(L, a->opts, CBF_OPTION_CALL(method)->name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        strcpy(req->method, "POST");
        return 0;
    }
    if (!webfn) {
        lua_pop(L, 1);
        return invalid(L, "method is for web functions (webfn = true) only; "
                          "event functions are always POST");
    }
    m = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (!m || len >= sizeof req->method || !cbf_wire_ok(m, len, CBF_WIRE_TOKEN)) {
        lua_pop(L, 1);
        return cbf_option_fail(L, CBF_OPTION_CALL(method));
    }
    memcpy(req->method, m, len + 1);
    lua_pop(L, 1);
    return 0;
}

/* Encode with the user's codec (a table with encode/decode) under pcall. */
static int encode_with_user_codec(lua_State *L, int codec, int payload, cbf_buffer *out) {
    size_t len;
    const char *s;
    if (cbf_json_user_call(L, codec, "encode", payload) != 0 || lua_type(L, -1) != LUA_TSTRING) {
        lua_pushfstring(L, "the json codec could not encode the payload: %s",
                        lua_isstring(L, -1) ? lua_tostring(L, -1) : "no string returned");
        cbf_error_push(L, CBF_E_ENCODE_ERROR, lua_tostring(L, -1), 0, NULL, NULL, 0);
        lua_replace(L, -3);
        lua_pop(L, 1);
        return -1;
    }
    s = lua_tolstring(L, -1, &len);
    if (cbf_buffer_append(out, s, len)) {
        lua_pop(L, 1);
        return out_of_memory(L);
    }
    lua_pop(L, 1);
    return 0;
}

static int build_body(lua_State *L, cbf_client *c, const cbf_call_args *a, int webfn,
                      cbf_request *req) {
    int t = lua_type(L, a->payload);
    req->has_body = 1;
    if (webfn && (t == LUA_TNIL || t == LUA_TNONE)) {
        req->has_body = 0; /* a web function gets exactly what was given */
        return 0;
    }
    if (webfn && t == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, a->payload, &len);
        if (cbf_buffer_append(&req->body, s, len)) return out_of_memory(L);
    } else if (t == LUA_TNIL || t == LUA_TNONE) {
        if (cbf_buffer_append(&req->body, "{}", 2)) return out_of_memory(L);
    } else if (t != LUA_TTABLE) {
        return cbf_error_pushf(L, CBF_E_INVALID_ARGUMENT, "payload must be a table (a JSON object), got %s",
                               lua_typename(L, t));
    } else {
        int has_codec;
        lua_getfield(L, a->uv, CBF_UV_JSON);
        has_codec = lua_istable(L, -1);
        if (has_codec) {
            int rc = encode_with_user_codec(L, lua_gettop(L), a->payload, &req->body);
            lua_remove(L, rc ? -2 : -1);
            if (rc) return -1;
        } else {
            cbf_json_error err;
            lua_pop(L, 1);
            if (!webfn && lua_getmetatable(L, a->payload)) {
                int is_array;
                cbf_json_push_array_mt(L);
                is_array = lua_rawequal(L, -1, -2);
                lua_pop(L, 2);
                if (is_array) return invalid(L, "payload must be a JSON object, not an array");
            }
            if (cbf_json_encode(L, a->payload, "payload", &req->body, &err)) {
                cbf_error_push(L, CBF_E_ENCODE_ERROR, err.message, 0, NULL, NULL, 0);
                return -1;
            }
        }
        if (!webfn) {
            size_t i = 0;
            while (i < req->body.len && isspace((unsigned char)req->body.data[i])) i++;
            if (i == req->body.len || req->body.data[i] != '{')
                return invalid(L, "payload must be a JSON object, not an array or a scalar");
        }
    }
    if (req->body.len > c->max_request_size) {
        /* lua_pushfstring has no size_t format: the sizes go through Lua integers. */
        lua_pushinteger(L, (lua_Integer)req->body.len);
        lua_pushinteger(L, (lua_Integer)c->max_request_size);
        cbf_error_pushf(L, CBF_E_PAYLOAD_TOO_LARGE, "encoded payload is %s bytes, over %s (%s bytes)",
                        lua_tostring(L, -2), CBF_OPTION_NEW(max_request_size)->name, lua_tostring(L, -1));
        lua_replace(L, -3);
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

/* The call's X-Request-Id: the caller's (client or call headers, any case), else a
 * fresh UUID added to the headers. Kept in req for info and errors. */
static int request_id(lua_State *L, cbf_buffer *h, cbf_request *req) {
    const char *given = header_value(h, "X-Request-Id");
    if (given) {
        size_t len = strlen(given);
        if (len > CBF_REQUEST_ID_MAX) len = CBF_REQUEST_ID_MAX;
        memcpy(req->request_id, given, len);
        req->request_id[len] = '\0';
        return 0;
    }
    if (cbf_request_id_new(req->request_id)) {
        cbf_error_push(L, CBF_E_RANDOM_UNAVAILABLE,
                       "the OS random source failed: no request id could be made", 0, NULL, NULL, 0);
        return -1;
    }
    if (add_header(h, "X-Request-Id", req->request_id, CBF_UUID_LEN)) return out_of_memory(L);
    return 0;
}

static int build_headers(lua_State *L, cbf_client *c, const cbf_call_args *a, int webfn,
                         int token, cbf_request *req) {
    cbf_buffer *h = &req->headers;
    const char *qualifier = c->qualifier;
    size_t qlen = 0;
    int rc = 0;
    cbf_options_get(L, a->opts, CBF_OPTION_CALL(headers)->name);
    if (cbf_request_check_headers(L, lua_gettop(L), "opts.headers", 0)) {
        lua_remove(L, -2);
        return -1;
    }
    rc |= add_header_table(h, L, lua_gettop(L));
    lua_pop(L, 1);
    lua_getfield(L, a->uv, CBF_UV_HEADERS);
    rc |= add_header_table(h, L, lua_gettop(L));
    lua_pop(L, 1);
    if (rc == 0 && request_id(L, h, req)) return -1;

    cbf_options_get(L, a->opts, CBF_OPTION_CALL(qualifier)->name);
    if (!lua_isnil(L, -1)) {
        /* The length is read in its own statement: as an argument next to the call
         * that sets it, it was read before (argument order is unspecified). */
        const char *q = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &qlen) : NULL;
        if (!q || qlen == 0 || !cbf_wire_ok(q, qlen, CBF_WIRE_VALUE)) {
            lua_pop(L, 1);
            return cbf_option_fail(L, CBF_OPTION_CALL(qualifier));
        }
        qualifier = q; /* kept alive by the opts table */
    }
    lua_pop(L, 1);
    if (qualifier) rc |= add_default_header(h, "X-Qualifier", qualifier);
    if (webfn) rc |= add_default_header(h, "X-Tcb-Webfn", "true");
    if (req->has_body) rc |= add_default_header(h, "Content-Type", "application/json");
    rc |= add_default_header(h, "Accept", "application/json, text/plain;q=0.9, */*;q=0.8");
    rc |= add_default_header(h, "User-Agent", USER_AGENT);
    if (!lua_isnil(L, token)) {
        size_t tlen;
        const char *t = lua_tolstring(L, token, &tlen);
        rc |= cbf_buffer_append_str(h, "Authorization: Bearer ");
        rc |= cbf_buffer_append(h, t, tlen + 1); /* with its NUL: the entry's end */
    }
    return rc ? out_of_memory(L) : 0;
}

const char *cbf_request_bearer(const cbf_request *req, size_t *len) {
    const char *v = header_value(&req->headers, "Authorization");
    if (!v || strncmp(v, "Bearer ", 7) != 0) return NULL;
    *len = strlen(v + 7);
    return v + 7;
}

int cbf_request_set_bearer(cbf_request *req, const char *token, size_t len) {
    cbf_buffer kept;
    size_t pos = 0;
    int rc = 0;
    cbf_buffer_init(&kept, req->headers.alloc);
    while (pos < req->headers.len) {
        const char *entry = req->headers.data + pos;
        size_t elen = strlen(entry);
        if (strncasecmp(entry, "Authorization:", 14) != 0) rc |= cbf_buffer_append(&kept, entry, elen + 1);
        pos += elen + 1;
    }
    rc |= cbf_buffer_append_str(&kept, "Authorization: Bearer ") || cbf_buffer_append(&kept, token, len) ||
          cbf_buffer_append(&kept, "", 1);
    if (rc) {
        cbf_buffer_free(&kept);
        return -1;
    }
    cbf_buffer_free(&req->headers);
    req->headers = kept;
    return 0;
}

/* On failure the error object is left alone on top of where the stack started. */
static int build(lua_State *L, cbf_client *c, const cbf_call_args *a, int token,
                 cbf_request *req);

int cbf_request_build(lua_State *L, cbf_client *c, const cbf_call_args *a, int token,
                      cbf_request *req) {
    int base = lua_gettop(L);
    if (build(L, c, a, token, req) == 0) {
        lua_settop(L, base);
        return 0;
    }
    if (lua_gettop(L) > base + 1) {
        lua_replace(L, base + 1);
        lua_settop(L, base + 1);
    }
    return -1;
}

static int build(lua_State *L, cbf_client *c, const cbf_call_args *a, int token,
                 cbf_request *req) {
    size_t nlen;
    const char *name;
    int webfn;
    cbf_buffer_reset(&req->url, CBF_BUFFER_KEEP);
    cbf_buffer_reset(&req->headers, CBF_BUFFER_KEEP);
    cbf_buffer_reset(&req->body, CBF_BUFFER_KEEP);
    req->request_id[0] = '\0';
    if (lua_type(L, a->name) != LUA_TSTRING)
        return invalid(L, "function name must be a string");
    name = lua_tolstring(L, a->name, &nlen);
    if (!valid_name(name, nlen))
        return invalid(L, "invalid function name: 2 to 60 characters, a letter first, then "
                          "letters, digits, '_' or '-', ending with a letter or digit");
    if (cbf_options_check(L, a->opts, cbf_call_options, CBF_CALL_COUNT, (unsigned)a->opts_is_call,
                          opts_name(a->opts_is_call)))
        return -1;
    cbf_options_get(L, a->opts, CBF_OPTION_CALL(webfn)->name);
    webfn = lua_toboolean(L, -1);
    lua_pop(L, 1);
    req->timeout = cbf_option_number(L, a->opts, CBF_OPTION_CALL(timeout), c->timeout);
    req->connect_timeout = cbf_option_number(L, a->opts, CBF_OPTION_CALL(connect_timeout), c->connect_timeout);
    if (build_method(L, a, webfn, req) || build_url(L, c, a, webfn, req) ||
        build_body(L, c, a, webfn, req) || build_headers(L, c, a, webfn, token, req))
        return -1;
    return 0;
}
