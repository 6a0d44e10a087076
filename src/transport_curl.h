/* The default transport: libcurl easy handles driven by the client's multi handle.
 * Callbacks only collect bytes; nothing here touches Lua while curl is running. */
#ifndef CBF_TRANSPORT_CURL_H
#define CBF_TRANSPORT_CURL_H

#include "client.h"
#include "info.h"

/* One call in flight on the libcurl transport. */
struct cbf_transfer {
    CURL *easy;
    cbf_request req;
    struct curl_slist *header_list;
    cbf_buffer sent_headers; /* what header_list was built from, to reuse it */
    cbf_buffer resp_headers; /* raw header lines of the final response */
    cbf_buffer resp_body;
    size_t max_response_size;
    int too_large;
    int out_of_memory; /* a callback could not store what libcurl gave it */
    int attempts;      /* times libcurl was about to send this request (pre-request) */
    int done;
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
    int call;   /* index of the call this transfer serves (invoke_all) */
    cbf_alloc alloc; /* the client's: this struct and its buffers come from it */
    int active; /* in use by a call (attached to the multi handle for invoke_all) */
    const void *owner; /* the call that claimed it (cbf_client_claim) */
};

/* A transfer configured with the client's fixed settings; NULL when out of memory. */
cbf_transfer *cbf_transfer_new(const cbf_client *c);
void cbf_transfer_free(cbf_transfer *t);
/* Set the per-call options for t->req on t's easy handle. CURLE_OK, or why not. */
CURLcode cbf_transfer_setup(cbf_transfer *t);
/* Drop what one call needed and what it received (buffers keep some capacity). */
void cbf_transfer_clear(cbf_transfer *t);
/* The finished transfer's timings. */
void cbf_transfer_timings(cbf_transfer *t, cbf_timings *tm);
/* The module's error code and a message for a failed transfer; `status` is the HTTP
 * status received (0 for none). */
const char *cbf_transfer_error(const cbf_transfer *t, long status, char *msg, size_t size);
/* Set t up for t->req and attach it to the client's multi handle: NULL, or the module's
 * error code with *message saying why (t is cleared then). */
const char *cbf_transfer_start(cbf_client *c, cbf_transfer *t, const char **message);
/* Take t off the client's multi handle (a transfer abandoned mid-way). */
void cbf_transfer_detach(cbf_client *c, cbf_transfer *t);
/* Whether the finished transfer got a whole response (else cbf_transfer_error says why). */
int cbf_transfer_succeeded(const cbf_transfer *t);
/* The finished transfer's HTTP status, 0 for none. */
long cbf_transfer_status(cbf_transfer *t);
/* Room for cbf_transfer_error's message. */
#define CBF_TRANSFER_MESSAGE_SIZE (CURL_ERROR_SIZE + 64)
/* The client's libcurl side: its multi handle (0, or -1 out of memory), its
 * `resolve` entries (0, or -1 out of memory), and freeing it all with the transfers. */
int cbf_curl_client_open(cbf_client *c);
int cbf_curl_resolve_add(cbf_client *c, const char *entry);
void cbf_curl_client_close(cbf_client *c);
/* Run the multi handle until at least one transfer finishes (or `wait_ms` passes);
 * finished transfers get done = 1 and leave the multi. Returns how many finished. */
int cbf_multi_step(CURLM *multi, int wait_ms);

#endif
