/* Opt-in safe retries: only what provably did not run is sent again (a connection that
 * failed before libcurl was about to send the request, and the gateway's rate-limit
 * refusals), with full-jitter exponential backoff, Retry-After as a floor, and the
 * whole call bounded by its timeout. */
#ifndef CBF_RETRY_H
#define CBF_RETRY_H

#include "compat.h"
#include "loop.h"

typedef struct {
    int attempts;      /* attempts in all; 1: no retry */
    double base_delay; /* seconds: the first backoff's ceiling */
    double max_delay;  /* seconds: no backoff above this (Retry-After aside) */
} cbf_retry_policy;

/* One call's progress through its attempts. */
typedef struct {
    cbf_retry_policy policy;
    int tries;             /* attempts started */
    int unsent;            /* the last attempt failed before any request byte was sent
                            * (the transport says: cbf_transfer_outcome.unsent) */
    int replayed;          /* sent again after ACCESS_TOKEN_EXPIRED (once per call) */
    long long started_ms;  /* cbf_loop_clock_ms() when the call began */
    long long deadline_ms; /* started_ms + the call's timeout */
    long long wake_ms;     /* waiting to retry until then; 0 when not waiting */
} cbf_retry_state;

/* The option value at idx (nil: `dflt`; false: no retry; a table of attempts,
 * base_delay, max_delay over the defaults) into *out. 0, or -1 with an
 * INVALID_ARGUMENT error pushed whose message names `what`. */
int cbf_retry_policy_read(lua_State *L, int idx, const char *what, const cbf_retry_policy *dflt,
                          cbf_retry_policy *out);
/* A call begins: no attempt made yet, `timeout` seconds in all. A NULL policy: none. */
void cbf_retry_begin(cbf_retry_state *s, const cbf_retry_policy *policy, double timeout);
/* The failed attempt's error is on top. Returns 1 and sets s->wake_ms when the call is
 * to be sent again: the failure provably did not run, attempts remain, and the wait
 * plus a little time for the attempt fits before the deadline. */
int cbf_retry_schedule(lua_State *L, cbf_retry_state *s);
/* Seconds left before the call's deadline for the next attempt (at least 1 ms). */
double cbf_retry_time_left(const cbf_retry_state *s);
/* Wait until until_ms (cbf_loop_clock_ms), driving the loop's transfers meanwhile. */
void cbf_retry_wait(cbf_loop *l, long long until_ms);
/* Set outcome.attempts (info or error table at idx) to the attempts made. */
void cbf_retry_mark(lua_State *L, int idx, const cbf_retry_state *s);

#endif
