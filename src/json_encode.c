/* JSON encoder: Lua value -> JSON text, exact for Lua 5.4 numbers.
 *
 * - Integers are written exactly (full int64) by a hand-rolled formatter.
 * - Floats get the shortest digit string that reads back to the same double
 *   (json_number.c), and ".0" when the text would otherwise look like an
 *   integer, so a Lua float stays a float across a round trip.
 * - Strings are validated as UTF-8 and copied in runs; only '"', '\\' and
 *   control characters are escaped.
 *
 * - On LuaJIT, int64_t and uint64_t cdata are written exactly (json_int64.c).
 *
 * The encoder calls no user code and never raises: it reads tables with raw
 * accesses (the one Lua call, LuaJIT's cdata check, is protected), and a value
 * it cannot encode fills `err` with a message that names the value's path
 * ("cannot encode a function at payload.items[3]"). */
#include "json.h"
#include "json_int64.h"
#include "json_internal.h"
#include "json_number.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- tables */


/* ------------------------------------------------------- output helpers */

/* One table being encoded, with the child it is at. The frames from the root
 * down are the current path: for cycle detection and for error messages. */
typedef struct {
    const void *table;
    int idx;         /* its stack slot */
    int is_object;
    int pending;     /* object: the first key/value pair is already pushed */
    lua_Integer i;   /* array: the current element */
    lua_Integer n;   /* array: the length */
    int key_kind;    /* KEY_NONE, KEY_INDEX (i) or KEY_NAME: the current child */
    const char *name;
    size_t name_len;
} enc_frame;

enum { KEY_NONE, KEY_INDEX, KEY_NAME };

#define INLINE_FRAMES 32

typedef struct {
    lua_State *L;
    cbf_buffer *out;
    cbf_json_error *err;
    const char *root;
    enc_frame *frames; /* `inline_frames`, or a userdata in slot `anchor` past them */
    int anchor;        /* stack slot below the value: owns the frames if they grow */
    int depth;         /* frames in use */
    int cap;
    int array_mt_known;
    const void *array_mt;
    enc_frame inline_frames[INLINE_FRAMES];
} encoder;

/* Room for n more bytes (plus the NUL cbf_buffer keeps room for). */
static int room(cbf_buffer *b, size_t n) {
    if (b->cap - b->len > n) return 0;
    return cbf_buffer_reserve(b, n);
}

static int put(encoder *e, const char *s, size_t n) {
    cbf_buffer *b = e->out;
    if (room(b, n) != 0) return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

static int put_char(encoder *e, char c) {
    cbf_buffer *b = e->out;
    if (room(b, 1) != 0) return -1;
    b->data[b->len++] = c;
    return 0;
}

/* ------------------------------------------------------- error messages */

typedef struct {
    char *s;
    size_t len, cap;
    int truncated;
} msg_writer;

static void mw_put(msg_writer *w, const char *s, size_t n) {
    size_t left = w->cap - 1 - w->len;
    if (n > left) {
        n = left;
        w->truncated = 1;
    }
    memcpy(w->s + w->len, s, n);
    w->len += n;
    w->s[w->len] = '\0';
}

static void mw_str(msg_writer *w, const char *s) { mw_put(w, s, strlen(s)); }

static void mw_int(msg_writer *w, lua_Integer i) {
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0) *--p = '-';
    mw_put(w, p, (size_t)(tmp + sizeof tmp - p));
}

static int is_identifier(const char *s, size_t n) {
    size_t i;
    if (n == 0) return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return 0;
    }
    return 1;
}

/* A key as a quoted Lua string literal, bytes outside printable ASCII as \xNN. */
static void mw_quoted(msg_writer *w, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t i;
    mw_put(w, "\"", 1);
    for (i = 0; i < n && !w->truncated; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2];
            esc[0] = '\\';
            esc[1] = (char)c;
            mw_put(w, esc, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            char esc[4];
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            mw_put(w, esc, 4);
        } else {
            mw_put(w, (const char *)&c, 1);
        }
    }
    mw_put(w, "\"", 1);
}

