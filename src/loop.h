/* The client's libcurl multi handle, driven through libcurl's socket interface.
 * libcurl says which sockets to watch and when it next wants to run (two callbacks that
 * only record into this struct). The same record serves the module's own waits
 * (invoke, poll: poll(2) on those sockets) and an outside event loop (the watch list,
 * the timeout and socket_action), so both can drive one handle in turn. */
#ifndef CBF_LOOP_H
#define CBF_LOOP_H

#include <stddef.h>

#include "buffer.h"

typedef struct cbf_loop cbf_loop;

enum { CBF_WATCH_READ = 1, CBF_WATCH_WRITE = 2 }; /* events; 0 means "stop watching" */

typedef struct {
    int fd;
    int events;
} cbf_watch_change;

/* Milliseconds on the monotonic clock the loop's deadlines use. */
long long cbf_loop_clock_ms(void);
/* A loop with a new multi handle, its memory from `alloc`; NULL when out of memory. */
cbf_loop *cbf_loop_new(cbf_alloc alloc);
/* Free the loop and its multi handle; its transfers must have been removed. */
void cbf_loop_free(cbf_loop *l);
/* Start a configured easy handle (a CURL *: libcurl declares it void) on the loop.
 * 0, or -1 when libcurl refuses it. */
int cbf_loop_add(cbf_loop *l, void *easy);
/* Keep up to n idle connections (libcurl's default: 4 per running transfer); a
 * smaller n than an earlier one changes nothing. */
void cbf_loop_keep_connections(cbf_loop *l, long n);
/* Take an unfinished transfer off the loop (cancel). */
void cbf_loop_remove(cbf_loop *l, void *easy);
/* Transfers on the loop that have not finished. */
size_t cbf_loop_running(const cbf_loop *l);
/* Wait at most wait_ms for socket activity or libcurl's timer, and act on it.
 * Finished transfers leave the loop through cbf_transfer_finished. Returns how many. */
int cbf_loop_step(cbf_loop *l, int wait_ms);
/* One socket_action for an outside event loop: fd ready for `events`, or fd < 0 when
 * the timer expired. Returns how many transfers finished. */
int cbf_loop_action(cbf_loop *l, int fd, int events);
/* Seconds until libcurl wants cbf_loop_action(l, -1, 0); negative when it waits for
 * nothing but sockets. */
double cbf_loop_timeout(const cbf_loop *l);
/* What changed in the set of watched sockets since the last call (the first call lists
 * them all). A socket that libcurl closed and opened again under the same number comes
 * out as a removal, then an addition. Sets *out (owned by the loop, valid until the
 * next call) and returns the count, or -1 when out of memory. */
int cbf_loop_changes(cbf_loop *l, const cbf_watch_change **out);

#endif
