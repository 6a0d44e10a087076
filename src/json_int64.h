/* Integers past what a Lua number holds exactly (beyond int64 on 5.3+, beyond
 * +-2^53 on 5.1, 5.2 and LuaJIT, whose numbers are doubles): the decoder's
 * `big_integers` choice, and LuaJIT's int64_t/uint64_t cdata on both sides. */
#ifndef CBF_JSON_INT64_H
#define CBF_JSON_INT64_H

#include "compat.h"

/* What json.decode does with such an integer. */
typedef enum {
    CBF_JSON_BIG_FLOAT,  /* the nearest double (the default) */
    CBF_JSON_BIG_STRING, /* its decimal text, exactly as in the JSON */
    CBF_JSON_BIG_CDATA   /* LuaJIT only: an int64_t, or uint64_t past INT64_MAX */
} cbf_json_big;

/* The `big_integers` option value at idx: nil means float. Returns the choice, or
 * -1 with *why set ("cdata" where there is no LuaJIT ffi, or an unknown value). */
int cbf_json_big_option(lua_State *L, int idx, const char **why);

/* The value at idx is an int64_t or uint64_t cdata (LuaJIT): writes its decimal text
 * ("-5", "18446744073709551615") to buf[size] and returns its length; 0 when the value
 * is any other cdata or the ffi is unavailable. Raises only on memory exhaustion. */
size_t cbf_json_cdata_integer(lua_State *L, int idx, char *buf, size_t size);

/* Pushes the int64_t (is_signed) or uint64_t cdata of the 64-bit pattern `bits`;
 * 0, or -1 (nothing pushed) when the ffi is unavailable. */
int cbf_json_push_cdata_integer(lua_State *L, unsigned long long bits, int is_signed);

#endif
