/* The options of functions.new, of one call and of invoke_all: one line each, one
 * checker (cbf_options_check) and one message style ("NAME must be WHAT").
 * The README has one row per line (spec/docs_spec.lua compares them). */
#ifndef CBF_OPTIONS_H
#define CBF_OPTIONS_H

#include "compat.h"

/* Seconds: every timeout option and poll's wait stay below this, so that their
 * milliseconds fit a long and a deadline computed from them cannot overflow. */
#define CBF_MAX_SECONDS 1e9
#define CBF_DEFAULT_TIMEOUT 60.0
#define CBF_DEFAULT_CONNECT_TIMEOUT 10.0
#define CBF_DEFAULT_MAX_RESPONSE (64.0 * 1024 * 1024)
#define CBF_DEFAULT_MAX_REQUEST (6.0 * 1024 * 1024)
/* Below the 60 s idle timeout common to load balancers and nginx's 75 s default
 * keepalive_timeout (the gateway emulator's too), so a call is never sent on a
 * connection the server is closing at that moment. */
#define CBF_DEFAULT_MAX_IDLE 50
#define CBF_MAX_IDLE 86400 /* a day: longer is a leak, not a keep-alive */
/* Connections connect(n) and preconnect open at once (connect.c keeps them on its stack). */
#define CBF_MAX_CONNECTIONS 1024
#define CBF_DEFAULT_CONCURRENCY 16
#define CBF_MAX_CONCURRENCY 1024

/* How the checker checks a value of each kind, and what its message says the value
 * must be: X(KIND, what). SECONDS prints the entry's max with %d; INTEGER its max with
 * %d and its detail (the unit); FUNCTION, TABLE and ANY print the detail. TABLE and ANY
 * values get their finer checks from the option's own parser, which reports through
 * cbf_option_fail (or a message of its own that starts with the option's name). */
#define CBF_OPTION_KINDS(X)                                                                              \
    X(STRING, "a string without control bytes")                                                          \
    X(BOOLEAN, "a boolean")                                                                              \
    X(SECONDS, "a positive number of seconds below %d")                                                  \
    X(BYTES, "a positive integer (bytes)")                                                               \
    X(INTEGER, "an integer from 1 to %d (%s)")                                                           \
    X(FUNCTION, "%s")                                                                                    \
    X(TABLE, "%s")                                                                                       \
    X(ANY, "%s")

/* functions.new: X(name, kind, default, max, detail, environment variable).
 * default: a number option's value when absent (0: none); max: SECONDS (exclusive) and
 * INTEGER (inclusive) bound; detail: INTEGER's unit, or what the value must be;
 * the environment variable read when the option is absent (NULL: none). */
#define CBF_CLIENT_OPTIONS(X)                                                                            \
    X(env, STRING, 0, 0, NULL, "CLOUDBASE_ENV_ID")                                                       \
    X(intl, BOOLEAN, 0, 0, NULL, NULL)                                                                   \
    X(base_url, STRING, 0, 0, NULL, "CLOUDBASE_BASE_URL")                                                \
    X(token, ANY, 0, 0, "a string or a function returning one", "CLOUDBASE_TOKEN")                       \
    X(qualifier, STRING, 0, 0, NULL, NULL)                                                               \
    X(timeout, SECONDS, CBF_DEFAULT_TIMEOUT, CBF_MAX_SECONDS, NULL, NULL)                                \
    X(connect_timeout, SECONDS, CBF_DEFAULT_CONNECT_TIMEOUT, CBF_MAX_SECONDS, NULL, NULL)                \
    X(headers, TABLE, 0, 0, "a table of name = value", NULL)                                             \
    X(max_response_size, BYTES, CBF_DEFAULT_MAX_RESPONSE, 0, NULL, NULL)                                 \
    X(max_request_size, BYTES, CBF_DEFAULT_MAX_REQUEST, 0, NULL, NULL)                                   \
    X(ca_file, STRING, 0, 0, NULL, NULL)                                                                 \
    X(ca_path, STRING, 0, 0, NULL, NULL)                                                                 \
    X(proxy, STRING, 0, 0, NULL, NULL)                                                                   \
    X(resolve, TABLE, 0, 0, "a list of \"host:port:address\" strings", NULL)                             \
    X(http2, ANY, 0, 0, "true, false or \"prior-knowledge\"", NULL)                                      \
    X(transport, FUNCTION, 0, 0, "a function(request) returning a response", NULL)                       \
    X(json, TABLE, 0, 0, "a codec table with encode and decode", NULL)                                   \
    X(auth, ANY, 0, 0, "a table { access_token =, refresh_token =, expires_in =, ... }", NULL)           \
    X(retry, ANY, 0, 0, "a table { attempts =, base_delay =, max_delay = }, true or false", NULL)        \
    X(on_request, FUNCTION, 0, 0, "a function(summary)", NULL)                                           \
    X(on_response, FUNCTION, 0, 0, "a function(summary)", NULL)                                          \
    X(pool, ANY, 0, 0, "a functions.pool()", NULL)                                                       \
    X(preconnect, INTEGER, 0, CBF_MAX_CONNECTIONS, "connections", NULL)                                  \
    X(max_idle, INTEGER, CBF_DEFAULT_MAX_IDLE, CBF_MAX_IDLE, "seconds", NULL)                            \
    X(big_integers, ANY, 0, 0, "\"float\", \"string\" or \"cdata\"", NULL)