/* The path through the first n frames. */
static void mw_path(msg_writer *w, const encoder *e, int n) {
    int k;
    mw_str(w, e->root ? e->root : "value");
    for (k = 0; k < n && !w->truncated; k++) {
        const enc_frame *f = &e->frames[k];
        if (f->key_kind == KEY_INDEX) {
            mw_put(w, "[", 1);
            mw_int(w, f->i);
            mw_put(w, "]", 1);
        } else if (f->key_kind == KEY_NAME) {
            if (is_identifier(f->name, f->name_len)) {
                mw_put(w, ".", 1);
                mw_put(w, f->name, f->name_len);
            } else {
                mw_put(w, "[", 1);
                mw_quoted(w, f->name, f->name_len);
                mw_put(w, "]", 1);
            }
        }
    }
}

/* "<what><detail> at <path through n frames>"; always returns -1. */
static int fail_path(encoder *e, const char *what, const char *detail, int n) {
    msg_writer w;
    w.s = e->err->message;
    w.cap = sizeof e->err->message;
    w.len = 0;
    w.truncated = 0;
    w.s[0] = '\0';
    mw_str(&w, what);
    if (detail) mw_str(&w, detail);
    mw_str(&w, " at ");
    mw_path(&w, e, n);
    if (w.truncated) memcpy(w.s + w.len - 3, "...", 3);
    return -1;
}

/* The same at the current path. */
static int fail(encoder *e, const char *what, const char *detail) {
    return fail_path(e, what, detail, e->depth);
}

static int fail_oom(encoder *e) {
    strcpy(e->err->message, "out of memory");
    return -1;
}

/* -------------------------------------------------------------- numbers */

static int put_integer(encoder *e, lua_Integer i) {
    char tmp[24];
    char *end = tmp + sizeof tmp;
    char *p = cbf_json_format_u64(end, i < 0 ? 0 - (uint64_t)i : (uint64_t)i);
    if (i < 0) *--p = '-';
    return put(e, p, (size_t)(end - p));
}

static int put_float(encoder *e, double v) { /* v is finite */
    char tmp[CBF_JSON_NUMBER_MAX];
    return put(e, tmp, (size_t)cbf_json_format_double(v, tmp));
}

/* -------------------------------------------------------------- strings */

/* What follows the backslash when c is escaped: the short form's letter, or
 * 0 for \u00XX. Indexed by c for c <= '\\'; only special bytes are looked up. */
static const unsigned char short_escape['\\' + 1] = {
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
    ['"'] = '"', ['\\'] = '\\',
};

/* Writes the escape of the special byte c at o (always 6 bytes written, 2 or
 * 6 of them kept, chosen without a branch); returns the end of the escape. */
static char *write_escape(char *o, unsigned c) {
    static const char hex[] = "0123456789abcdef";
    unsigned s = short_escape[c];
    o[0] = '\\';
    o[1] = (char)(s ? s : 'u');
    o[2] = '0';
    o[3] = '0';
    o[4] = hex[c >> 4];
    o[5] = hex[c & 15];
    return o + (s ? 2 : 6);
}

/* Slack past the end of the output for whole-block stores. */
#define BLOCK_SLACK 16

/* Appends the quoted string; -1 out of memory, -2 invalid UTF-8.
 * One pass, 16 bytes a block: each block is stored whole to the output (the
 * buffer keeps BLOCK_SLACK bytes to spare), checked for bytes to escape, and
 * validated by the UTF-8 DFA (json.h) when it holds non-ASCII bytes. A byte
 * to escape ends the block there, and the next block starts after it. */
