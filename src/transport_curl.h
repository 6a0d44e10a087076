/* The default transport: libcurl easy handles driven by the client's multi handle
 * (loop.c). Callbacks only collect bytes; nothing here touches Lua. Every libcurl
 * type stays in the .c files of this transport (transport_curl.c, loop.c, pool.c):
 * callers see cbf_transfer and the results below. */
#ifndef CBF_TRANSPORT_CURL_H
#define CBF_TRANSPORT_CURL_H

#include "client.h"
#include "info.h"

/* Room for a failure message: libcurl's error buffer (CURL_ERROR_SIZE, 256) and the
 * module's words around it. */
#define CBF_TRANSFER_MESSAGE_SIZE 320

/* Initialise libcurl's process-wide state, once for every Lua state that loads the
 * module. 0, or -1 when libcurl could not. */
int cbf_transport_curl_init(void);

/* A transfer configured with the client's fixed settings; NULL when out of memory. */
cbf_transfer *cbf_transfer_new(const cbf_client *c);
void cbf_transfer_free(cbf_transfer *t);
/* Whether a connection can serve another call after its first (not with h2c on
 * libcurl < 8, see transport_curl.c). */
int cbf_transfer_reuses(const cbf_client *c);
/* Send t->req: configure t's handle for it and put it on the loop. NULL, or the
 * module's error code with *why saying what failed (t is left as it was). */
const char *cbf_transfer_start(cbf_transfer *t, cbf_loop *loop, const char **why);
/* Take t off the loop if it is on it (a call cancelled or given back). */
void cbf_transfer_stop(cbf_transfer *t, cbf_loop *loop);
/* Whether t's next sends must open a connection of their own (a warm-up opening a
 * second connection rather than reusing the first). */
void cbf_transfer_fresh_connect(cbf_transfer *t, int fresh);
/* Drop what one call needed and what it received (buffers keep some capacity). */
void cbf_transfer_clear(cbf_transfer *t);

/* How a finished attempt ended. The buffers are t's, valid until it is cleared. */
typedef struct {
    long status;               /* HTTP status received, 0 for none */
    const cbf_buffer *headers; /* raw header lines of the final response */
    const cbf_buffer *body;
    const char *error;         /* NULL when the response arrived whole; else the code */
    char message[CBF_TRANSFER_MESSAGE_SIZE]; /* why, when error is set */
    int unsent;     /* it failed before any request byte left: safe to send again */
    int multiplexed; /* the connection speaks HTTP/2 */
    cbf_timings timings;
} cbf_transfer_outcome;
void cbf_transfer_outcome_of(const cbf_transfer *t, cbf_transfer_outcome *out);

/* For loop.c: the easy handle `easy` (a CURL *, which libcurl declares as void)
 * finished with `result` (a CURLcode): its transfer is done. */
void cbf_transfer_finished(void *easy, int result);

#endif
