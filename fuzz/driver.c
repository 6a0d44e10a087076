/* The libFuzzer entry point shared by every target in fuzz/.
 *
 * Each target is this file built with FUZZ_TARGET naming a Lua script in FUZZ_DIR. The
 * script returns `check(input, fields)`, which drives the module through its public Lua
 * API (so refactors inside src/ never break the targets) and raises only when an
 * invariant is broken: every outcome the module is allowed to produce is handled in Lua.
 * A raise here therefore aborts, and libFuzzer keeps the input.
 *
 * `fields` splits the input like FuzzedDataProvider::ConsumeRandomLengthString: a field
 * ends at a backslash followed by any byte but a backslash, and two backslashes stand for
 * one. Seeds stay writable by hand (a seed file reads `echo\|1\|...`) and any byte, CR,
 * LF and NUL included, can appear inside a field. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#ifndef FUZZ_DIR
#error "build with -DFUZZ_DIR=\"/path/to/fuzz\""
#endif
#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET=\"name\" (fuzz/name.lua is the check)"
#endif

/* More fields than any target reads: the rest of the input stays in the last one. */
#define MAX_FIELDS 64
/* Bytes of canary after every block Lua allocates (see lua_alloc_with_canary). */
#define CANARY_SIZE 64
#define CANARY_BYTE 0xA5

int luaopen_cloudbase_functions(lua_State *L);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *state;
static int check_ref = LUA_NOREF;

static void die(const char *what) {
    fprintf(stderr, "fuzz/" FUZZ_TARGET ": %s\n", what);
    abort();
}

/* liblua is not built with ASan, so when the module pushes past the end of a Lua stack
 * (a missing lua_checkstack), liblua's writes into the next bytes go unseen. Every block
 * Lua allocates therefore carries a canary tail, checked whenever Lua reallocates or frees
 * it: a stack that overflowed dies at its next growth or collection. The targets call the
 * module inside fresh coroutines, whose stacks are small. */
static void check_canary(const unsigned char *block, size_t size) {
    size_t i;
    for (i = 0; i < CANARY_SIZE; i++)
        if (block[size + i] != CANARY_BYTE) die("a write past the end of a Lua block (stack overflow?)");
}

static void *lua_alloc_with_canary(void *ud, void *ptr, size_t osize, size_t nsize) {
    unsigned char *block;
    (void)ud;
    if (ptr) check_canary(ptr, osize); /* with ptr NULL, osize is a type tag, not a size */
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    block = realloc(ptr, nsize + CANARY_SIZE);
    if (!block) return NULL;
    memset(block + nsize, CANARY_BYTE, CANARY_SIZE);
    return block;
}

/* One lua_State for the whole run: building the module's metatables per input would
 * drown the interesting work, and the targets create their clients as they need them. */
static void init_state(void) {
    lua_State *L = lua_newstate(lua_alloc_with_canary, NULL);
    if (!L) die("lua_newstate failed");
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_cloudbase_functions);
    lua_setfield(L, -2, "cloudbase.functions");
    lua_pop(L, 1);
    lua_getglobal(L, "package");
    lua_pushliteral(L, FUZZ_DIR "/?.lua");
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    if (luaL_dofile(L, FUZZ_DIR "/" FUZZ_TARGET ".lua") != LUA_OK || !lua_isfunction(L, -1))
        die(lua_tostring(L, -1) ? lua_tostring(L, -1) : "the script must return a function");
    check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    state = L;
}

/* Pushes the fields of data[0..size) as a Lua array. */
static void push_fields(lua_State *L, const uint8_t *data, size_t size) {
    luaL_Buffer field;
    size_t i = 0;
    int n = 0;
    lua_createtable(L, 8, 0);
    while (i < size && n < MAX_FIELDS) {
        luaL_buffinit(L, &field);
        while (i < size) {
            if (data[i] == '\\' && n < MAX_FIELDS - 1) {
                if (i + 1 < size && data[i + 1] == '\\') {
                    luaL_addchar(&field, '\\');
                    i += 2;
                    continue;
                }
                i += 2; /* the backslash and the byte after it end the field */
                break;
            }
            luaL_addchar(&field, (char)data[i]);
            i++;
        }
        luaL_pushresult(&field);
        lua_rawseti(L, -2, ++n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lua_State *L;
    if (!state) init_state();
    L = state;
    lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
    lua_pushlstring(L, (const char *)data, size);
    push_fields(L, data, size);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        die(luaL_tolstring(L, -1, NULL));
    }
    /* Free this input's garbage now: clients' __gc runs under the sanitizers on every
     * input, and libFuzzer's leak check (it runs one whenever an input allocated more
     * than it freed) stays rare instead of following every input. Two cycles: the first
     * runs the finalisers, the second frees the finalised userdata. */
    lua_gc(L, LUA_GCCOLLECT, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