static int put_string(encoder *e, const char *s, size_t len) {
    cbf_buffer *b = e->out;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    uint64_t st = 0; /* the DFA's state */
    char *o;
    if (room(b, len + 2 + BLOCK_SLACK) != 0) return -1;
    /* Invariant: room for the rest of the input as is, the closing '"' and
     * the slack: cap > used + (end - p) + 1 + BLOCK_SLACK. */
    o = b->data + b->len;
    *o++ = '"';
    for (;;) {
        unsigned high, special, k;
        while (end - p >= 16) {
            special = cbf_json_block_masks(p, &high);
            memcpy(o, p, 16);
            if (special) break;
            if (high | (unsigned)(st & 63)) st = cbf_json_utf8_16(st, p);
            p += 16;
            o += 16;
        }
        if (end - p < 16) break;
        k = cbf_json_ctz(special);
        if ((high & ((2u << k) - 1)) | (unsigned)(st & 63)) st = cbf_json_utf8_upto(st, p, k);
        p += k;
        o += k;
        /* *p needs an escape of up to 6 bytes. */
        b->len = (size_t)(o - b->data);
        if (room(b, (size_t)(end - p) + 7 + BLOCK_SLACK) != 0) return -1;
        o = write_escape(b->data + b->len, *p++);
    }
    /* The last bytes, fewer than 16. */
    while (p < end) {
        unsigned c = *p++;
        CBF_JSON_UTF8_STEP(st, c); /* an escaped byte too: it ends any open sequence */
        if (cbf_json_is_special(c)) {
            b->len = (size_t)(o - b->data);
            if (room(b, (size_t)(end - p) + 7 + BLOCK_SLACK) != 0) return -1;
            o = write_escape(b->data + b->len, c);
        } else {
            *o++ = (char)c;
        }
    }
    if (st & 63) return -2;
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

/* --------------------------------------------------------------- values */

/* Integer value of a number key, 0 if it has none. */
static int integer_key(lua_State *L, int idx, lua_Integer *out) {
#if LUA_VERSION_NUM >= 503
    int isint = 0;
    if (lua_type(L, idx) != LUA_TNUMBER) return 0;
    *out = lua_tointegerx(L, idx, &isint); /* number keys are never integral floats */
    return isint;
#else
    lua_Number n;
    if (lua_type(L, idx) != LUA_TNUMBER) return 0;
    n = lua_tonumber(L, idx);
    if (n != floor(n) || n < -9007199254740992.0 || n > 9007199254740992.0) return 0;
    *out = (lua_Integer)n;
    return 1;
#endif
}

static const char *key_type_name(lua_State *L, int idx) {
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER: return "(float)";
    case LUA_TBOOLEAN: return "(boolean)";
    case LUA_TTABLE: return "(table)";
    case LUA_TFUNCTION: return "(function)";
    case LUA_TTHREAD: return "(thread)";
    default: return "(userdata)";
    }
}

static const void *array_mt(encoder *e) {
    if (!e->array_mt_known) {
        lua_getfield(e->L, LUA_REGISTRYINDEX, CBF_JSON_ARRAY_MT);
        e->array_mt = lua_topointer(e->L, -1); /* NULL while it does not exist */
        lua_pop(e->L, 1);
        e->array_mt_known = 1;
    }
    return e->array_mt;
}

/* Nil, booleans, numbers, strings, null; an error for the rest. */
static int encode_scalar(encoder *e, int idx) {
    lua_State *L = e->L;
    int rc;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        rc = put(e, "null", 4);
        break;
    case LUA_TBOOLEAN:
        rc = lua_toboolean(L, idx) ? put(e, "true", 4) : put(e, "false", 5);
        break;
    case LUA_TNUMBER: {
        lua_Number n;
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(L, idx)) {
            rc = put_integer(e, lua_tointeger(L, idx));
            break;
        }
#endif
        n = lua_tonumber(L, idx);
        if (n != n) return fail(e, "cannot encode NaN", NULL);
        if (n == (lua_Number)HUGE_VAL) return fail(e, "cannot encode inf", NULL);
        if (n == -(lua_Number)HUGE_VAL) return fail(e, "cannot encode -inf", NULL);
#if LUA_VERSION_NUM < 503
        /* Doubles only: integral values are integers, but -0.0 keeps its sign as a float. */
        if (n == floor(n) && fabs(n) <= 9007199254740992.0 && !(n == 0 && signbit(n))) {
            rc = put_integer(e, (lua_Integer)n);
            break;
        }
#endif
        rc = put_float(e, (double)n);
        break;
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        rc = put_string(e, s, len);
        if (rc == -2) return fail(e, "invalid UTF-8 in string", NULL);
        break;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) != NULL) return fail(e, "cannot encode a light userdata", NULL);
        rc = put(e, "null", 4);
        break;
    default: {
        char digits[24];
        size_t n = cbf_json_cdata_integer(L, idx, digits, sizeof digits);
        if (n == 0) return fail(e, "cannot encode a ", lua_typename(L, lua_type(L, idx)));
        rc = put(e, digits, n);
        break;
    }
    }
    return rc != 0 ? fail_oom(e) : 0;
}

#define NEAR_ANCESTORS 4

/* At the depth limit: report the first table on the path (from the root)
 * that repeats an ancestor as a cycle, else the depth. Quadratic, but only
 * on this error path. */
