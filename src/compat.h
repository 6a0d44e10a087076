/* Portability between Lua 5.4 (the target) and 5.1/LuaJIT (a Makefile variable away).
 * Only the handful of API differences this module touches are bridged here. */
#ifndef CBF_COMPAT_H
#define CBF_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM == 501 && !defined(LUAJIT_VERSION)
#define luaL_setfuncs(L, l, nup) luaL_register((L), NULL, (l))
#define luaL_setmetatable(L, tname) (luaL_getmetatable((L), (tname)), lua_setmetatable((L), -2))
void *luaL_testudata(lua_State *L, int idx, const char *tname);
#endif

#if LUA_VERSION_NUM == 501
#define lua_rawlen(L, i) lua_objlen((L), (i))
#define lua_isinteger(L, i) 0
#define cbf_newuserdata(L, size) lua_newuserdata((L), (size))
#define cbf_setuservalue(L, i) lua_setfenv((L), (i))
#define cbf_getuservalue(L, i) lua_getfenv((L), (i))
#else
#define cbf_newuserdata(L, size) lua_newuserdatauv((L), (size), 1)
#define cbf_setuservalue(L, i) lua_setiuservalue((L), (i), 1)
#define cbf_getuservalue(L, i) ((void)lua_getiuservalue((L), (i), 1))
#endif

#endif