/* Where a call option is taken (the scope column below). */
#define CBF_IN_CALL 1u       /* invoke, try_invoke, prepare, start, an invoke_all call */
#define CBF_IN_CALL_TABLE 2u /* an invoke_all call table only (also [1] and [2]) */
#define CBF_IN_START 4u      /* start and try_start only */
#define CBF_IN_BATCH 8u      /* invoke_all's own opts */

/* Calls: X(name, kind, default, max, detail, scope). A default of 0 with a SECONDS
 * kind means the client's value. */
#define CBF_CALL_OPTIONS(X)                                                                              \
    X(qualifier, ANY, 0, 0, "a non-empty string without control bytes", CBF_IN_CALL)                     \
    X(webfn, BOOLEAN, 0, 0, NULL, CBF_IN_CALL)                                                           \
    X(timeout, SECONDS, 0, CBF_MAX_SECONDS, NULL, CBF_IN_CALL)                                           \
    X(connect_timeout, SECONDS, 0, CBF_MAX_SECONDS, NULL, CBF_IN_CALL)                                   \
    X(headers, ANY, 0, 0, "a table of name = value", CBF_IN_CALL)                                        \
    X(method, ANY, 0, 0, "an HTTP method name such as \"GET\"", CBF_IN_CALL)                             \
    X(path, ANY, 0, 0, "a string, for web functions (webfn = true) only", CBF_IN_CALL)                   \
    X(query, ANY, 0, 0, "a table, for web functions (webfn = true) only", CBF_IN_CALL)                   \
    X(retry, ANY, 0, 0, "a table { attempts =, base_delay =, max_delay = }, true or false", CBF_IN_CALL) \
    X(name, ANY, 0, 0, "the function's name (or [1])", CBF_IN_CALL_TABLE)                                \
    X(payload, ANY, 0, 0, "the payload (or [2])", CBF_IN_CALL_TABLE)                                     \
    X(on_done, FUNCTION, 0, 0, "a function(call)", CBF_IN_START)                                         \
    X(concurrency, INTEGER, CBF_DEFAULT_CONCURRENCY, CBF_MAX_CONCURRENCY, "calls in flight at once",     \
      CBF_IN_BATCH)

typedef enum {
#define CBF_OPTION_KIND_ENUM(kind, what) CBF_OPTION_##kind,
    CBF_OPTION_KINDS(CBF_OPTION_KIND_ENUM)
#undef CBF_OPTION_KIND_ENUM
} cbf_option_kind;

typedef struct {
    const char *name;
    cbf_option_kind kind;
    double dflt, max;
    const char *detail; /* NULL for kinds that need none */
    const char *env;    /* client options: the environment variable, or NULL */
    unsigned scope;     /* call options: CBF_IN_* */
} cbf_option;

enum {
#define CBF_CLIENT_OPTION_ENUM(name, kind, dflt, max, detail, env) CBF_NEW_##name,
    CBF_CLIENT_OPTIONS(CBF_CLIENT_OPTION_ENUM)
#undef CBF_CLIENT_OPTION_ENUM
    CBF_NEW_COUNT
};

enum {
#define CBF_CALL_OPTION_ENUM(name, kind, dflt, max, detail, scope) CBF_CALL_##name,
    CBF_CALL_OPTIONS(CBF_CALL_OPTION_ENUM)
#undef CBF_CALL_OPTION_ENUM
    CBF_CALL_COUNT
};

extern const cbf_option cbf_client_options[CBF_NEW_COUNT];
extern const cbf_option cbf_call_options[CBF_CALL_COUNT];

/* The entry of an option by name: CBF_OPTION_NEW(timeout), CBF_OPTION_CALL(on_done). */
#define CBF_OPTION_NEW(name) (&cbf_client_options[CBF_NEW_##name])
#define CBF_OPTION_CALL(name) (&cbf_call_options[CBF_CALL_##name])

/* Check the options table at idx (nil passes): every key must be an entry of `set`
 * (n entries) whose scope meets `scope` (client options: pass 0 to take all), and every
 * value what its kind accepts. `what` names the table in the unknown-key message.
 * Reads raw: no metamethod runs. 0, or -1 with an INVALID_ARGUMENT error pushed. */
int cbf_options_check(lua_State *L, int idx, const cbf_option *set, size_t n, unsigned scope,
                      const char *what);
/* The same, raising the error. */
void cbf_options_check_or_raise(lua_State *L, int idx, const cbf_option *set, size_t n,
                                unsigned scope, const char *what);
/* Push the INVALID_ARGUMENT error "NAME must be WHAT" of o's kind and return -1. */
int cbf_option_fail(lua_State *L, const cbf_option *o);
/* The same, raised. */
int cbf_option_raise(lua_State *L, const cbf_option *o);
/* Push field `key` of the options table at idx, or nil when idx is not a table (nil
 * opts), and return its type. Raw: reading options never runs caller code. */
int cbf_options_get(lua_State *L, int idx, const char *key);
/* A checked number option of the table at idx (raw; idx may be nil), or dflt when
 * it is absent. */
lua_Number cbf_option_number(lua_State *L, int idx, const cbf_option *o, lua_Number dflt);
/* The same for a checked integer option (BYTES, INTEGER), exact. */
lua_Integer cbf_option_integer(lua_State *L, int idx, const cbf_option *o, lua_Integer dflt);

#endif
