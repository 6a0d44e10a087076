/* A growable byte buffer, and the allocator the module's own memory comes from: the
 * Lua state's (lua_getallocf), so a host that caps or counts Lua's memory covers it.
 * The allocator is a plain function pointer, called directly (never through the Lua
 * API), so libcurl callbacks may grow a buffer without anything raising. Whoever
 * embeds a buffer (a client or a boxed userdata) frees it, so a Lua error raised while
 * it is in use leaks nothing. */
#ifndef CBF_BUFFER_H
#define CBF_BUFFER_H

#include <stddef.h>

#include <lua.h>

/* Capacity a reused buffer keeps between calls; above it the memory is given back, so
 * one huge body does not stay pinned in every pooled transfer. */
#define CBF_BUFFER_KEEP (64 * 1024)

typedef struct {
    lua_Alloc f;
    void *ud;
} cbf_alloc;

/* The allocator of L's state. */
cbf_alloc cbf_alloc_of(lua_State *L);
/* Lua's allocator protocol: `old` is p's size (0 for NULL); size 0 frees and gives
 * NULL. NULL also when out of memory (p is then untouched). */
void *cbf_realloc(const cbf_alloc *a, void *p, size_t old, size_t size);

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    cbf_alloc alloc;
} cbf_buffer;

void cbf_buffer_init(cbf_buffer *b, cbf_alloc alloc);
/* Make room for `extra` more bytes. 0 on success, -1 when out of memory. */
int cbf_buffer_reserve(cbf_buffer *b, size_t extra);
int cbf_buffer_append(cbf_buffer *b, const void *p, size_t n);
int cbf_buffer_append_str(cbf_buffer *b, const char *s);
/* Forget the contents; keep at most `keep_cap` bytes of capacity so one huge
 * body does not pin its memory for the life of the owner. */
void cbf_buffer_reset(cbf_buffer *b, size_t keep_cap);
void cbf_buffer_free(cbf_buffer *b);

#endif
