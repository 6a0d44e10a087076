/* A Lua host whose allocator counts and caps memory, as an embedding application
 * would: `capped_host script`. The script gets host_memory() -> bytes in use and
 * host_cap(bytes or nil). Built and run by capped_host_spec.lua. */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static size_t in_use, cap = (size_t)-1;

static void *counting_alloc(void *ud, void *p, size_t old, size_t size) {
    void *q;
    (void)ud;
    if (!p) old = 0; /* then `old` is a type tag, not a size */
    if (size == 0) {
        free(p);
        in_use -= old;
        return NULL;
    }
    if (size > old && in_use - old + size > cap) return NULL;
    q = realloc(p, size);
    if (q) in_use = in_use - old + size;
    return q;
}

static int host_memory(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)in_use);
    return 1;
}

static int host_cap(lua_State *L) {
    cap = lua_isnoneornil(L, 1) ? (size_t)-1 : (size_t)luaL_checkinteger(L, 1);
    return 0;
}

int main(int argc, char **argv) {
    lua_State *L;
    int status;
    if (argc != 2) {
        fprintf(stderr, "usage: %s script\n", argv[0]);
        return 2;
    }
    L = lua_newstate(counting_alloc, NULL);
    if (!L) return 1;
    luaL_openlibs(L);
    lua_register(L, "host_memory", host_memory);
    lua_register(L, "host_cap", host_cap);
    status = luaL_dofile(L, argv[1]);
    if (status != LUA_OK) fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_close(L);
    if (in_use != 0) {
        fprintf(stderr, "%zu bytes still allocated after lua_close\n", in_use);
        return 1;
    }
    return status == LUA_OK ? 0 : 1;
}
