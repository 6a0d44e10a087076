/* JSON decoder: JSON text -> Lua value, exact for Lua 5.4 numbers.
 *
 * Strict RFC 8259 grammar (no comments, NaN, leading zeros, trailing commas,
 * single quotes or raw control characters in strings); whitespace around the
 * value is allowed, anything else after it is an error.
 *
 * - Integer-looking numbers (no '.', 'e' or 'E') that fit int64 become Lua
 *   integers, -9223372036854775808 included (where numbers are doubles, on
 *   5.1, 5.2 and LuaJIT: those within +-2^53); larger ones become floats (the
 *   nearest double), or their text or a LuaJIT int64_t/uint64_t cdata when the
 *   caller asks (`big`, json_int64.h); all other numbers become floats (correctly rounded: exact
 *   arithmetic when the digits allow it, else strtod with the C locale's
 *   decimal point swapped in). Beyond the double range they are an error
 *   (strtod would give +-inf, which encode refuses).
 * - Strings are validated as UTF-8; \u escapes (surrogate pairs too, and
 *   \u0000) are decoded; plain runs are pushed straight from the input.
 * - null is the NULL light userdata (functions.null, == cjson.null); an empty
 *   array gets array_mt so that it encodes back to [] and not {}.
 *
 * Errors fill `err` ("unexpected character 'x' at byte 7", byte positions
 * count from 1) and leave the Lua stack as it was. */
#include "json.h"
#include "json_internal.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cbf_json_push_array_mt(lua_State *L) {
    if (luaL_newmetatable(L, CBF_JSON_ARRAY_MT)) {
        lua_pushliteral(L, CBF_JSON_ARRAY_MT);
        lua_setfield(L, -2, "__name");
    }
}

typedef struct {
    lua_State *L;
    const unsigned char *start, *p, *end;
    cbf_json_error *err;
    int depth;
    cbf_json_big big; /* what integers past the number type's exact range become */
    int scratch_slot; /* stack slot anchoring the scratch userdata */
    unsigned char *scratch;
    size_t scratch_cap;
} decoder;

/* ------------------------------------------------------------------ errors */

static size_t position(const decoder *d, const unsigned char *at) {
    return (size_t)(at - d->start) + 1;
}

static int fail_eoi(decoder *d) {
    strcpy(d->err->message, "unexpected end of input");
    return -1;
}

static int fail_at(decoder *d, const char *what, const unsigned char *at) {
    snprintf(d->err->message, sizeof d->err->message, "%s at byte %lu", what,
             (unsigned long)position(d, at));
    return -1;
}

static int fail_char(decoder *d, const unsigned char *at) {
    if (at >= d->end) return fail_eoi(d);
    if (*at >= 0x20 && *at < 0x7f)
        snprintf(d->err->message, sizeof d->err->message, "unexpected character '%c' at byte %lu",
                 *at, (unsigned long)position(d, at));
    else
        snprintf(d->err->message, sizeof d->err->message,
                 "unexpected character '\\x%02x' at byte %lu", *at,
                 (unsigned long)position(d, at));
    return -1;
}

/* -------------------------------------------------------- UTF-8 DFA table */

/* The states of cbf_json_utf8_dfa (json.h), as bit offsets. */
#define U_OK 0   /* between sequences */
#define U_C1 6   /* one continuation byte (80-BF) left */
#define U_C2 12  /* two left */
#define U_C3 18  /* three left */
#define U_E0 24  /* after E0: A0-BF, then one more */
#define U_ED 30  /* after ED: 80-9F (no surrogates), then one more */
#define U_F0 36  /* after F0: 90-BF, then two more */
#define U_F4 42  /* after F4: 80-8F (nothing past U+10FFFF), then two more */
#define U_ER 48  /* invalid; stays so */

/* A byte class's row: the next state from each state, each at its offset. */
#define U_ROW(ok, c1, c2, c3, e0, ed, f0, f4)                                               \
    (((uint64_t)(ok) << U_OK) | ((uint64_t)(c1) << U_C1) | ((uint64_t)(c2) << U_C2) |       \
     ((uint64_t)(c3) << U_C3) | ((uint64_t)(e0) << U_E0) | ((uint64_t)(ed) << U_ED) |       \
     ((uint64_t)(f0) << U_F0) | ((uint64_t)(f4) << U_F4) | ((uint64_t)U_ER << U_ER))
#define U_LEAD(next) U_ROW(next, U_ER, U_ER, U_ER, U_ER, U_ER, U_ER, U_ER)

