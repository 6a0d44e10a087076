/* The option tables, and the one checker every options table goes through. */
#include "options.h"

#include <string.h>

#include "error.h"
#include "wire.h"

const cbf_option cbf_client_options[CBF_NEW_COUNT] = {
#define CBF_CLIENT_OPTION_ENTRY(name, kind, dflt, max, detail, env) \
    {#name, CBF_OPTION_##kind, dflt, max, detail, env, 0},
    CBF_CLIENT_OPTIONS(CBF_CLIENT_OPTION_ENTRY)
#undef CBF_CLIENT_OPTION_ENTRY
};

const cbf_option cbf_call_options[CBF_CALL_COUNT] = {
#define CBF_CALL_OPTION_ENTRY(name, kind, dflt, max, detail, scope) \
    {#name, CBF_OPTION_##kind, dflt, max, detail, NULL, scope},
    CBF_CALL_OPTIONS(CBF_CALL_OPTION_ENTRY)
#undef CBF_CALL_OPTION_ENTRY
};

static const char *const kind_what[] = {
#define CBF_OPTION_KIND_WHAT(kind, what) what,
    CBF_OPTION_KINDS(CBF_OPTION_KIND_WHAT)
#undef CBF_OPTION_KIND_WHAT
};

int cbf_option_fail(lua_State *L, const cbf_option *o) {
    const char *what = kind_what[o->kind];
    switch (o->kind) {
    case CBF_OPTION_SECONDS:
        lua_pushfstring(L, what, (int)o->max);
        break;
    case CBF_OPTION_INTEGER:
        lua_pushfstring(L, what, (int)o->max, o->detail);
        break;
    case CBF_OPTION_FUNCTION:
    case CBF_OPTION_TABLE:
    case CBF_OPTION_ANY:
        lua_pushfstring(L, what, o->detail);
        break;
    default:
        lua_pushstring(L, what);
    }
    cbf_error_pushf(L, CBF_E_INVALID_ARGUMENT, "%s must be %s", o->name, lua_tostring(L, -1));
    lua_remove(L, -2);
    return -1;
}

int cbf_option_raise(lua_State *L, const cbf_option *o) {
    cbf_option_fail(L, o);
    return lua_error(L);
}

/* 1 when the value at idx is what o's kind accepts. */
static int accepts(lua_State *L, int idx, const cbf_option *o) {
    switch (o->kind) {
    case CBF_OPTION_STRING: {
        size_t len;
        const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
        return s && cbf_wire_ok(s, len, CBF_WIRE_VALUE);
    }
    case CBF_OPTION_BOOLEAN:
        return lua_isboolean(L, idx);
    case CBF_OPTION_SECONDS:
        return lua_type(L, idx) == LUA_TNUMBER && lua_tonumber(L, idx) > 0 &&
               lua_tonumber(L, idx) < o->max;
    case CBF_OPTION_BYTES:
        return lua_isinteger(L, idx) && lua_tointeger(L, idx) > 0;
    case CBF_OPTION_INTEGER:
        return lua_isinteger(L, idx) && lua_tointeger(L, idx) >= 1 &&
               (double)lua_tointeger(L, idx) <= o->max;
    case CBF_OPTION_FUNCTION:
        return lua_isfunction(L, idx);
    case CBF_OPTION_TABLE:
        return lua_istable(L, idx);
    default:
        return 1; /* ANY: its parser checks it */
    }
}

static const cbf_option *find(const cbf_option *set, size_t n, unsigned scope, const char *key) {
    size_t i;
    for (i = 0; i < n; i++)
        if ((scope == 0 || (set[i].scope & scope)) && strcmp(set[i].name, key) == 0) return &set[i];
    return NULL;
}

/* The unknown key at -2 (under its value): pops both and pushes the error, which
 * lists the names that table takes. */
static int unknown(lua_State *L, const cbf_option *set, size_t n, unsigned scope, const char *what) {
    size_t i;
    if (lua_type(L, -2) == LUA_TSTRING)
        lua_pushfstring(L, "'%s'", lua_tostring(L, -2));
    else if (lua_type(L, -2) == LUA_TNUMBER) {
        lua_pushvalue(L, -2); /* converted as a copy: lua_next needs the key a number */
        lua_pushfstring(L, "[%s]", lua_tostring(L, -1));
        lua_remove(L, -2);
    } else
        lua_pushfstring(L, "(a %s key)", luaL_typename(L, -2));
    lua_pushliteral(L, "");
    for (i = 0; i < n; i++) {
        if (scope != 0 && !(set[i].scope & scope)) continue;
        lua_pushfstring(L, "%s%s%s", lua_tostring(L, -1), *lua_tostring(L, -1) ? ", " : "", set[i].name);
        lua_remove(L, -2);
    }
    cbf_error_pushf(L, CBF_E_INVALID_ARGUMENT, "unknown option %s for %s (known: %s)", lua_tostring(L, -2), what,
                    lua_tostring(L, -1));
    lua_replace(L, -5);
    lua_pop(L, 3);
    return -1;
}

int cbf_options_check(lua_State *L, int idx, const cbf_option *set, size_t n, unsigned scope,
                      const char *what) {
    if (lua_isnoneornil(L, idx)) return 0;
    if (idx < 0) idx = lua_gettop(L) + idx + 1;
    if (!lua_istable(L, idx)) return cbf_error_pushf(L, CBF_E_INVALID_ARGUMENT, "%s: opts must be a table", what);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        const cbf_option *o = lua_type(L, -2) == LUA_TSTRING ? find(set, n, scope, lua_tostring(L, -2)) : NULL;
        if (!o) {
            /* An invoke_all call may give its name and payload as [1] and [2]. */
            int positional = (scope & CBF_IN_CALL_TABLE) && lua_isinteger(L, -2) &&
                             (lua_tointeger(L, -2) == 1 || lua_tointeger(L, -2) == 2);
            if (!positional) return unknown(L, set, n, scope, what);
        } else if (!accepts(L, -1, o)) {
            lua_pop(L, 2);
            return cbf_option_fail(L, o);
        }
        lua_pop(L, 1);
    }
    return 0;
}

void cbf_options_check_or_raise(lua_State *L, int idx, const cbf_option *set, size_t n,
                                unsigned scope, const char *what) {
    if (cbf_options_check(L, idx, set, n, scope, what)) lua_error(L);
}

int cbf_options_get(lua_State *L, int idx, const char *key) {
    if (lua_istable(L, idx)) return cbf_rawfield(L, idx, key);
    lua_pushnil(L);
    return LUA_TNIL;
}

lua_Number cbf_option_number(lua_State *L, int idx, const cbf_option *o, lua_Number dflt) {
    lua_Number v = cbf_options_get(L, idx, o->name) == LUA_TNIL ? dflt : lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

lua_Integer cbf_option_integer(lua_State *L, int idx, const cbf_option *o, lua_Integer dflt) {
    lua_Integer v = cbf_options_get(L, idx, o->name) == LUA_TNIL ? dflt : lua_tointeger(L, -1);
    lua_pop(L, 1);
    return v;
}
