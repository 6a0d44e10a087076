/* The option registries: one line per option, so adding one is a line here, its parser
 * and a README row (spec/docs_spec.lua reads these tables and the README's, and fails
 * when they differ). One checker (cbf_options_check) gives every option the same
 * messages: "unknown option 'x' for a call", "option 'timeout' must be ..., got string". */
#ifndef CBF_OPTIONS_H
#define CBF_OPTIONS_H

#include "compat.h"

/* Limits the messages quote: stringified, so the text comes from the constant. */
#define CBF_MAX_SECONDS 1e9  /* a timeout at or past this is a mistake, not a wish */
#define CBF_MAX_CONCURRENCY 1024

/* Lua types an option accepts (bits); the value checks beyond the type are the parser's. */
#define CBF_T_BOOLEAN (1 << LUA_TBOOLEAN)
#define CBF_T_NUMBER (1 << LUA_TNUMBER)
#define CBF_T_STRING (1 << LUA_TSTRING)
#define CBF_T_TABLE (1 << LUA_TTABLE)
#define CBF_T_FUNCTION (1 << LUA_TFUNCTION)

#define CBF_SECONDS "a number of seconds above 0 and below " CBF_STRINGIFY(CBF_MAX_SECONDS)
#define CBF_BYTES "a positive integer (bytes)"
#define CBF_TEXT "a string without control bytes"

/* functions.new: X(name, Lua types, what a value must be, environment variable or NULL).
 * The environment variable stands in for an absent option. Parsers: client.c. */
#define CBF_CLIENT_OPTIONS(X)                                                                \
    X(env, CBF_T_STRING, "1 to 100 letters, digits or '-'", "CLOUDBASE_ENV_ID")              \
    X(intl, CBF_T_BOOLEAN, "a boolean", NULL)                                                \
    X(base_url, CBF_T_STRING, "an http:// or https:// URL", "CLOUDBASE_BASE_URL")            \
    X(token, CBF_T_STRING | CBF_T_FUNCTION, "a string or a function returning one",          \
      "CLOUDBASE_TOKEN")                                                                     \
    X(qualifier, CBF_T_STRING, CBF_TEXT, NULL)                                               \
    X(timeout, CBF_T_NUMBER, CBF_SECONDS, NULL)                                              \
    X(connect_timeout, CBF_T_NUMBER, CBF_SECONDS, NULL)                                      \
    X(headers, CBF_T_TABLE, "a table of name = value", NULL)                                 \
    X(max_response_size, CBF_T_NUMBER, CBF_BYTES, NULL)                                      \
    X(max_request_size, CBF_T_NUMBER, CBF_BYTES, NULL)                                       \
    X(ca_file, CBF_T_STRING, CBF_TEXT, NULL)                                                 \
    X(ca_path, CBF_T_STRING, CBF_TEXT, NULL)                                                 \
    X(proxy, CBF_T_STRING, CBF_TEXT, NULL)                                                   \
    X(resolve, CBF_T_TABLE, "a list of \"host:port:address\" strings", NULL)                 \
    X(http2, CBF_T_BOOLEAN | CBF_T_STRING, "true, false or \"prior-knowledge\"", NULL)       \
    X(transport, CBF_T_FUNCTION, "a function(request) returning a response", NULL)           \
    X(json, CBF_T_TABLE, "a codec table with encode and decode", NULL)

/* One call's options, the same for invoke, try_invoke, prepare and each call of
 * invoke_all: X(name, Lua types, what a value must be). Parsers: request.c. */
#define CBF_CALL_OPTIONS(X)                                                                  \
    X(qualifier, CBF_T_STRING, "a non-empty string without control bytes")                   \
    X(webfn, CBF_T_BOOLEAN, "a boolean")                                                     \
    X(timeout, CBF_T_NUMBER, CBF_SECONDS)                                                    \
    X(connect_timeout, CBF_T_NUMBER, CBF_SECONDS)                                            \
    X(headers, CBF_T_TABLE, "a table of name = value")                                       \
    X(method, CBF_T_STRING, "an HTTP method name such as \"GET\"")                           \
    X(path, CBF_T_STRING, "a string")                                                        \
    X(query, CBF_T_TABLE, "a table of key = value or { values }")

/* invoke_all's second argument (the batch, not its calls). Parser: invoke.c. */
#define CBF_BATCH_OPTIONS(X)                                                                 \
    X(concurrency, CBF_T_NUMBER,                                                             \
      "an integer from 1 to " CBF_STRINGIFY(CBF_MAX_CONCURRENCY))

typedef struct {
    const char *name;
    int types;          /* CBF_T_* bits */
    const char *expect; /* "a boolean": completes "option 'x' must be ..." */
    const char *env;    /* environment variable standing in for it, or NULL */
} cbf_option;

/* The tables, in the macros' order, each ended by a { NULL } row. */
extern const cbf_option cbf_client_options[];
extern const cbf_option cbf_call_options[];
extern const cbf_option cbf_batch_options[];

/* Check the keys and value types of the options table at `opts` (nil is fine) against
 * `table`; `owner` names them in messages ("functions.new", "a call"). With
 * `call_keys`, an invoke_all call's own keys (name, payload, [1], [2]) are allowed too.
 * Reads raw: an options table's metamethods never run. Returns 0, or -1 with an
 * INVALID_ARGUMENT error pushed. */
int cbf_options_check(lua_State *L, int opts, const cbf_option *table, const char *owner,
                      int call_keys);
/* The row of `table` called `name` (it must be there). */
const cbf_option *cbf_option_find(const cbf_option *table, const char *name);
/* Push the INVALID_ARGUMENT error "option 'name' must be <expect>, got <the value at
 * idx>" and return -1. */
int cbf_option_invalid(lua_State *L, const cbf_option *o, int idx);

#endif