#define U_ASCII U_LEAD(U_OK)                                      /* 00-7F */
#define U_80 U_ROW(U_ER, U_OK, U_C1, U_C2, U_ER, U_C1, U_ER, U_C2) /* 80-8F */
#define U_90 U_ROW(U_ER, U_OK, U_C1, U_C2, U_ER, U_C1, U_C2, U_ER) /* 90-9F */
#define U_A0 U_ROW(U_ER, U_OK, U_C1, U_C2, U_C1, U_ER, U_C2, U_ER) /* A0-BF */
#define U_BAD U_LEAD(U_ER)                                        /* C0 C1 F5-FF */

#define U_X4(r) r, r, r, r
#define U_X16(r) U_X4(r), U_X4(r), U_X4(r), U_X4(r)

const uint64_t cbf_json_utf8_dfa[256] = {
    U_X16(U_ASCII), U_X16(U_ASCII), U_X16(U_ASCII), U_X16(U_ASCII), /* 00-3F */
    U_X16(U_ASCII), U_X16(U_ASCII), U_X16(U_ASCII), U_X16(U_ASCII), /* 40-7F */
    U_X16(U_80), U_X16(U_90), U_X16(U_A0), U_X16(U_A0),             /* 80-BF */
    U_BAD, U_BAD, U_LEAD(U_C1), U_LEAD(U_C1),                       /* C0-C3 */
    U_X4(U_LEAD(U_C1)), U_X4(U_LEAD(U_C1)), U_X4(U_LEAD(U_C1)),    /* C4-CF */
    U_X16(U_LEAD(U_C1)),                                            /* D0-DF */
    U_LEAD(U_E0), U_LEAD(U_C2), U_LEAD(U_C2), U_LEAD(U_C2),         /* E0-E3 */
    U_X4(U_LEAD(U_C2)), U_X4(U_LEAD(U_C2)),                         /* E4-EB */
    U_LEAD(U_C2), U_LEAD(U_ED), U_LEAD(U_C2), U_LEAD(U_C2),         /* EC-EF */
    U_LEAD(U_F0), U_LEAD(U_C3), U_LEAD(U_C3), U_LEAD(U_C3),         /* F0-F3 */
    U_LEAD(U_F4), U_BAD, U_BAD, U_BAD,                              /* F4-F7 */
    U_X4(U_BAD), U_X4(U_BAD),                                       /* F8-FF */
};

/* ----------------------------------------------------------------- helpers */

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* Scratch memory of at least n bytes, owned by a userdata on the stack so
 * that nothing leaks if Lua raises (out of memory) while it is in use. */
static unsigned char *scratch(decoder *d, size_t n) {
    if (n > d->scratch_cap) {
        if (n < 256) n = 256;
        d->scratch = (unsigned char *)lua_newuserdata(d->L, n);
        lua_replace(d->L, d->scratch_slot);
        d->scratch_cap = n;
    }
    return d->scratch;
}

/* ----------------------------------------------------------------- strings */

static int hex_digit(unsigned c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    return -1;
}

/* The 4 hex digits at p: their value, -1 when one is not a hex digit, -2
 * when the input ends first. */
