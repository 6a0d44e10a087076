#include "retry.h"

#include <poll.h>
#include <string.h>

#include "error.h"
#include "loop.h"
#include "request_id.h"

#define DEFAULT_ATTEMPTS 3
#define DEFAULT_BASE_DELAY 0.1
#define DEFAULT_MAX_DELAY 2.0
#define MAX_ATTEMPTS 100
#define MAX_DELAY_SECONDS 1000000 /* base_delay and max_delay: about 11 days */
/* An attempt gets at least this long, or it is not worth starting. */
#define MIN_ATTEMPT_MS 10

/* `what` names the option ("retry", "opts.retry"); `why` follows it. */
static int bad(lua_State *L, const char *what, const char *why) {
    return cbf_error_pushf(L, CBF_E_INVALID_ARGUMENT, "%s%s", what, why);
}

/* Field `key` of the table at idx as seconds from 0 to MAX_DELAY_SECONDS: 0, or -1 with
 * an error. */
static int seconds_field(lua_State *L, int idx, const char *what, const char *key, double *out) {
    lua_pushstring(L, key);
    lua_rawget(L, idx);
    if (!lua_isnil(L, -1)) {
        double v = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || !(v >= 0 && v <= MAX_DELAY_SECONDS)) {
            lua_pop(L, 1);
            return cbf_error_pushf(L, CBF_E_INVALID_ARGUMENT, "%s.%s must be a number of seconds from 0 to %d",
                                   what, key, MAX_DELAY_SECONDS);
        }
        *out = v;
    }
    lua_pop(L, 1);
    return 0;
}

int cbf_retry_policy_read(lua_State *L, int idx, const char *what, const cbf_retry_policy *dflt,
                          cbf_retry_policy *out) {
    static const char *const known[] = {"attempts", "base_delay", "max_delay", NULL};
    if (idx < 0) idx = lua_gettop(L) + idx + 1;
    if (lua_isnil(L, idx)) {
        *out = *dflt;
        return 0;
    }
    out->attempts = 1;
    out->base_delay = DEFAULT_BASE_DELAY;
    out->max_delay = DEFAULT_MAX_DELAY;
    if (lua_isboolean(L, idx)) {
        if (lua_toboolean(L, idx)) out->attempts = DEFAULT_ATTEMPTS;
        return 0;
    }
    if (!lua_istable(L, idx)) return bad(L, what, " must be a table { attempts =, base_delay =, max_delay = }, true or false");
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int i, found = 0;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (i = 0; known[i]; i++) found |= strcmp(lua_tostring(L, -2), known[i]) == 0;
        lua_pop(L, 1);
        if (!found) {
            lua_pop(L, 1);
            return bad(L, what, " knows attempts, base_delay and max_delay");
        }
    }
    out->attempts = DEFAULT_ATTEMPTS;
    lua_pushliteral(L, "attempts");
    lua_rawget(L, idx);
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > MAX_ATTEMPTS) {
            lua_pop(L, 1);
            return cbf_error_pushf(L, CBF_E_INVALID_ARGUMENT, "%s.attempts must be an integer from 1 to %d", what,
                                   MAX_ATTEMPTS);
        }
        out->attempts = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    if (seconds_field(L, idx, what, "base_delay", &out->base_delay) ||
        seconds_field(L, idx, what, "max_delay", &out->max_delay))
        return -1;
    return 0;
}

void cbf_retry_begin(cbf_retry_state *s, const cbf_retry_policy *policy, double timeout) {
    memset(s, 0, sizeof *s);
    s->policy.attempts = 1;
    if (policy) s->policy = *policy;
    s->started_ms = cbf_loop_clock_ms();
    s->deadline_ms = s->started_ms + (long long)(timeout * 1000.0 + 0.5);
}

/* Uniform in [0, 1) from the CSPRNG (jitter needs no secrecy, but one source is enough). */
static double uniform(void) {
    unsigned char b[4];
    unsigned long v;
    if (cbf_random_bytes(b, sizeof b)) return 0.5;
    v = (unsigned long)b[0] << 24 | (unsigned long)b[1] << 16 | (unsigned long)b[2] << 8 | b[3];
    return (double)v / 4294967296.0;
}

/* The error on top is the gateway refusing before running the function. */
static int rate_limited(lua_State *L) {
    const char *code;
    int yes;
    lua_getfield(L, -1, "code");
    code = lua_tostring(L, -1);
    yes = code && (strcmp(code, "EXCEED_RATELIMIT") == 0 || strcmp(code, "EXCEED_CONCURRENT_REQUEST_LIMIT") == 0);
    lua_pop(L, 1);
    return yes;
}

int cbf_retry_schedule(lua_State *L, cbf_retry_state *s) {
    double ceiling, delay, retry_after = 0;
    long long now = cbf_loop_clock_ms(), wake;
    int k;
    s->wake_ms = 0;
    if (s->tries >= s->policy.attempts || !lua_istable(L, -1)) return 0;
    if (!s->unsent && !rate_limited(L)) return 0;
    /* Full jitter: uniform in [0, min(max_delay, base_delay * 2^(tries-1))). */
    ceiling = s->policy.base_delay;
    for (k = 1; k < s->tries && ceiling < s->policy.max_delay; k++) ceiling *= 2;
    if (ceiling > s->policy.max_delay) ceiling = s->policy.max_delay;
    delay = ceiling * uniform();
    lua_getfield(L, -1, "retry_after");
    if (lua_type(L, -1) == LUA_TNUMBER) retry_after = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (retry_after > delay) delay = retry_after; /* the server's floor, never shortened */
    wake = now + (long long)(delay * 1000.0 + 0.5);
    if (wake + MIN_ATTEMPT_MS > s->deadline_ms) return 0;
    s->wake_ms = wake > now ? wake : now + 1;
    return 1;
}

double cbf_retry_time_left(const cbf_retry_state *s) {
    long long left = s->deadline_ms - cbf_loop_clock_ms();
    return (left < 1 ? 1 : (double)left) / 1000.0;
}

void cbf_retry_wait(cbf_loop *l, long long until_ms) {
    long long left;
    while ((left = until_ms - cbf_loop_clock_ms()) > 0) {
        if (cbf_loop_running(l) > 0) cbf_loop_step(l, (int)left);
        else poll(NULL, 0, (int)left);
    }
}

void cbf_retry_mark(lua_State *L, int idx, const cbf_retry_state *s) {
    if (idx < 0) idx = lua_gettop(L) + idx + 1;
    if (!lua_istable(L, idx)) return;
    lua_pushliteral(L, "attempts");
    lua_pushinteger(L, s->tries > 0 ? s->tries : 1);
    lua_rawset(L, idx);
}
