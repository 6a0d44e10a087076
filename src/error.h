/* Structured errors: tables with the functions.Error metatable. */
#ifndef CBF_ERROR_H
#define CBF_ERROR_H

#include <stddef.h>
#include "compat.h"
#include "error_codes.h"

#define CBF_ERROR_MT "cloudbase.functions.Error"

/* Push a new error object. status 0 means "no HTTP response"; request_id and body
 * may be NULL. Never includes credentials: callers pass only what is safe to show. */
void cbf_error_push(lua_State *L, const char *code, const char *message, long status,
                    const char *request_id, const char *body, size_t body_len);
/* Give the error table at idx this request id unless it has one (the id sent, for
 * errors without a response). A NULL or empty id changes nothing. */
void cbf_error_default_request_id(lua_State *L, int idx, const char *request_id);
/* The error on top of the stack, for a method with a raising and a `nil, err` form:
 * raise it, or return `nil, err` (use as `return cbf_error_fail(L, raise)`). */
int cbf_error_fail(lua_State *L, int raise);
/* 1 when the value at idx is one of the module's error objects. */
int cbf_error_is(lua_State *L, int idx);
/* Push an error with no response attached whose message is lua_pushfstring(fmt, ...)
 * (no fixed buffer, nothing cut short); returns -1. */
int cbf_error_pushf(lua_State *L, const char *code, const char *fmt, ...);
/* Push an error with no response attached and raise it. */
int cbf_error_raise(lua_State *L, const char *code, const char *message);
/* Push a printable description of the error value at idx (a string as is, an object
 * through its __tostring, such as an Error raised by a nested call) and return it. */
const char *cbf_error_describe(lua_State *L, int idx);
/* Create the metatable (once per state) and leave it on the stack. */
void cbf_error_push_metatable(lua_State *L);

#endif