static long read_hex4(const unsigned char *p, const unsigned char *end) {
    long v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        int h;
        if (p + i >= end) return -2;
        h = hex_digit(p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* A hex digit's value plus one; 0 for anything else. */
static const unsigned char hex_plus1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7,
    ['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14,
    ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
    ['F'] = 16,
};

/* The 4 hex digits at p, all readable: their value, or -1. */
static long hex4(const unsigned char *p) {
    unsigned a = hex_plus1[p[0]], b = hex_plus1[p[1]], c = hex_plus1[p[2]], e = hex_plus1[p[3]];
    if (!a || !b || !c || !e) return -1;
    return (long)(((a - 1) << 12) | ((b - 1) << 8) | ((c - 1) << 4) | (e - 1));
}

/* Writes the UTF-8 form of cp (< 0x110000, not a surrogate) at w and returns
 * its end. Always stores 4 bytes (the caller has room) and picks the length
 * and lead byte arithmetically: no branch on which plane cp is in. */
static unsigned char *put_utf8(unsigned char *w, uint32_t cp) {
    static const uint32_t lead_xor[5] = {0, 0, 0x40, 0x60, 0x70};
    unsigned n = 1u + (cp >= 0x80) + (cp >= 0x800) + (cp >= 0x10000);
    /* All four bytes as 10xxxxxx, highest bits first, then the top 4 - n
     * dropped and the lead's marker fixed up (0x80 ^ 0x40 = 0xC0, ...). */
    uint32_t x = 0x80808080u | (cp >> 18) | ((cp >> 12) & 0x3F) << 8 | ((cp >> 6) & 0x3F) << 16 |
                 (cp & 0x3F) << 24;
    x = (x >> (8 * (4 - n))) ^ lead_xor[n];
    x = n == 1 ? cp : x;
    w[0] = (unsigned char)x;
    w[1] = (unsigned char)(x >> 8);
    w[2] = (unsigned char)(x >> 16);
    w[3] = (unsigned char)(x >> 24);
    return w + n;
}

/* A \uXXXX escape (or a surrogate pair of two) at esc, the backslash. Writes
 * the UTF-8 bytes to *o (4 bytes stored, which the 6-byte escape leaves room
 * for) and returns the byte after the escape, or NULL. */
static const unsigned char *unescape_u(decoder *d, const unsigned char *esc, unsigned char **o) {
    const unsigned char *p = esc + 6, *end = d->end;
    long cp, lo;
    if (end - esc >= 12) { /* room for a pair: no end checks */
        cp = hex4(esc + 2);
        if (cp < 0) return fail_at(d, "invalid \\u escape", esc), NULL;
        if ((unsigned long)(cp - 0xD800) >= 0x800) {
            *o = put_utf8(*o, (uint32_t)cp);
            return p;
        }
        if (cp >= 0xDC00) return fail_at(d, "lone surrogate", esc), NULL;
        if (p[0] != '\\' || p[1] != 'u') return fail_at(d, "lone surrogate", esc), NULL;
        lo = hex4(p + 2);
        if (lo < 0) return fail_at(d, "invalid \\u escape", p), NULL;
        if (lo < 0xDC00 || lo > 0xDFFF) return fail_at(d, "lone surrogate", esc), NULL;
        *o = put_utf8(*o, (uint32_t)(0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)));
        return p + 6;
    }
    cp = read_hex4(esc + 2, end);
    if (cp == -2) return fail_eoi(d), NULL;
    if (cp == -1) return fail_at(d, "invalid \\u escape", esc), NULL;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail_at(d, "lone surrogate", esc), NULL;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (p == end || (p + 1 == end && p[0] == '\\')) return fail_eoi(d), NULL;
        if (p[0] != '\\' || p[1] != 'u') return fail_at(d, "lone surrogate", esc), NULL;
        lo = read_hex4(p + 2, end);
        if (lo == -2) return fail_eoi(d), NULL;
        if (lo == -1) return fail_at(d, "invalid \\u escape", p), NULL;
        if (lo < 0xDC00 || lo > 0xDFFF) return fail_at(d, "lone surrogate", esc), NULL;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
    }
    *o = put_utf8(*o, (uint32_t)cp);
    return p;
}

