/* The one check for every byte the module puts on a request line or in a header:
 * method, header names and values, qualifier, token, base URL and path. Lua strings
 * carry their length and may hold NUL, so every check takes (pointer, length). */
#ifndef CBF_WIRE_H
#define CBF_WIRE_H

#include <stddef.h>

typedef enum {
    CBF_WIRE_TOKEN, /* RFC 9110 token, non-empty: a method or a header name */
    CBF_WIRE_VALUE, /* a header value: no control byte (below 0x20 but HTAB, and 0x7F) */
    CBF_WIRE_URL    /* visible ASCII only (0x21-0x7E): a base URL or a path */
} cbf_wire_kind;

/* 1 when s[0..len) may go on the wire as `kind`, 0 otherwise. */
int cbf_wire_ok(const char *s, size_t len, cbf_wire_kind kind);
/* 1 when a path holds a "." or ".." segment, written plainly or percent-encoded
 * (%2e), with '/', '\' or their encodings (%2f, %5c) as separators: a server that
 * normalises the path would move the request out of /v1/functions/{name}. */
int cbf_wire_has_dot_segment(const char *path, size_t len);
/* 1 for a header name the client owns (case-insensitive; name must be a token). */
int cbf_wire_reserved_header(const char *name, size_t len);

#endif
