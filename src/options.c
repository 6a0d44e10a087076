/* The option tables of options.h and the one checker every option goes through. */
#include "options.h"

#include <string.h>

#include "error.h"

#define CBF_CLIENT_ROW(name, types, expect, env) {#name, types, expect, env},
#define CBF_CALL_ROW(name, types, expect) {#name, types, expect, NULL},

const cbf_option cbf_client_options[] = {CBF_CLIENT_OPTIONS(CBF_CLIENT_ROW){NULL, 0, NULL, NULL}};
const cbf_option cbf_call_options[] = {CBF_CALL_OPTIONS(CBF_CALL_ROW){NULL, 0, NULL, NULL}};
const cbf_option cbf_batch_options[] = {CBF_BATCH_OPTIONS(CBF_CALL_ROW){NULL, 0, NULL, NULL}};

/* A name longer than this is cut in messages: an unknown key may be any string. */
#define QUOTED_NAME_MAX 60

const cbf_option *cbf_option_find(const cbf_option *table, const char *name) {
    for (; table->name; table++)
        if (strcmp(table->name, name) == 0) return table;
    return NULL;
}

/* Push msg (on top) as an INVALID_ARGUMENT error in its place. */
static int invalid_from_top(lua_State *L) {
    cbf_error_push(L, CBF_E_INVALID_ARGUMENT, lua_tostring(L, -1), 0, NULL, NULL, 0);
    lua_remove(L, -2);
    return -1;
}

int cbf_option_invalid(lua_State *L, const cbf_option *o, int idx) {
    if (idx < 0) idx = lua_gettop(L) + idx + 1;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_pushvalue(L, idx); /* converted as a copy: the number shows as Lua prints it */
        lua_pushfstring(L, "option '%s' must be %s, got %s", o->name, o->expect, lua_tostring(L, -1));
        lua_remove(L, -2);
    } else {
        lua_pushfstring(L, "option '%s' must be %s, got %s", o->name, o->expect, luaL_typename(L, idx));
    }
    return invalid_from_top(L);
}

static int is_call_key(lua_State *L, int key) {
    if (lua_type(L, key) == LUA_TSTRING) {
        const char *k = lua_tostring(L, key);
        return strcmp(k, "name") == 0 || strcmp(k, "payload") == 0;
    }
    return lua_isinteger(L, key) && (lua_tointeger(L, key) == 1 || lua_tointeger(L, key) == 2);
}

int cbf_options_check(lua_State *L, int opts, const cbf_option *table, const char *owner,
                      int call_keys) {
    if (lua_isnoneornil(L, opts)) return 0;
    if (!lua_istable(L, opts)) {
        lua_pushfstring(L, "options for %s must be a table, got %s", owner, luaL_typename(L, opts));
        return invalid_from_top(L);
    }
    lua_pushnil(L);
    while (lua_next(L, opts) != 0) {
        const cbf_option *o = NULL;
        if (lua_type(L, -2) == LUA_TSTRING) o = cbf_option_find(table, lua_tostring(L, -2));
        if (o) {
            if (!(o->types & (1 << lua_type(L, -1)))) {
                cbf_option_invalid(L, o, -1);
                lua_replace(L, -3);
                lua_pop(L, 1);
                return -1;
            }
        } else if (!(call_keys && is_call_key(L, -2))) {
            if (lua_type(L, -2) == LUA_TSTRING) {
                size_t len;
                const char *k = lua_tolstring(L, -2, &len);
                lua_pushlstring(L, k, len > QUOTED_NAME_MAX ? QUOTED_NAME_MAX : len);
            } else {
                lua_pushfstring(L, "(a %s key)", luaL_typename(L, -2));
            }
            lua_pushfstring(L, "unknown option '%s' for %s", lua_tostring(L, -1), owner);
            invalid_from_top(L);
            lua_replace(L, -4);
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    return 0;
}