/* What a one-letter escape stands for (0: not one; 'u' is handled apart). */
static const unsigned char unescape_letter[256] = {
    ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b',
    ['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t',
};

/* The rest of a string holding escapes: s0 is its first byte, p the first
 * backslash ([s0, p) is valid UTF-8). The unescaped text is never longer than
 * the escaped one, so end - s0 bytes of scratch are enough, whole-block
 * stores included: the output never runs ahead of the input. Blocks of 16
 * bytes are copied whole, checked for the next special byte and validated as
 * in cbf_json_scan (json.h). */
static int parse_escaped_string(decoder *d, const unsigned char *s0, const unsigned char *p) {
    const unsigned char *end = d->end;
    unsigned char *o = scratch(d, (size_t)(end - s0)), *base = o;
    uint64_t st = 0; /* the DFA's state */
    memcpy(o, s0, (size_t)(p - s0));
    o += p - s0;
    for (;;) {
        unsigned c;
        if (p == end) return fail_eoi(d);
        c = *p; /* a special byte */
        if (c == '\\') {
            unsigned letter;
            if (p + 1 == end) return fail_eoi(d);
            letter = unescape_letter[p[1]];
            if (letter) {
                *o++ = (unsigned char)letter;
                p += 2;
            } else if (p[1] == 'u') {
                p = unescape_u(d, p, &o);
                if (!p) return -1;
            } else {
                return fail_at(d, "invalid escape", p);
            }
        } else if (c == '"') {
            lua_pushlstring(d->L, (const char *)base, (size_t)(o - base));
            d->p = p + 1;
            return 0;
        } else {
            return fail_char(d, p); /* a control character */
        }
        /* On to the next special byte, copying and validating. */
        for (;;) {
            unsigned high, special, k;
            if (end - p < 16) {
                while (p < end && !cbf_json_is_special(*p)) {
                    CBF_JSON_UTF8_STEP(st, *p);
                    *o++ = *p++;
                }
                break;
            }
            special = cbf_json_block_masks(p, &high);
            memcpy(o, p, 16);
            if (special) {
                k = cbf_json_ctz(special);
                if ((high & ((2u << k) - 1)) | (unsigned)(st & 63))
                    st = cbf_json_utf8_upto(st, p, k);
                p += k;
                o += k;
                break;
            }
            if (high | (unsigned)(st & 63)) st = cbf_json_utf8_16(st, p);
            p += 16;
            o += 16;
        }
        if (st & 63) return fail_at(d, "invalid UTF-8", cbf_json_first_invalid(s0, end));
    }
}

/* d->p is at the opening quote; pushes the string. */
static int parse_string(decoder *d) {
    const unsigned char *s0 = d->p + 1, *p;
    int bad = 0;
    p = cbf_json_scan(s0, d->end, &bad);
    if (bad) return fail_at(d, "invalid UTF-8", p);
    if (p == d->end) return fail_eoi(d);
    if (*p == '"') {
        lua_pushlstring(d->L, (const char *)s0, (size_t)(p - s0));
        d->p = p + 1;
        return 0;
    }
    if (*p == '\\') return parse_escaped_string(d, s0, p);
    return fail_char(d, p); /* a control character */
}

/* ----------------------------------------------------------------- numbers */

#define IS_DIGIT(c) ((unsigned)((c) - '0') < 10u)

/* Correctly rounded double of the number text [s, e) by strtod, which wants
 * the C locale's decimal point. */
static int parse_float_slow(decoder *d, const unsigned char *s, const unsigned char *e) {
    const unsigned char *start = s;
    double v;
    const char *dp = localeconv()->decimal_point;
    size_t dplen = dp && *dp ? strlen(dp) : 1, n = (size_t)(e - s);
    char *buf = (char *)scratch(d, n + dplen + 1), *o = buf;
    for (; s < e; s++) {
        if (*s == '.' && dp && *dp) {
            memcpy(o, dp, dplen);
            o += dplen;
        } else {
            *o++ = (char)*s;
        }
    }
    *o = '\0';
    v = strtod(buf, NULL);
    /* Beyond the double range strtod gives inf, which encode refuses: an error here,
     * so that decode then encode never fails on a value decode made. */
    if (v == HUGE_VAL || v == -HUGE_VAL) return fail_at(d, "number out of double range", start);
    lua_pushnumber(d->L, (lua_Number)v);
    return 0;
}

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#endif

/* The integer literal [s, e), of magnitude m (when `exact`: it fits a uint64_t), when
 * the Lua number type cannot hold it exactly: pushed as d->big says. Returns 1 when
 * pushed, 0 when it is not such an integer or is to be the nearest float, -1 on error. */
static int push_big_integer(decoder *d, const unsigned char *s, const unsigned char *e,
                            uint64_t m, int neg, int exact) {
#if LUA_VERSION_NUM >= 503
    if (exact && m <= (uint64_t)INT64_MAX + neg) return 0;
#else
    if (exact && m <= ((uint64_t)1 << 53)) return 0; /* doubles hold these exactly */
#endif
    if (d->big == CBF_JSON_BIG_STRING) {
        lua_pushlstring(d->L, (const char *)s, (size_t)(e - s));
        return 1;
    }
    if (!exact || (neg && m > (uint64_t)INT64_MAX + 1)) return 0; /* past 64 bits */
    if (cbf_json_push_cdata_integer(d->L, neg ? 0 - m : m, neg || m <= (uint64_t)INT64_MAX) != 0) {
        strcpy(d->err->message, "cannot make an int64_t cdata");
        return -1;
    }
    return 1;
}

static int parse_number(decoder *d) {
    const unsigned char *start = d->p, *p = d->p, *end = d->end;
    const uint64_t cutoff = UINT64_MAX / 10; /* m * 10 + 9 cannot wrap below it */
    uint64_t m = 0;
    int neg = 0, is_int = 1, exact = 1, scale = 0;
    long ev = 0;

    if (*p == '-') {
        neg = 1;
        if (++p == end) return fail_eoi(d);
    }
    if (*p == '0') {
        if (++p < end && IS_DIGIT(*p)) return fail_char(d, p);
    } else if (IS_DIGIT(*p)) {
        for (; p < end && IS_DIGIT(*p); p++) {
            unsigned dig = (unsigned)(*p - '0');
            if (m < cutoff || (m == cutoff && dig <= UINT64_MAX % 10)) {
                m = m * 10 + dig;
            } else {
                exact = 0; /* more digits than a uint64_t holds */
                scale++;
            }
        }
    } else {
        return fail_char(d, p);
    }
    if (p < end && *p == '.') {
        is_int = 0;
        if (++p == end) return fail_eoi(d);
        if (!IS_DIGIT(*p)) return fail_char(d, p);
        for (; p < end && IS_DIGIT(*p); p++) {
            if (m < cutoff) {
                m = m * 10 + (unsigned)(*p - '0');
                scale--;
            } else if (*p != '0') {
                exact = 0;
            }
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        is_int = 0;
        if (++p == end) return fail_eoi(d);
        if (*p == '+' || *p == '-') {
            eneg = *p == '-';
            if (++p == end) return fail_eoi(d);
        }
        if (!IS_DIGIT(*p)) return fail_char(d, p);
        for (; p < end && IS_DIGIT(*p); p++)
            if (ev < 100000) ev = ev * 10 + (*p - '0');
        if (eneg) ev = -ev;
    }
    d->p = p;

    if (is_int && d->big != CBF_JSON_BIG_FLOAT) {
        int rc = push_big_integer(d, start, p, m, neg, exact);
        if (rc != 0) return rc < 0 ? -1 : 0;
    }
    if (is_int && exact) {
#if LUA_VERSION_NUM >= 503
        if (!neg && m <= (uint64_t)LUA_MAXINTEGER) {
            lua_pushinteger(d->L, (lua_Integer)m);
        } else if (neg && m <= (uint64_t)LUA_MAXINTEGER + 1) {
            lua_pushinteger(d->L, m == (uint64_t)LUA_MAXINTEGER + 1 ? LUA_MININTEGER
                                                                     : -(lua_Integer)m);
        } else /* beyond int64: the nearest double */
#endif
        {
            lua_pushnumber(d->L, neg ? -(lua_Number)m : (lua_Number)m);
        }
        return 0;
    }
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    /* m and 10^|e| are exact doubles, so one IEEE operation rounds correctly. */
    if (exact && m <= ((uint64_t)1 << 53)) {
        long e10 = ev + scale;
        if (m == 0 || (e10 >= -22 && e10 <= 22)) {
            double v = (double)m;
            if (e10 < 0 && m) v /= exact_pow10[-e10];
            else if (m) v *= exact_pow10[e10];
            lua_pushnumber(d->L, (lua_Number)(neg ? -v : v));
            return 0;
        }
    }
#endif
    return parse_float_slow(d, start, p);
}

/* -------------------------------------------------------------- containers */

static int parse_value(decoder *d);

/* Containers gather their first BATCH items on the Lua stack and only then
 * create the table, at its exact size: one allocation for a small table,
 * which most are, and no size guess to get wrong. A bigger container is
 * created at BATCH items and filled directly from there on. */
#define BATCH 16

static int enter(decoder *d) {
    if (++d->depth > CBF_JSON_MAX_DEPTH) return fail_at(d, CBF_JSON_TOO_DEEP, d->p);
    if (!lua_checkstack(d->L, 2 * BATCH + 4)) return fail_at(d, "Lua stack exhausted", d->p);
    return 0;
}

/* Replaces the n values (or key/value pairs) at the top of the stack by a
 * table that holds them, in order, so that a repeated key keeps its last value. */
static void gather(lua_State *L, int n, int pairs) {
    int first = lua_gettop(L) - (pairs ? 2 * n : n) + 1, i;
    if (pairs) {
        lua_createtable(L, 0, n);
        for (i = 0; i < n; i++) {
            lua_pushvalue(L, first + 2 * i);
            lua_pushvalue(L, first + 2 * i + 1);
            lua_rawset(L, -3);
        }
    } else {
        lua_createtable(L, n, 0);
        for (i = 0; i < n; i++) {
            lua_pushvalue(L, first + i);
            lua_rawseti(L, -2, i + 1);
        }
    }
    lua_replace(L, first);
    lua_settop(L, first);
}

static int parse_array(decoder *d) {
    lua_State *L = d->L;
    lua_Integer n = 0;
    int pending = 0, created = 0;
    if (enter(d) != 0) return -1;
    d->p = skip_ws(d->p + 1, d->end);
    if (d->p < d->end && *d->p == ']') {
        d->p++;
        lua_createtable(L, 0, 0);
        cbf_json_push_array_mt(L);
        lua_setmetatable(L, -2);
        d->depth--;
        return 0;
    }
    for (;;) {
        if (parse_value(d) != 0) return -1;
        n++;
        if (created) {
            lua_rawseti(L, -2, n);
        } else if (++pending == BATCH) {
            gather(L, pending, 0);
            created = 1;
        }
        d->p = skip_ws(d->p, d->end);
        if (d->p == d->end) return fail_eoi(d);
        if (*d->p == ']') break;
        if (*d->p != ',') return fail_char(d, d->p);
        d->p++;
    }
    if (!created) gather(L, pending, 0);
    d->p++;
    d->depth--;
    return 0;
}

static int parse_object(decoder *d) {
    lua_State *L = d->L;
    int pending = 0, created = 0;
    if (enter(d) != 0) return -1;
    d->p = skip_ws(d->p + 1, d->end);
    if (d->p < d->end && *d->p == '}') {
        d->p++;
        lua_createtable(L, 0, 0);
        d->depth--;
        return 0;
    }
    for (;;) {
        if (d->p == d->end) return fail_eoi(d);
        if (*d->p != '"') return fail_char(d, d->p);
        if (parse_string(d) != 0) return -1;
        d->p = skip_ws(d->p, d->end);
        if (d->p == d->end) return fail_eoi(d);
        if (*d->p != ':') return fail_char(d, d->p);
        d->p++;
        if (parse_value(d) != 0) return -1;
        if (created) {
            lua_rawset(L, -3); /* a repeated key: the last value wins */
        } else if (++pending == BATCH) {
            gather(L, pending, 1);
            created = 1;
        }
        d->p = skip_ws(d->p, d->end);
        if (d->p == d->end) return fail_eoi(d);
        if (*d->p == '}') break;
        if (*d->p != ',') return fail_char(d, d->p);
        d->p = skip_ws(d->p + 1, d->end);
    }
    if (!created) gather(L, pending, 1);
    d->p++;
    d->depth--;
    return 0;
}

static int parse_literal(decoder *d, const char *word, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (d->p + i >= d->end) return fail_eoi(d);
        if (d->p[i] != (unsigned char)word[i]) return fail_char(d, d->p + i);
    }
    d->p += n;
    return 0;
}

static int parse_value(decoder *d) {
    lua_State *L = d->L;
    d->p = skip_ws(d->p, d->end);
    if (d->p == d->end) return fail_eoi(d);
    switch (*d->p) {
    case '{': return parse_object(d);
    case '[': return parse_array(d);
    case '"': return parse_string(d);
    case 't':
        if (parse_literal(d, "true", 4) != 0) return -1;
        lua_pushboolean(L, 1);
        return 0;
    case 'f':
        if (parse_literal(d, "false", 5) != 0) return -1;
        lua_pushboolean(L, 0);
        return 0;
    case 'n':
        if (parse_literal(d, "null", 4) != 0) return -1;
        lua_pushlightuserdata(L, NULL);
        return 0;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(d);
    default:
        return fail_char(d, d->p);
    }
}

int cbf_json_decode(lua_State *L, const char *s, size_t len, cbf_json_big big,
                    cbf_json_error *err) {
    decoder d;
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 4)) {
        strcpy(err->message, "Lua stack exhausted");
        return -1;
    }
    lua_pushnil(L); /* the scratch slot; the value ends up there */
    d.L = L;
    d.start = d.p = (const unsigned char *)(s ? s : "");
    d.end = d.start + (s ? len : 0);
    d.err = err;
    d.depth = 0;
    d.big = big;
    d.scratch_slot = top + 1;
    d.scratch = NULL;
    d.scratch_cap = 0;
    err->message[0] = '\0';
    if (parse_value(&d) == 0) {
        d.p = skip_ws(d.p, d.end);
        if (d.p == d.end) {
            lua_replace(L, top + 1);
            return 0;
        }
        fail_char(&d, d.p);
    }
    lua_settop(L, top);
    return -1;
}
