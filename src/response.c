#include "response.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "info.h"
#include "json.h"

/* Media type of a Content-Type value, lower-cased, without parameters. */
static void media_type(const char *ct, char *out, size_t size) {
    size_t n = 0;
    while (*ct == ' ' || *ct == '\t') ct++;
    while (*ct && *ct != ';' && *ct != ' ' && *ct != '\t' && n + 1 < size)
        out[n++] = (char)tolower((unsigned char)*ct++);
    out[n] = '\0';
}

static int is_json_type(const char *mt) {
    size_t n = strlen(mt);
    return strcmp(mt, "application/json") == 0 || (n > 5 && strcmp(mt + n - 5, "+json") == 0);
}

/* Decode a body with the client's codec. Pushes the value and returns 0, or pushes
 * a message string and returns -1. */
static int decode_body(lua_State *L, int uv, const char *body, size_t len) {
    lua_getfield(L, uv, CBF_UV_JSON);
    if (lua_istable(L, -1)) {
        int rc;
        lua_pushlstring(L, body, len);
        rc = cbf_json_user_call(L, -2, "decode", -1);
        lua_replace(L, -3);
        lua_pop(L, 1);
        if (rc != 0) {
            if (!lua_isstring(L, -1)) {
                lua_pop(L, 1);
                lua_pushliteral(L, "the json codec failed");
            }
            return -1;
        }
        return 0;
    }
    lua_pop(L, 1);
    {
        cbf_json_error err;
        cbf_json_big big;
        lua_getfield(L, uv, CBF_UV_BIG_INTEGERS);
        big = (cbf_json_big)lua_tointeger(L, -1); /* nil: 0, the nearest float */
        lua_pop(L, 1);
        if (cbf_json_decode(L, body, len, big, &err) == 0) return 0;
        lua_pushstring(L, err.message);
        return -1;
    }
}

static void push_info(lua_State *L, const cbf_response *r, int request_id, int content_type) {
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)r->status);
    lua_setfield(L, -2, "status");
    lua_pushvalue(L, request_id);
    lua_setfield(L, -2, "request_id");
    lua_pushvalue(L, content_type);
    lua_setfield(L, -2, "content_type");
    if (r->elapsed >= 0) {
        lua_pushnumber(L, r->elapsed);
        lua_setfield(L, -2, "elapsed");
    }
    cbf_info_attach(L, r->headers);
}

/* The error on top gets retry_after (seconds) from a Retry-After of delta-seconds; the
 * HTTP-date form is not used by the gateway and is left out. */
static void add_retry_after(lua_State *L, const cbf_response *r) {
    const char *v = cbf_info_header(L, r->headers, "retry-after");
    if (v && *v && strspn(v, "0123456789") == strlen(v) && strlen(v) < 10) {
        lua_pushinteger(L, (lua_Integer)atol(v));
        lua_setfield(L, -3, "retry_after");
    }
    lua_pop(L, 1);
}

/* A non-2xx answer: the gateway's {code, message, requestId} when the body has that
 * shape, otherwise HTTP_ERROR carrying the raw body. */
static int push_http_failure(lua_State *L, int uv, const cbf_response *r,
                             const char *request_id) {
    char msg[160];
    int top = lua_gettop(L);
    if (r->body_len > 0 && decode_body(L, uv, r->body, r->body_len) == 0 &&
        lua_istable(L, -1)) {
        /* Not raw: a user codec may decode to a proxy table (the CLI's keeps the
         * text and reads through __index); a raise here is the method guard's. */
        lua_getfield(L, -1, "code");
        if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0) {
            const char *code = lua_tostring(L, -1), *message, *id;
            lua_getfield(L, -2, "message");
            message = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
            lua_getfield(L, -3, "requestId");
            id = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : request_id;
            cbf_error_push(L, code, message, r->status, id, NULL, 0);
            add_retry_after(L, r);
            lua_replace(L, top + 1);
            lua_settop(L, top + 1);
            return -1;
        }
    }
    lua_settop(L, top);
    snprintf(msg, sizeof msg, "HTTP %ld without an error body from the gateway (%zu bytes)",
             r->status, r->body_len);
    cbf_error_push(L, CBF_E_HTTP_ERROR, msg, r->status, request_id, r->body, r->body_len);
    add_retry_after(L, r);
    return -1;
}

/* Pushes its outcome above two slots it uses itself (request id, content type). */
static int finish(lua_State *L, int uv, const cbf_response *r) {
    static const char *const wanted[] = {"x-request-id", "content-type"};
    int id_slot = lua_gettop(L) + 1;
    const char *request_id, *content_type;
    char mt[128];
    cbf_info_headers(L, r->headers, wanted, 2);
    request_id = lua_tostring(L, id_slot);
    content_type = lua_tostring(L, id_slot + 1);
    if (!request_id && r->sent_id && *r->sent_id) {
        lua_pushstring(L, r->sent_id);
        lua_replace(L, id_slot);
        request_id = lua_tostring(L, id_slot);
    }
    if (r->status < 200 || r->status > 299) return push_http_failure(L, uv, r, request_id);
    media_type(content_type ? content_type : "", mt, sizeof mt);
    if (r->body_len == 0) {
        lua_pushnil(L);
    } else if (is_json_type(mt)) {
        if (decode_body(L, uv, r->body, r->body_len) != 0) {
            lua_pushfstring(L, "response body is not valid JSON: %s", lua_tostring(L, -1));
            cbf_error_push(L, CBF_E_INVALID_RESPONSE, lua_tostring(L, -1), r->status, request_id,
                           r->body, r->body_len);
            lua_replace(L, -3); /* over the decoder's message; the new one goes too */
            lua_pop(L, 1);
            return -1;
        }
    } else {
        lua_pushlstring(L, r->body, r->body_len);
    }
    push_info(L, r, id_slot, id_slot + 1);
    return 0;
}

int cbf_response_finish(lua_State *L, int uv, const cbf_response *r) {
    int base = lua_gettop(L), rc = finish(L, uv, r), n = rc == 0 ? 2 : 1;
    lua_rotate(L, base + 1, n); /* the outcome goes below the two header slots */
    lua_settop(L, base + n);
    return rc;
}
