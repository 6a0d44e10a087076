/* 64-bit integers where Lua numbers are doubles: the big_integers option, and the
 * bridge to LuaJIT's int64_t/uint64_t cdata.
 *
 * LuaJIT's C API has no call that tells a cdata's type or builds one, so the
 * bridge is a small Lua chunk over the ffi (compiled once per state, kept in the
 * registry): `text(v)` gives tostring(v) only when ffi.istype says v is an
 * int64_t or uint64_t, whose tostring is LuaJIT's own exact formatter ("-5LL",
 * "5ULL") and cannot be overridden (ffi.metatype takes only structs and unions);
 * `make(hi, lo, signed)` builds the value from two exact 32-bit halves. The
 * text is parsed strictly all the same. Elsewhere the bridge does not exist. */
#include "json_int64.h"

#include <string.h>

#define BRIDGE_KEY "cloudbase.functions.int64"
#define CBF_LUA_TCDATA 10 /* lua_type of a cdata on LuaJIT (LUA_TCDATA in its lj_obj.h) */

static const char *const big_names[] = {"float", "string", "cdata", NULL};

#ifdef LUA_LJDIR
static const char bridge_source[] =
    "local ffi = require 'ffi'\n"
    "local i64, u64 = ffi.typeof('int64_t'), ffi.typeof('uint64_t')\n"
    "local istype, cast, tostring = ffi.istype, ffi.cast, tostring\n"
    "return {\n"
    "  function(v) if istype(i64, v) or istype(u64, v) then return tostring(v) end end,\n"
    "  function(hi, lo, signed)\n"
    "    local v = u64(hi) * 4294967296 + lo\n"
    "    if signed then return (cast(i64, v)) end\n"
    "    return v\n"
    "  end,\n"
    "}\n";

/* Pushes the bridge table; 0, or -1 with nothing pushed when the ffi is missing. */
static int push_bridge(lua_State *L) {
    if (!lua_checkstack(L, 6)) return -1; /* the bridge, a function and its arguments */
    lua_getfield(L, LUA_REGISTRYINDEX, BRIDGE_KEY);
    if (lua_istable(L, -1)) return 0;
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, bridge_source, sizeof bridge_source - 1, "=cloudbase.functions.int64") != 0 ||
        lua_pcall(L, 0, 1, 0) != 0 || !lua_istable(L, -1)) {
        lua_pop(L, 1);
        return -1;
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, BRIDGE_KEY);
    return 0;
}
#endif

int cbf_json_big_option(lua_State *L, int idx, const char **why) {
    const char *s;
    int i;
    if (lua_isnil(L, idx)) return CBF_JSON_BIG_FLOAT;
    s = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : "";
    for (i = 0; big_names[i]; i++) {
        if (strcmp(s, big_names[i]) != 0) continue;
        if (i != CBF_JSON_BIG_CDATA) return i;
#ifdef LUA_LJDIR
        if (push_bridge(L) == 0) {
            lua_pop(L, 1);
            return i;
        }
#endif
        *why = "big_integers = \"cdata\" needs LuaJIT's ffi";
        return -1;
    }
    *why = "big_integers must be \"float\", \"string\" or \"cdata\"";
    return -1;
}

size_t cbf_json_cdata_integer(lua_State *L, int idx, char *buf, size_t size) {
#ifdef LUA_LJDIR
    const char *s, *d;
    size_t len, n;
    if (lua_type(L, idx) != CBF_LUA_TCDATA) return 0;
    if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
    if (push_bridge(L) != 0) return 0;
    lua_rawgeti(L, -1, 1);
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) != 0 || lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 2);
        return 0;
    }
    s = lua_tolstring(L, -1, &len);
    /* -?digits followed by LL (int64_t) or ULL (uint64_t, never negative) */
    d = s + (*s == '-');
    for (n = 0; d[n] >= '0' && d[n] <= '9'; n++) continue;
    if (n == 0 || n > 20 || (d[0] == '0' && n > 1) ||
        !(strcmp(d + n, "LL") == 0 || (d == s && strcmp(d + n, "ULL") == 0)) ||
        (size_t)(d - s) + n >= size) {
        lua_pop(L, 2);
        return 0;
    }
    len = (size_t)(d - s) + n;
    memcpy(buf, s, len);
    buf[len] = '\0';
    lua_pop(L, 2);
    return len;
#else
    (void)L, (void)idx, (void)buf, (void)size;
    return 0;
#endif
}

int cbf_json_push_cdata_integer(lua_State *L, unsigned long long bits, int is_signed) {
#ifdef LUA_LJDIR
    if (push_bridge(L) != 0) return -1;
    lua_rawgeti(L, -1, 2);
    lua_pushnumber(L, (lua_Number)(bits >> 32));
    lua_pushnumber(L, (lua_Number)(bits & 0xffffffffu));
    lua_pushboolean(L, is_signed);
    if (lua_pcall(L, 3, 1, 0) != 0) {
        lua_pop(L, 2);
        return -1;
    }
    lua_remove(L, -2);
    return 0;
#else
    (void)L, (void)bits, (void)is_signed;
    return -1;
#endif
}
