#include "error.h"

#include <stdarg.h>

#define CBF_DEFINE_ERROR_CODE(name, meaning) const char CBF_E_##name[] = #name;
CBF_ERROR_CODES(CBF_DEFINE_ERROR_CODE)
#undef CBF_DEFINE_ERROR_CODE

static void set_string(lua_State *L, const char *key, const char *value) {
    if (value) {
        lua_pushstring(L, value);
        lua_setfield(L, -2, key);
    }
}

void cbf_error_push(lua_State *L, const char *code, const char *message, long status,
                    const char *request_id, const char *body, size_t body_len) {
    lua_createtable(L, 0, 5);
    set_string(L, "code", code);
    set_string(L, "message", message ? message : "");
    set_string(L, "request_id", request_id);
    if (status > 0) {
        lua_pushinteger(L, (lua_Integer)status);
        lua_setfield(L, -2, "status");
    }
    if (body) {
        lua_pushlstring(L, body, body_len);
        lua_setfield(L, -2, "body");
    }
    cbf_error_push_metatable(L);
    lua_setmetatable(L, -2);
}

void cbf_error_default_request_id(lua_State *L, int idx, const char *request_id) {
    if (!request_id || !*request_id || !lua_istable(L, idx)) return;
    lua_getfield(L, idx, "request_id");
    if (lua_isnil(L, -1)) {
        lua_pushstring(L, request_id);
        lua_setfield(L, idx < 0 ? idx - 2 : idx, "request_id");
    }
    lua_pop(L, 1);
}

int cbf_error_fail(lua_State *L, int raise) {
    if (raise) return lua_error(L);
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

int cbf_error_is(lua_State *L, int idx) {
    int yes = 0;
    if (lua_getmetatable(L, idx)) {
        cbf_error_push_metatable(L);
        yes = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    return yes;
}

int cbf_error_raise(lua_State *L, const char *code, const char *message) {
    cbf_error_push(L, code, message, 0, NULL, NULL, 0);
    return lua_error(L);
}

int cbf_error_pushf(lua_State *L, const char *code, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    lua_pushvfstring(L, fmt, args);
    va_end(args);
    cbf_error_push(L, code, lua_tostring(L, -1), 0, NULL, NULL, 0);
    lua_remove(L, -2);
    return -1;
}

const char *cbf_error_describe(lua_State *L, int idx) {
    if (idx < 0) idx = lua_gettop(L) + idx + 1;
    if (lua_type(L, idx) == LUA_TSTRING || lua_type(L, idx) == LUA_TNUMBER) {
        lua_pushstring(L, lua_tostring(L, idx));
    } else if (luaL_getmetafield(L, idx, "__tostring")) { /* nonzero (found) on 5.1 to 5.4 */
        lua_pushvalue(L, idx);
        /* Protected: describing a failure must not raise a new one. */
        if (lua_pcall(L, 1, 1, 0) != 0 || lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushliteral(L, "(an error object whose __tostring gave no string)");
        }
    } else {
        lua_pushfstring(L, "(a %s with no message)", luaL_typename(L, idx));
    }
    return lua_tostring(L, -1);
}

/* "CODE: message (status 403, request_id abc)" so an uncaught error reads well. */
static int error_tostring(lua_State *L) {
    int parts = 0, has_status, has_id;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "code");       /* 2 */
    lua_getfield(L, 1, "message");    /* 3 */
    lua_getfield(L, 1, "status");     /* 4 */
    lua_getfield(L, 1, "request_id"); /* 5 */
    has_status = lua_isstring(L, 4); /* a number or a string: anything else is not shown */
    has_id = lua_isstring(L, 5);
    lua_pushstring(L, lua_isstring(L, 2) ? lua_tostring(L, 2) : "ERROR");
    parts++;
    if (lua_isstring(L, 3) && lua_rawlen(L, 3) > 0) {
        lua_pushfstring(L, ": %s", lua_tostring(L, 3));
        parts++;
    }
    if (has_status || has_id) {
        lua_pushliteral(L, " (");
        parts++;
        if (has_status) {
            lua_pushfstring(L, "status %s%s", lua_tostring(L, 4), has_id ? ", " : "");
            parts++;
        }
        if (has_id) {
            lua_pushfstring(L, "request_id %s", lua_tostring(L, 5));
            parts++;
        }
        lua_pushliteral(L, ")");
        parts++;
    }
    lua_concat(L, parts);
    return 1;
}

void cbf_error_push_metatable(lua_State *L) {
    if (luaL_newmetatable(L, CBF_ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
    }
}
