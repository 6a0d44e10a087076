/* The module's JSON codec, exact for Lua 5.4 numbers.
 * Neither function raises a Lua error except on memory exhaustion; on a bad
 * value they fill `err` and return -1, leaving the Lua stack as they found it. */
#ifndef CBF_JSON_H
#define CBF_JSON_H

#include "buffer.h"
#include "compat.h"
#include "json_int64.h"

#define CBF_JSON_MAX_DEPTH 1000
/* The message for it, made from the constant (the codec's messages are built without
 * a Lua state, so lua_pushfstring is not at hand). */
#define CBF_JSON_TEXT_(x) #x
#define CBF_JSON_TEXT(x) CBF_JSON_TEXT_(x)
#define CBF_JSON_TOO_DEEP "nesting deeper than " CBF_JSON_TEXT(CBF_JSON_MAX_DEPTH)
/* Registry name of the array metatable (functions.array_mt). */
#define CBF_JSON_ARRAY_MT "cloudbase.functions.array_mt"

typedef struct {
    char message[256];
} cbf_json_error;

/* Append the JSON text of the value at `idx` to `out`. `root` names the value in
 * error messages ("payload" gives "payload.items[3]"). */
int cbf_json_encode(lua_State *L, int idx, const char *root, cbf_buffer *out,
                    cbf_json_error *err);
/* Decode s[0, len) and push the one value it holds. `big` says what an integer the
 * Lua number type cannot hold exactly becomes (json_int64.h). */
int cbf_json_decode(lua_State *L, const char *s, size_t len, cbf_json_big big,
                    cbf_json_error *err);
/* Push the metatable that marks a table as a JSON array (one per state). */
void cbf_json_push_array_mt(lua_State *L);
/* codec[method](value) for the user's codec table at `codec`, the lookup included,
 * under lua_pcall: pushes the result (returns 0) or the error value (nonzero). */
int cbf_json_user_call(lua_State *L, int codec, const char *method, int value);
/* Push the table exposed as functions.json: { encode = ..., decode = ... }. */
void cbf_json_push_module(lua_State *L);

#endif
