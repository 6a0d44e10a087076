/* The default transport: libcurl easy handles driven by the client's multi handle.
 * Callbacks only collect bytes; nothing here touches Lua while curl is running. */
#ifndef CBF_TRANSPORT_CURL_H
#define CBF_TRANSPORT_CURL_H

#include "client.h"
#include "info.h"

/* A transfer configured with the client's fixed settings; NULL when out of memory. */
cbf_transfer *cbf_transfer_new(const cbf_client *c);
void cbf_transfer_free(cbf_transfer *t);
/* Whether a connection can serve another call after its first (not with h2c on
 * libcurl < 8, see transport_curl.c). */
int cbf_transfer_reuses(const cbf_client *c);
/* Set the per-call options for t->req on t's easy handle. CURLE_OK, or why not. */
CURLcode cbf_transfer_setup(cbf_transfer *t);
/* Drop what one call needed and what it received (buffers keep some capacity). */
void cbf_transfer_clear(cbf_transfer *t);
/* The finished transfer's timings. */
void cbf_transfer_timings(cbf_transfer *t, cbf_timings *tm);
/* The module's error code and a message for a failed transfer; `status` is the HTTP
 * status received (0 for none). */
const char *cbf_transfer_error(const cbf_transfer *t, long status, char *msg, size_t size);
/* The loop reports that `easy` (a transfer's handle) finished: done = 1. */
void cbf_transfer_finished(CURL *easy, CURLcode result);

#endif