static int fail_deep(encoder *e, const void *self) {
    int k, m;
    for (k = 1; k < e->depth; k++)
        for (m = 0; m < k; m++)
            if (e->frames[m].table == e->frames[k].table) return fail_path(e, "cycle", NULL, k);
    for (m = 0; m < e->depth; m++)
        if (e->frames[m].table == self) return fail(e, "cycle", NULL);
    return fail(e, CBF_JSON_TOO_DEEP, NULL);
}

static enc_frame *push_frame(encoder *e, int idx, const void *table) {
    enc_frame *f;
    if (e->depth == e->cap) { /* only once: then room for the whole limit */
        /* A userdata: Lua's allocator counts it, and a raise cannot leak it. Made at
         * the top and moved down into the reserved slot, so no index above changes. */
        enc_frame *all = (enc_frame *)lua_newuserdata(e->L, sizeof *all * CBF_JSON_MAX_DEPTH);
        lua_replace(e->L, e->anchor);
        memcpy(all, e->frames, sizeof *all * (size_t)e->depth);
        e->frames = all;
        e->cap = CBF_JSON_MAX_DEPTH;
    }
    f = &e->frames[e->depth++];
    f->table = table;
    f->idx = idx;
    f->is_object = 0;
    f->pending = 0;
    f->i = 0;
    f->n = 0;
    f->key_kind = KEY_NONE;
    return f;
}

/* An array frame of n elements; an empty one is written at once. */
static int open_array(encoder *e, enc_frame *f, lua_Integer n) {
    if (n == 0) {
        e->depth--;
        return put(e, "[]", 2) != 0 ? fail_oom(e) : 1;
    }
    f->n = n;
    return put_char(e, '[') != 0 ? fail_oom(e) : 0;
}

/* Classifies the table at idx (the top of the stack) and opens a frame for
 * it: 0 with a frame pushed, 1 when it was written whole ({} or []), -1 on
 * error. array_mt: t[1..rawlen] and no other key. Otherwise keys exactly
 * 1..n make an array, string keys an object. Classifying takes a pass of
 * lua_next over the table, as there is no other way to see every key. */
static int open_table(encoder *e, int idx) {
    lua_State *L = e->L;
    const void *self = lua_topointer(L, idx);
    enc_frame *f;
    lua_Integer k, n, count;
    int i, marked = 0;
    /* Cycles: a table that repeats one of its nearest ancestors is caught at
     * once; a longer cycle runs into the depth limit and is told apart from
     * plain deep nesting there, which keeps deep documents linear. */
    for (i = e->depth - 1; i >= 0 && i >= e->depth - NEAR_ANCESTORS; i--)
        if (e->frames[i].table == self) return fail(e, "cycle", NULL);
    if (e->depth >= CBF_JSON_MAX_DEPTH) return fail_deep(e, self);
    /* A level takes at most 2 slots (+2 while classifying): grow the stack
     * for 16 levels at a time. */
    if (e->depth % 16 == 0 && !lua_checkstack(L, 16 * 2 + 8))
        return fail(e, "Lua stack exhausted", NULL);
    if (lua_getmetatable(L, idx)) {
        marked = lua_topointer(L, -1) == array_mt(e);
        lua_pop(L, 1);
    }
    f = push_frame(e, idx, self);

    if (marked) {
        n = (lua_Integer)lua_rawlen(L, idx);
        count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (!integer_key(L, -2, &k)) {
                if (lua_type(L, -2) == LUA_TSTRING)
                    return fail(e, "mixed keys (array and string)", NULL);
                return fail(e, "unsupported key type ", key_type_name(L, -2));
            }
            if (k < 1 || k > n) return fail(e, "sparse array", NULL);
            count++;
            lua_pop(L, 1);
        }
        if (count != n) return fail(e, "sparse array", NULL);
        return open_array(e, f, n);
    }

    lua_pushnil(L);
    if (!lua_next(L, idx)) {
        e->depth--;
        return put(e, "{}", 2) != 0 ? fail_oom(e) : 1;
    }
    if (integer_key(L, -2, &k)) {
        n = (lua_Integer)lua_rawlen(L, idx);
        count = 0;
        do {
            if (!integer_key(L, -2, &k)) {
                if (lua_type(L, -2) == LUA_TSTRING)
                    return fail(e, "mixed keys (integer and string)", NULL);
                return fail(e, "unsupported key type ", key_type_name(L, -2));
            }
            if (k < 1 || k > n) return fail(e, "sparse array", NULL);
            count++;
            lua_pop(L, 1);
        } while (lua_next(L, idx));
        if (count != n) return fail(e, "sparse array", NULL);
        return open_array(e, f, n);
    }
    if (lua_type(L, -2) != LUA_TSTRING) return fail(e, "unsupported key type ", key_type_name(L, -2));
    f->is_object = 1;
    f->pending = 1; /* its first key and value are on the stack */
    return put_char(e, '{') != 0 ? fail_oom(e) : 0;
}

