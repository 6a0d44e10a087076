/* The module's JSON codec, exact for Lua 5.4 numbers.
 * Neither function raises a Lua error except on memory exhaustion; on a bad
 * value they fill `err` and return -1, leaving the Lua stack as they found it. */
#ifndef CBF_JSON_H
#define CBF_JSON_H

#include "buffer.h"
#include "compat.h"

#define CBF_JSON_MAX_DEPTH 1000

typedef struct {
    char message[256];
} cbf_json_error;

/* Append the JSON text of the value at `idx` to `out`. `root` names the value in
 * error messages ("payload" gives "payload.items[3]"). */
int cbf_json_encode(lua_State *L, int idx, const char *root, cbf_buffer *out,
                    cbf_json_error *err);
/* Decode s[0, len) and push the one value it holds. */
int cbf_json_decode(lua_State *L, const char *s, size_t len, cbf_json_error *err);
/* Push the metatable that marks a table as a JSON array (one per state). */
void cbf_json_push_array_mt(lua_State *L);
/* Push the table exposed as functions.json: { encode = ..., decode = ... }. */
void cbf_json_push_module(lua_State *L);

/* Internal to the codec (json_encode.c and json_decode.c share them). */
#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (p[0] >= 0x80), or 0 when it is not
 * one: overlong forms, UTF-16 surrogates and code points past U+10FFFF are
 * rejected, as is a sequence cut short by `end`. */
static inline size_t cbf_json_utf8_sequence(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t avail = (size_t)(end - p);
    if (c < 0xE0) return c >= 0xC2 && avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c > 0xF4) return 0;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
                   (p[3] & 0xC0) == 0x80
               ? 4
               : 0;
}

/* Nonzero when one of the 8 bytes in x is >= 0x80, < 0x20, '"' or '\\'. */
static inline uint64_t cbf_json_special8(uint64_t x) {
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    uint64_t quote = x ^ (ones * '"'), bslash = x ^ (ones * '\\');
    return (((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash) | x) &
           highs;
}

/* Skips string bytes that need no escaping from p: printable ASCII other than
 * '"' and '\\', and valid UTF-8. Stops at end, at a byte that needs attention
 * ('"', '\\', a control character), or at invalid UTF-8 (then sets *bad).
 * ASCII goes 8 bytes at a time; non-ASCII text stays in the byte loop. */
static inline const unsigned char *cbf_json_scan(const unsigned char *p, const unsigned char *end,
                                                 int *bad) {
    for (;;) {
        int ascii = 0;
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            if (cbf_json_special8(x)) break;
            p += 8;
        }
        for (;;) {
            unsigned c;
            if (p == end) return p;
            c = *p;
            if (c < 0x80) {
                if (c < 0x20 || c == '"' || c == '\\') return p;
                p++;
                if (++ascii == 8) break; /* a long ASCII run: back to words */
            } else {
                size_t n = cbf_json_utf8_sequence(p, end);
                if (n == 0) {
                    *bad = 1;
                    return p;
                }
                p += n;
                ascii = 0;
            }
        }
    }
}

#endif
