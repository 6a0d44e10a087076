/* A response's headers and timings, kept raw until someone reads them.
 * Most callers never look at info.headers; parsing every header into a Lua table on
 * every call was an eighth of a call's instructions. */
#ifndef CBF_INFO_H
#define CBF_INFO_H

#include <stddef.h>

#include "compat.h"

typedef struct {
    double dns, connect, tls, first_byte, total; /* seconds from the start of the call */
} cbf_timings;

/* Push a record holding the raw header lines (as received) and the timings. */
void cbf_info_push_record(lua_State *L, const char *headers, size_t len, const cbf_timings *tm);
/* Push the value of header `name` (lower-case) from a headers table or a record at
 * `idx`, or nil. Returns the string, which lives as long as the pushed value. */
const char *cbf_info_header(lua_State *L, int idx, const char *name);
/* The same for n names at once, in one pass over a record: pushes n values, in order. */
void cbf_info_headers(lua_State *L, int idx, const char *const *names, int n);
/* Give the info table on top of the stack its headers and timings: a table at `src`
 * is set as info.headers; a record makes both appear on first access. */
void cbf_info_attach(lua_State *L, int src);

#endif
