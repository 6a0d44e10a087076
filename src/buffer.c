#include "buffer.h"

#include <string.h>

cbf_alloc cbf_alloc_of(lua_State *L) {
    cbf_alloc a;
    a.f = lua_getallocf(L, &a.ud);
    return a;
}

void *cbf_realloc(const cbf_alloc *a, void *p, size_t old, size_t size) {
    return a->f(a->ud, p, p ? old : 0, size);
}

void cbf_buffer_init(cbf_buffer *b, cbf_alloc alloc) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->alloc = alloc;
}

int cbf_buffer_reserve(cbf_buffer *b, size_t extra) {
    size_t need, cap;
    char *p;
    if (extra > (size_t)-1 - b->len - 1) return -1;
    need = b->len + extra + 1; /* room for a terminating NUL */
    if (need <= b->cap) return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    p = cbf_realloc(&b->alloc, b->data, b->cap, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cbf_buffer_append(cbf_buffer *b, const void *p, size_t n) {
    if (cbf_buffer_reserve(b, n) != 0) return -1;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int cbf_buffer_append_str(cbf_buffer *b, const char *s) {
    return cbf_buffer_append(b, s, strlen(s));
}

void cbf_buffer_reset(cbf_buffer *b, size_t keep_cap) {
    b->len = 0;
    if (b->cap > keep_cap) {
        cbf_buffer_free(b);
    } else if (b->data) {
        b->data[0] = '\0';
    }
}

void cbf_buffer_free(cbf_buffer *b) {
    if (b->data) cbf_realloc(&b->alloc, b->data, b->cap, 0);
    cbf_buffer_init(b, b->alloc);
}