/* Moves the innermost frame to its next child and returns the child's stack
 * slot; closes finished frames on the way. 0 when the whole value is done,
 * -1 on error. Children sit right above their table: arrays push the
 * element, objects the key and the value. */
static int next_child(encoder *e) {
    lua_State *L = e->L;
    while (e->depth > 0) {
        enc_frame *f = &e->frames[e->depth - 1];
        if (!f->is_object) {
            lua_settop(L, f->idx);
            if (f->i < f->n) {
                if (f->i > 0 && put_char(e, ',') != 0) return fail_oom(e);
                f->i++;
                f->key_kind = KEY_INDEX;
                lua_rawgeti(L, f->idx, f->i);
                return f->idx + 1;
            }
            f->key_kind = KEY_NONE;
            if (put_char(e, ']') != 0) return fail_oom(e);
        } else {
            int more = 1;
            if (f->pending) {
                f->pending = 0;
            } else {
                lua_settop(L, f->idx + 1);
                more = lua_next(L, f->idx);
                if (more && put_char(e, ',') != 0) return fail_oom(e);
            }
            if (more) {
                size_t klen;
                const char *key;
                lua_Integer k;
                int rc;
                f->key_kind = KEY_NONE;
                if (lua_type(L, -2) != LUA_TSTRING) {
                    if (integer_key(L, -2, &k)) return fail(e, "mixed keys (integer and string)", NULL);
                    return fail(e, "unsupported key type ", key_type_name(L, -2));
                }
                key = lua_tolstring(L, -2, &klen);
                rc = put_string(e, key, klen);
                if (rc == -2) return fail(e, "invalid UTF-8 in key", NULL);
                if (rc != 0 || put_char(e, ':') != 0) return fail_oom(e);
                f->key_kind = KEY_NAME;
                f->name = key;
                f->name_len = klen;
                return f->idx + 2;
            }
            f->key_kind = KEY_NONE;
            if (put_char(e, '}') != 0) return fail_oom(e);
        }
        e->depth--;
    }
    return 0;
}

/* Depth-first over the value at idx with an explicit stack of frames, not C
 * recursion: deep documents cost no more per level than shallow ones. */
static int encode_value(encoder *e, int idx) {
    lua_State *L = e->L;
    int slot = idx;
    for (;;) {
        if (lua_type(L, slot) == LUA_TTABLE) {
            if (open_table(e, slot) < 0) return -1;
        } else if (encode_scalar(e, slot) != 0) {
            return -1;
        }
        slot = next_child(e);
        if (slot <= 0) return slot;
    }
}

int cbf_json_encode(lua_State *L, int idx, const char *root, cbf_buffer *out,
                    cbf_json_error *err) {
    encoder e;
    int top = lua_gettop(L), rc;
    if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = top + idx + 1;
    e.L = L;
    e.out = out;
    e.err = err;
    e.root = root;
    e.frames = e.inline_frames;
    e.depth = 0;
    e.cap = INLINE_FRAMES;
    e.array_mt_known = 0;
    e.array_mt = NULL;
    err->message[0] = '\0';
    if (!lua_checkstack(L, 16 * 2 + 8)) {
        strcpy(err->message, "Lua stack exhausted");
        return -1;
    }
    lua_pushnil(L); /* the anchor slot */
    e.anchor = top + 1;
    lua_pushvalue(L, idx); /* at the top, so that children go right above it */
    rc = encode_value(&e, top + 2);
    lua_settop(L, top);
    if (rc != 0) return -1;
    if (out->data) out->data[out->len] = '\0';
    return 0;
}
