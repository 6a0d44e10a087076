/* The Lua face of the codec: functions.json = { encode, decode, null, array_mt }.
 *
 *   json.encode(value) -> string   raises an ENCODE_ERROR error object
 *   json.decode(text)  -> value    raises a DECODE_ERROR error object
 *   json.null                      the NULL light userdata (== cjson.null)
 *   json.array_mt                  setmetatable(t, json.array_mt) makes t encode
 *                                  as an array, even when empty
 */
#include "json.h"
#include "error.h"

#include <string.h>

#define ENCODER_MT_NAME "cloudbase.functions.json_encoder"


/* The encode output buffer, one per json table, freed by __gc. Encoding calls
 * no Lua code, so the buffer cannot be reentered while in use; `busy` guards
 * the theory anyway. A raise after the encode leaks nothing: the userdata
 * owns the memory. */
typedef struct {
    cbf_buffer buf;
    int busy;
} encoder_box;

static int encoder_gc(lua_State *L) {
    encoder_box *box = (encoder_box *)lua_touserdata(L, 1);
    if (box) cbf_buffer_free(&box->buf);
    return 0;
}

static encoder_box *new_encoder_box(lua_State *L) {
    encoder_box *box = (encoder_box *)cbf_newuserdata(L, sizeof *box);
    cbf_buffer_init(&box->buf);
    box->busy = 0;
    if (luaL_newmetatable(L, ENCODER_MT_NAME)) {
        lua_pushcfunction(L, encoder_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return box;
}

static int json_encode(lua_State *L) {
    encoder_box *box = (encoder_box *)lua_touserdata(L, lua_upvalueindex(1));
    cbf_json_error err;
    int rc;
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    if (box->busy) box = new_encoder_box(L); /* at index 2, collected later */
    box->busy = 1;
    box->buf.len = 0;
    rc = cbf_json_encode(L, 1, "value", &box->buf, &err);
    box->busy = 0;
    if (rc != 0) {
        cbf_buffer_reset(&box->buf, CBF_BUFFER_KEEP);
        return cbf_error_raise(L, CBF_E_ENCODE_ERROR, err.message);
    }
    lua_pushlstring(L, box->buf.data ? box->buf.data : "", box->buf.len);
    cbf_buffer_reset(&box->buf, CBF_BUFFER_KEEP);
    return 1;
}

static int json_decode(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    cbf_json_error err;
    lua_settop(L, 1);
    if (cbf_json_decode(L, s, len, &err) != 0) return cbf_error_raise(L, CBF_E_DECODE_ERROR, err.message);
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
