/* Request ids: a random UUID v4 per call, sent as X-Request-Id so that every outcome,
 * a TIMEOUT included, names the request both ends can look up. */
#ifndef CBF_REQUEST_ID_H
#define CBF_REQUEST_ID_H

#include <stddef.h>

#define CBF_UUID_LEN 36
/* Longest id kept for info/errors: the gateway adopts ids of 1 to 128 characters. */
#define CBF_REQUEST_ID_MAX 128

/* Fill n bytes from the OS CSPRNG: getrandom(2), else /dev/urandom. 0, or -1 when
 * neither can give them (the caller then fails the call rather than send a guessable id). */
int cbf_random_bytes(unsigned char *out, size_t n);
/* Write a fresh lower-case UUID v4 and its NUL to out[CBF_UUID_LEN + 1]. 0, or -1. */
int cbf_request_id_new(char *out);

#endif
