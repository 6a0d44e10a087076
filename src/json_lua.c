/* The Lua face of the codec: functions.json = { encode, decode, null, array_mt }.
 *
 *   json.encode(value) -> string   raises an ENCODE_ERROR error object
 *   json.decode(text [, opts]) -> value
 *                                  raises a DECODE_ERROR error object; opts:
 *                                  { big_integers = "float" | "string" | "cdata" }
 *   json.null                      the NULL light userdata (== cjson.null)
 *   json.array_mt                  setmetatable(t, json.array_mt) makes t encode
 *                                  as an array, even when empty
 */
#include "json.h"
#include "error.h"

#include <string.h>

#define ENCODER_MT_NAME "cloudbase.functions.json_encoder"


/* The encode output buffer, one per json table, freed by __gc. Encoding calls no
 * Lua code but a finaliser may run (and encode) during an allocation: `busy` sends
 * such a nested encode to a box of its own. A raise leaks nothing: the userdata owns
 * the memory, and the encode runs under pcall so `busy` is always reset. */
typedef struct {
    cbf_buffer buf;
    int busy;
} encoder_box;

static int user_call(lua_State *L) { /* codec, method, value */
    lua_pushvalue(L, 2);
    lua_gettable(L, 1);
    lua_pushvalue(L, 3);
    lua_call(L, 1, 1);
    return 1;
}

int cbf_json_user_call(lua_State *L, int codec, const char *method, int value) {
    int top = lua_gettop(L);
    if (codec < 0) codec = top + codec + 1;
    if (value < 0) value = top + value + 1;
    lua_pushcfunction(L, user_call);
    lua_pushvalue(L, codec);
    lua_pushstring(L, method);
    lua_pushvalue(L, value);
    return lua_pcall(L, 3, 1, 0);
}

static int encoder_gc(lua_State *L) {
    encoder_box *box = (encoder_box *)lua_touserdata(L, 1);
    if (box) cbf_buffer_free(&box->buf);
    return 0;
}

static encoder_box *new_encoder_box(lua_State *L) {
    encoder_box *box = (encoder_box *)cbf_newuserdata(L, sizeof *box);
    cbf_buffer_init(&box->buf, cbf_alloc_of(L));
    box->busy = 0;
    if (luaL_newmetatable(L, ENCODER_MT_NAME)) {
        lua_pushcfunction(L, encoder_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return box;
}

/* Encode value 2 into the box at 1 (a light userdata) and push the text. */
static int encode_protected(lua_State *L) {
    encoder_box *box = (encoder_box *)lua_touserdata(L, 1);
    cbf_json_error err;
    if (cbf_json_encode(L, 2, "value", &box->buf, &err) != 0)
        return cbf_error_raise(L, CBF_E_ENCODE_ERROR, err.message);
    lua_pushlstring(L, box->buf.data ? box->buf.data : "", box->buf.len);
    return 1;
}

static int json_encode(lua_State *L) {
    encoder_box *box = (encoder_box *)lua_touserdata(L, lua_upvalueindex(1));
    int status;
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    if (box->busy) box = new_encoder_box(L); /* at index 2, collected later */
    box->busy = 1;
    box->buf.len = 0;
    /* Under pcall, so that whatever raises (an encode error, a memory error) the box
     * is free again for the next encode. */
    lua_pushcfunction(L, encode_protected);
    lua_pushlightuserdata(L, box);
    lua_pushvalue(L, 1);
    status = lua_pcall(L, 2, 1, 0);
    box->busy = 0;
    cbf_buffer_reset(&box->buf, CBF_BUFFER_KEEP);
    return status == 0 ? 1 : lua_error(L);
}

static int json_decode(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    cbf_json_error err;
    int big = CBF_JSON_BIG_FLOAT;
    lua_settop(L, 2);
    if (!lua_isnil(L, 2)) {
        const char *why = NULL;
        if (!lua_istable(L, 2)) return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "json.decode options must be a table");
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING || strcmp(lua_tostring(L, -1), "big_integers") != 0)
                return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, "json.decode takes only the option big_integers");
        }
        lua_getfield(L, 2, "big_integers");
        big = cbf_json_big_option(L, -1, &why);
        if (big < 0) return cbf_error_raise(L, CBF_E_INVALID_ARGUMENT, why);
    }
    lua_settop(L, 1);
    if (cbf_json_decode(L, s, len, (cbf_json_big)big, &err) != 0)
        return cbf_error_raise(L, CBF_E_DECODE_ERROR, err.message);
    return 1;
}

void cbf_json_push_module(lua_State *L) {
    lua_createtable(L, 0, 4);
    new_encoder_box(L);
    lua_pushcclosure(L, json_encode, 1);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, json_decode);
    lua_setfield(L, -2, "decode");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    cbf_json_push_array_mt(L);
    lua_setfield(L, -2, "array_mt");
}
