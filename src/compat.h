/* Portability across Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT 2.1 (the 5.1 API).
 * Only the handful of API differences this module touches are bridged here;
 * the sources are written against 5.4 and these fill in the rest. */
#ifndef CBF_COMPAT_H
#define CBF_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

/* 5.1 proper; LuaJIT 2.1 has these three (LUA_LJDIR: LuaJIT's luaconf.h). */
#if LUA_VERSION_NUM == 501 && !defined(LUA_LJDIR)
#define luaL_setfuncs(L, l, nup) luaL_register((L), NULL, (l))
#define luaL_setmetatable(L, tname) (luaL_getmetatable((L), (tname)), lua_setmetatable((L), -2))
static inline void *luaL_testudata(lua_State *L, int idx, const char *tname) {
    void *p = lua_touserdata(L, idx);
    int same = 0;
    if (p && lua_getmetatable(L, idx)) {
        luaL_getmetatable(L, tname);
        same = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    return same ? p : NULL;
}

#endif

#if LUA_VERSION_NUM == 501
#define lua_rawlen(L, i) lua_objlen((L), (i))
#endif

/* Before 5.3 numbers are doubles: an integral value in range is what 5.3 calls
 * an integer (option checks such as "a positive integer" read it that way). */
#if LUA_VERSION_NUM < 503
static inline int cbf_isinteger(lua_State *L, int i) {
    lua_Number n;
    if (lua_type(L, i) != LUA_TNUMBER) return 0;
    n = lua_tonumber(L, i);
    return n >= -9223372036854775808.0 && n < 9223372036854775808.0 &&
           n == (lua_Number)(lua_Integer)n;
}
#define lua_isinteger(L, i) cbf_isinteger((L), (i))
static inline void lua_rotate(lua_State *L, int idx, int n) { /* n > 0 only, as used here */
    while (n-- > 0) lua_insert(L, idx);
}
#endif

/* A full userdata with one user value, always a table here: 5.4 has indexed
 * user values, 5.2/5.3 a single one (5.2: a table or nil), 5.1 the
 * environment table. */
#if LUA_VERSION_NUM == 501
#define cbf_newuserdata(L, size) lua_newuserdata((L), (size))
#define cbf_setuservalue(L, i) lua_setfenv((L), (i))
#define cbf_getuservalue(L, i) lua_getfenv((L), (i))
#elif LUA_VERSION_NUM < 504
#define cbf_newuserdata(L, size) lua_newuserdata((L), (size))
#define cbf_setuservalue(L, i) lua_setuservalue((L), (i))
#define cbf_getuservalue(L, i) ((void)lua_getuservalue((L), (i)))
#else
#define cbf_newuserdata(L, size) lua_newuserdatauv((L), (size), 1)
#define cbf_setuservalue(L, i) lua_setiuservalue((L), (i), 1)
#define cbf_getuservalue(L, i) ((void)lua_getiuservalue((L), (i), 1))

#endif


/* Push t[key] without metamethods, for the table at idx: options and response tables
 * are read raw, so reading them never runs (or raises from) caller code. */
static inline int cbf_rawfield(lua_State *L, int idx, const char *key) {
    if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
    lua_pushstring(L, key);
    lua_rawget(L, idx);
    return lua_type(L, -1);
}

#endif
