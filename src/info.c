#include "info.h"

#include <ctype.h>
#include <string.h>

#define RECORD_MT "cloudbase.functions.info_record"
#define INFO_MT "cloudbase.functions.info"
#define RECORDS "cloudbase.functions.info_records" /* info table -> record, weak keys */

typedef struct {
    cbf_timings timings;
    size_t len;
    char headers[]; /* raw lines; names are lower-cased in place when parsed */
} record;

void cbf_info_push_record(lua_State *L, const char *headers, size_t len, const cbf_timings *tm) {
    record *r = (record *)cbf_newuserdata(L, sizeof(record) + len);
    r->timings = *tm;
    r->len = len;
    if (len) memcpy(r->headers, headers, len);
    luaL_newmetatable(L, RECORD_MT); /* no methods: the type tag is all it needs */
    lua_setmetatable(L, -2);
}

/* Walk the header lines of a record: for each "name: value" line (the status line
 * skipped) call back with the value trimmed. Stops when `fn` returns nonzero. */
typedef int (*line_fn)(char *name, size_t nlen, const char *v, size_t vlen, void *ud);

static int each_header(record *r, line_fn fn, void *ud) {
    char *p = r->headers, *end = p + r->len;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p)), *colon;
        const char *v, *vend;
        if (!eol) eol = end;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && colon > p && !(eol - p >= 5 && memcmp(p, "HTTP/", 5) == 0)) {
            v = colon + 1;
            vend = eol;
            while (v < vend && (*v == ' ' || *v == '\t')) v++;
            while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\r')) vend--;
            if (fn(p, (size_t)(colon - p), v, (size_t)(vend - v), ud)) return 1;
        }
        p = eol + 1;
    }
    return 0;
}

typedef struct {
    lua_State *L;
    const char *const *names; /* lower-case */
    int n;
    int base; /* values go to base + 1 .. base + n */
} lookup;

/* Repeated headers are joined with ", ", as in info.headers. */
static int match_header(char *name, size_t nlen, const char *v, size_t vlen, void *ud) {
    lookup *q = ud;
    int k;
    for (k = 0; k < q->n; k++) {
        const char *want = q->names[k];
        size_t i;
        for (i = 0; i < nlen && want[i] && tolower((unsigned char)name[i]) == want[i]; i++) continue;
        if (i < nlen || want[i]) continue;
        if (lua_isnil(q->L, q->base + k + 1)) {
            lua_pushlstring(q->L, v, vlen);
        } else {
            lua_pushvalue(q->L, q->base + k + 1);
            lua_pushliteral(q->L, ", ");
            lua_pushlstring(q->L, v, vlen);
            lua_concat(q->L, 3);
        }
        lua_replace(q->L, q->base + k + 1);
        return 0;
    }
    return 0;
}

void cbf_info_headers(lua_State *L, int idx, const char *const *names, int n) {
    record *r = (record *)luaL_testudata(L, idx, RECORD_MT);
    lookup q;
    int k;
    if (!r) {
        if (idx < 0) idx = lua_gettop(L) + idx + 1; /* the pushes below move the top */
        for (k = 0; k < n; k++) lua_getfield(L, idx, names[k]);
        return;
    }
    q.L = L;
    q.names = names;
    q.n = n;
    q.base = lua_gettop(L);
    for (k = 0; k < n; k++) lua_pushnil(L);
    each_header(r, match_header, &q);
}

const char *cbf_info_header(lua_State *L, int idx, const char *name) {
    cbf_info_headers(L, idx, &name, 1);
    return lua_tostring(L, -1);
}

static int count_line(char *name, size_t nlen, const char *v, size_t vlen, void *ud) {
    (void)name, (void)nlen, (void)v, (void)vlen;
    ++*(int *)ud;
    return 0;
}

static int add_header(char *name, size_t nlen, const char *v, size_t vlen, void *ud) {
    lua_State *L = ud;
    size_t i;
    for (i = 0; i < nlen; i++) name[i] = (char)tolower((unsigned char)name[i]);
    lua_pushlstring(L, name, nlen);
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (lua_isstring(L, -1)) { /* a repeated header: join, as HTTP allows */
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, vlen);
        lua_concat(L, 3);
    } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, vlen);
    }
    lua_rawset(L, -3);
    return 0;
}

static void push_headers(lua_State *L, record *r) {
    int lines = 0;
    each_header(r, count_line, &lines);
    lua_createtable(L, 0, lines);
    each_header(r, add_header, L);
}

static void set_number(lua_State *L, const char *key, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, key);
}

static void push_timings(lua_State *L, const cbf_timings *tm) {
    lua_createtable(L, 0, 5);
    set_number(L, "dns", tm->dns);
    set_number(L, "connect", tm->connect);
    set_number(L, "tls", tm->tls);
    set_number(L, "first_byte", tm->first_byte);
    set_number(L, "total", tm->total);
}

/* info.headers / info.timings on first access: build, store in the table, return. */
static int info_index(lua_State *L) {
    const char *key = lua_tostring(L, 2);
    record *r;
    int headers;
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    headers = strcmp(key, "headers") == 0;
    if (!headers && strcmp(key, "timings") != 0) return 0;
    lua_getfield(L, LUA_REGISTRYINDEX, RECORDS);
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    r = (record *)luaL_testudata(L, -1, RECORD_MT);
    if (!r) return 0;
    if (headers)
        push_headers(L, r);
    else
        push_timings(L, &r->timings);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

void cbf_info_attach(lua_State *L, int src) {
    if (!luaL_testudata(L, src, RECORD_MT)) {
        lua_pushvalue(L, src);
        lua_setfield(L, -2, "headers");
        return;
    }
    if (luaL_newmetatable(L, INFO_MT)) {
        lua_pushcfunction(L, info_index);
        lua_setfield(L, -2, "__index");
    }
    lua_setmetatable(L, -2);
    lua_getfield(L, LUA_REGISTRYINDEX, RECORDS);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, RECORDS);
    }
    lua_pushvalue(L, -2);
    lua_pushvalue(L, src);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}
