#include "transport_curl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "error_codes.h"
#include "pool.h"
#include "request.h"

/* A transfer as this transport keeps it: the call's slot, then libcurl's state. */
typedef struct {
    cbf_transfer base; /* first: a cbf_transfer * is a curl_transfer * */
    CURL *easy;
    /* CURLOPT_HTTPHEADER: curl_slist nodes kept in header_nodes, pointing into
     * req.headers (no copies: each call's fresh X-Request-Id changes the headers). */
    struct curl_slist *header_list;
    cbf_buffer header_nodes;
    struct curl_slist *resolve; /* the client's resolve entries, for CURLOPT_RESOLVE */
    cbf_buffer resp_headers; /* raw header lines of the final response */
    cbf_buffer resp_body;
    size_t max_response_size;
    int too_large;
    int out_of_memory; /* a callback could not store what libcurl gave it */
    int attempts;      /* times libcurl was about to send this request (pre-request) */
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
} curl_transfer;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_OK;

/* libcurl's global state is process-wide: initialise it once, whatever number of Lua
 * states load the module, and never clean it up under another state's feet. */
static void init_curl(void) { curl_init_result = curl_global_init(CURL_GLOBAL_ALL); }

int cbf_transport_curl_init(void) {
    pthread_once(&curl_once, init_curl);
    return curl_init_result == CURLE_OK ? 0 : -1;
}

static CURLcode configure(const cbf_client *c, curl_transfer *t);

cbf_transfer *cbf_transfer_new(const cbf_client *c) {
    curl_transfer *t = cbf_realloc(&c->alloc, NULL, 0, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->base.alloc = c->alloc;
    t->easy = curl_easy_init();
    cbf_request_init(&t->base.req, c->alloc);
    cbf_buffer_init(&t->header_nodes, c->alloc);
    cbf_buffer_init(&t->resp_headers, c->alloc);
    cbf_buffer_init(&t->resp_body, c->alloc);
    if (!t->easy || configure(c, t) != CURLE_OK) {
        cbf_transfer_free(&t->base);
        return NULL;
    }
    return &t->base;
}

void cbf_transfer_free(cbf_transfer *base) {
    curl_transfer *t = (curl_transfer *)base;
    if (!t) return;
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->resolve);
    cbf_buffer_free(&t->header_nodes);
    cbf_request_free(&t->base.req);
    cbf_buffer_free(&t->resp_headers);
    cbf_buffer_free(&t->resp_body);
    cbf_realloc(&t->base.alloc, t, sizeof *t, 0);
}

void cbf_transfer_clear(cbf_transfer *base) {
    curl_transfer *t = (curl_transfer *)base;
    cbf_buffer_reset(&t->resp_headers, CBF_BUFFER_KEEP);
    cbf_buffer_reset(&t->resp_body, CBF_BUFFER_KEEP);
    t->too_large = 0;
    t->out_of_memory = 0;
    t->attempts = 0;
    t->base.attached = 0;
    t->base.done = 0;
    t->result = CURLE_OK;
    t->errbuf[0] = '\0';
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    curl_transfer *t = ud;
    size_t len = size * n;
    if (t->resp_body.len + len > t->max_response_size) {
        t->too_large = 1;
        return 0; /* abort: curl reports CURLE_WRITE_ERROR */
    }
    if (cbf_buffer_append(&t->resp_body, data, len) == 0) return len;
    t->out_of_memory = 1;
    return 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
    curl_transfer *t = ud;
    size_t len = size * n;
    /* A new status line starts a new response (after 100 Continue, say): keep only
     * the headers of the last one. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) cbf_buffer_reset(&t->resp_headers, CBF_BUFFER_KEEP);
    if (cbf_buffer_append(&t->resp_headers, data, len) == 0) return len;
    t->out_of_memory = 1;
    return 0;
}

/* libcurl sends a request again, on a fresh connection, when a reused connection closed
 * before any response byte arrived or an HTTP/2 stream was refused (Curl_retry_request,
 * 7.88 and 8.x alike), whatever the method and whether or not a body went out. Every
 * attempt passes through this pre-request callback: the second one is refused, so the
 * call fails (CURLE_ABORTED_BY_CALLBACK) and nothing is sent twice. */
static int on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port) {
    curl_transfer *t = ud;
    (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
    return ++t->attempts == 1 ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

/* libcurl before 8.0.0 breaks a cleartext HTTP/2 prior-knowledge connection when it
 * reuses or multiplexes onto it: every transfer after the first fails with "Error in
 * the HTTP2 framing layer" (curl issue #10634, fixed by curl PR #10643 in 8.0.0).
 * Debian 12 ships 7.88. There, each h2c transfer gets a connection of its own. */
static int h2c_reuse_broken(const cbf_client *c) {
    return c->http_mode == CBF_HTTP_2_PRIOR_KNOWLEDGE && strncmp(c->base_url, "http://", 7) == 0 &&
           curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
}

int cbf_transfer_reuses(const cbf_client *c) { return !h2c_reuse_broken(c); }

/* CURLOPT_MAXAGE_CONN for "never reuse a connection idle max_idle seconds or longer".
 * Before 8.15.0 libcurl truncates the idle time to whole seconds and reuses while that
 * is not above the setting, i.e. up to a second past it; from 8.15.0 it compares
 * milliseconds, and 0 there means no limit. */
static long maxage_conn(long max_idle) {
    return curl_version_info(CURLVERSION_NOW)->version_num >= 0x080f00 ? max_idle : max_idle - 1;
}

/* PIPEWAIT makes a transfer wait for a connection being set up to the same host, to
 * multiplex on it if it turns out to speak HTTP/2. Over HTTP/1.1 libcurl learns that
 * only from the first response's status line, so every other call of an invoke_all
 * batch stalled behind the first one (and a slow first call made them all time out).
 * Wait only where HTTP/2 is possible: ALPN over https, or prior knowledge. */
static int may_multiplex(const cbf_client *c) {
    if (c->http_mode == CBF_HTTP_1_1) return 0;
    if (c->http_mode == CBF_HTTP_2_PRIOR_KNOWLEDGE) return 1;
    return strncmp(c->base_url, "https://", 8) == 0;
}

static long millis(double seconds) {
    double ms = seconds * 1000.0;
    return ms < 1 ? 1 : (long)ms;
}

/* *list (freed first) becomes the NUL-separated entries of `entries`, then `last`
 * unless NULL. */
static CURLcode slist_of(struct curl_slist **list, const cbf_buffer *entries, const char *last) {
    size_t pos = 0;
    curl_slist_free_all(*list);
    *list = NULL;
    while (pos < entries->len || last) {
        const char *entry = pos < entries->len ? entries->data + pos : last;
        struct curl_slist *next = curl_slist_append(*list, entry);
        if (!next) return CURLE_OUT_OF_MEMORY;
        *list = next;
        if (pos < entries->len) pos += strlen(entry) + 1;
        else last = NULL;
    }
    return CURLE_OK;
}

#define SET(opt, val) \
    if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val)

/* What stays the same for every call of a client: set once per easy handle, so a call
 * only touches what changes (the client's settings cannot change after new). */
static CURLcode configure(const cbf_client *c, curl_transfer *t) {
    CURL *e = t->easy;
    CURLcode rc = CURLE_OK;
    long version = c->http_mode == CBF_HTTP_1_1                 ? CURL_HTTP_VERSION_1_1
                   : c->http_mode == CBF_HTTP_2_PRIOR_KNOWLEDGE ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                                                                : CURL_HTTP_VERSION_2TLS;
    t->max_response_size = c->max_response_size;
    SET(CURLOPT_PRIVATE, (void *)t);
    SET(CURLOPT_ERRORBUFFER, t->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)t);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)t);
    SET(CURLOPT_PREREQFUNCTION, on_prereq);
    SET(CURLOPT_PREREQDATA, (void *)t);
    /* The path goes out as built: "/../" is refused before, and never resolved here. */
    SET(CURLOPT_PATH_AS_IS, 1L);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_KEEPIDLE, 60L);
    SET(CURLOPT_TCP_KEEPINTVL, 30L);
    SET(CURLOPT_HTTP_VERSION, version);
    if (h2c_reuse_broken(c)) {
        SET(CURLOPT_FRESH_CONNECT, 1L);
        SET(CURLOPT_FORBID_REUSE, 1L);
    } else if (may_multiplex(c)) {
        SET(CURLOPT_PIPEWAIT, 1L);
    }
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response_size);
    if (c->ca_file) SET(CURLOPT_CAINFO, c->ca_file);
    if (c->ca_path) SET(CURLOPT_CAPATH, c->ca_path);
    if (c->proxy) SET(CURLOPT_PROXY, c->proxy);
    if (c->resolve.len) {
        if (rc == CURLE_OK) rc = slist_of(&t->resolve, &c->resolve, NULL);
        SET(CURLOPT_RESOLVE, t->resolve);
    }
    SET(CURLOPT_MAXAGE_CONN, maxage_conn(c->max_idle));
    if (c->share) SET(CURLOPT_SHARE, cbf_share_handle(c->share));
    return rc;
}

/* An empty "Expect:" keeps libcurl from sending "Expect: 100-continue" and waiting for
 * the answer before a large body: the request goes out as the core built it. */
static char no_expect[] = "Expect:";

/* The header list for libcurl, linked over the NUL-separated entries of req.headers,
 * then no_expect. libcurl only reads the list, while it builds the request; req.headers
 * stays as it is until the transfer is set up again. Copying the entries with
 * curl_slist_append every call (the fresh X-Request-Id makes every call's headers
 * differ) cost a tenth of the module's own work per call. */
static CURLcode header_list(curl_transfer *t) {
    const cbf_buffer *h = &t->base.req.headers;
    struct curl_slist *nodes;
    size_t pos, n = 1; /* no_expect */
    for (pos = 0; pos < h->len; pos += strlen(h->data + pos) + 1) n++;
    t->header_list = NULL;
    cbf_buffer_reset(&t->header_nodes, CBF_BUFFER_KEEP);
    if (cbf_buffer_reserve(&t->header_nodes, n * sizeof *nodes)) return CURLE_OUT_OF_MEMORY;
    nodes = (struct curl_slist *)(void *)t->header_nodes.data; /* malloc-aligned */
    for (pos = 0, n = 0; pos < h->len; pos += strlen(h->data + pos) + 1, n++) {
        nodes[n].data = h->data + pos;
        nodes[n].next = &nodes[n + 1];
    }
    nodes[n].data = no_expect;
    nodes[n].next = NULL;
    t->header_list = nodes;
    return CURLE_OK;
}

/* Set the per-call options for t's request on its easy handle. CURLE_OK, or why not. */
static CURLcode setup(curl_transfer *t) {
    CURL *e = t->easy;
    const cbf_request *req = &t->base.req;
    int get = strcmp(req->method, "GET") == 0, head = strcmp(req->method, "HEAD") == 0;
    const char *custom = req->method; /* what the options below do not say by themselves */
    CURLcode rc;
    cbf_transfer_clear(&t->base);
    rc = header_list(t);
    SET(CURLOPT_HTTPHEADER, t->header_list);
    SET(CURLOPT_URL, req->url.data);
    SET(CURLOPT_TIMEOUT_MS, millis(req->timeout));
    SET(CURLOPT_CONNECTTIMEOUT_MS, millis(req->connect_timeout));
    /* The method options outlive a call: put every one back to a known state. */
    SET(CURLOPT_NOBODY, head ? 1L : 0L);
    if (req->has_body) {
        SET(CURLOPT_POSTFIELDS, req->body.data ? req->body.data : "");
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
        if (strcmp(req->method, "POST") == 0) custom = NULL;
    } else if (!head) {
        SET(CURLOPT_HTTPGET, 1L);
        if (get) custom = NULL;
    } else {
        custom = NULL;
    }
    SET(CURLOPT_CUSTOMREQUEST, custom);
    return rc;
}
#undef SET

static double seconds(CURL *e, CURLINFO what) {
    curl_off_t us = 0;
    curl_easy_getinfo(e, what, &us);
    return (double)us / 1e6;
}

static void timings(CURL *e, cbf_timings *tm) {
    tm->dns = seconds(e, CURLINFO_NAMELOOKUP_TIME_T);
    tm->connect = seconds(e, CURLINFO_CONNECT_TIME_T);
    tm->tls = seconds(e, CURLINFO_APPCONNECT_TIME_T);
    tm->first_byte = seconds(e, CURLINFO_STARTTRANSFER_TIME_T);
    tm->total = seconds(e, CURLINFO_TOTAL_TIME_T);
}

/* libcurl results and the module's codes; anything else is a NETWORK_ERROR. */
static const struct {
    CURLcode result;
    const char *code;
} result_codes[] = {
    {CURLE_OPERATION_TIMEDOUT, CBF_E_TIMEOUT},
    {CURLE_SSL_CONNECT_ERROR, CBF_E_TLS_ERROR},
    {CURLE_PEER_FAILED_VERIFICATION, CBF_E_TLS_ERROR},
    {CURLE_SSL_CERTPROBLEM, CBF_E_TLS_ERROR},
    {CURLE_SSL_CIPHER, CBF_E_TLS_ERROR},
    {CURLE_SSL_CACERT_BADFILE, CBF_E_TLS_ERROR},
    {CURLE_SSL_ISSUER_ERROR, CBF_E_TLS_ERROR},
    {CURLE_SSL_PINNEDPUBKEYNOTMATCH, CBF_E_TLS_ERROR},
    {CURLE_SSL_INVALIDCERTSTATUS, CBF_E_TLS_ERROR},
    {CURLE_SSL_CRL_BADFILE, CBF_E_TLS_ERROR},
    {CURLE_SSL_ENGINE_NOTFOUND, CBF_E_TLS_ERROR},
    {CURLE_SSL_ENGINE_SETFAILED, CBF_E_TLS_ERROR},
    {CURLE_SSL_ENGINE_INITFAILED, CBF_E_TLS_ERROR},
    {CURLE_SSL_SHUTDOWN_FAILED, CBF_E_TLS_ERROR},
    {CURLE_USE_SSL_FAILED, CBF_E_TLS_ERROR},
    /* What the peer sent is not HTTP: a bad status line, HTTP/0.9, a broken encoding. */
    {CURLE_UNSUPPORTED_PROTOCOL, CBF_E_INVALID_RESPONSE},
    {CURLE_WEIRD_SERVER_REPLY, CBF_E_INVALID_RESPONSE},
    {CURLE_BAD_CONTENT_ENCODING, CBF_E_INVALID_RESPONSE},
    {CURLE_URL_MALFORMAT, CBF_E_INVALID_ARGUMENT},
};

/* libcurl 8.x and Debian's 7.88 refuse more than 300 KB of response headers with this
 * message (CURLE_RECV_ERROR); 7.x refuses a single line over 100 KB with
 * CURLE_OUT_OF_MEMORY once the status line was read. */
#define HEADERS_TOO_LARGE "Too large response headers"

/* The module's error code and a message for a failed transfer; `status` is the HTTP
 * status received (0 for none). */
static const char *failure(const curl_transfer *t, long status, char *msg, size_t size) {
    const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result);
    size_t i;
    if (t->result == CURLE_ABORTED_BY_CALLBACK && t->attempts > 1) {
        snprintf(msg, size, "the connection closed before any response: the request may have "
                            "reached the server, and was not sent again");
        return CBF_E_NETWORK_ERROR;
    }
    if (t->out_of_memory) {
        snprintf(msg, size, "not enough memory for the response");
        return CBF_E_OUT_OF_MEMORY;
    }
    if (t->too_large || t->result == CURLE_FILESIZE_EXCEEDED) {
        snprintf(msg, size, "response body exceeds max_response_size (%zu bytes)",
                 t->max_response_size);
        return CBF_E_RESPONSE_TOO_LARGE;
    }
    if (strncmp(detail, HEADERS_TOO_LARGE, sizeof HEADERS_TOO_LARGE - 1) == 0 ||
        (t->result == CURLE_OUT_OF_MEMORY && status > 0)) {
        snprintf(msg, size, "response headers are over libcurl's limits (%s)", detail);
        return CBF_E_RESPONSE_TOO_LARGE;
    }
    snprintf(msg, size, "%s", detail);
    if (t->result == CURLE_OUT_OF_MEMORY) return CBF_E_OUT_OF_MEMORY;
    for (i = 0; i < sizeof result_codes / sizeof result_codes[0]; i++)
        if (result_codes[i].result == t->result) return result_codes[i].code;
    return CBF_E_NETWORK_ERROR;
}

/* libcurl calls the pre-request callback after the connection (TLS included) is up
 * and before the first byte of the request: not called means not sent. Only failures
 * of reaching the server qualify; a certificate refusal would fail again. */
static int unsent(const curl_transfer *t) {
    return t->attempts == 0 &&
           (t->result == CURLE_COULDNT_CONNECT || t->result == CURLE_COULDNT_RESOLVE_HOST ||
            t->result == CURLE_COULDNT_RESOLVE_PROXY || t->result == CURLE_SSL_CONNECT_ERROR ||
            t->result == CURLE_OPERATION_TIMEDOUT);
}

void cbf_transfer_outcome_of(const cbf_transfer *base, cbf_transfer_outcome *out) {
    const curl_transfer *t = (const curl_transfer *)base;
    long version = 0;
    out->status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &version);
    out->multiplexed = version >= CURL_HTTP_VERSION_2_0;
    out->headers = &t->resp_headers;
    out->body = &t->resp_body;
    out->unsent = unsent(t);
    out->error = t->result == CURLE_OK ? NULL : failure(t, out->status, out->message, sizeof out->message);
    timings(t->easy, &out->timings);
}

const char *cbf_transfer_start(cbf_transfer *base, cbf_loop *loop, const char **why) {
    curl_transfer *t = (curl_transfer *)base;
    CURLcode rc = setup(t);
    if (rc == CURLE_OK && cbf_loop_add(loop, t->easy) == 0) return NULL;
    *why = rc == CURLE_OK ? "cannot start the transfer" : curl_easy_strerror(rc);
    return rc == CURLE_OUT_OF_MEMORY || rc == CURLE_OK ? CBF_E_OUT_OF_MEMORY : CBF_E_INVALID_ARGUMENT;
}

void cbf_transfer_stop(cbf_transfer *base, cbf_loop *loop) {
    if (base->attached && loop) cbf_loop_remove(loop, ((curl_transfer *)base)->easy);
}

void cbf_transfer_fresh_connect(cbf_transfer *base, int fresh) {
    curl_easy_setopt(((curl_transfer *)base)->easy, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
}

void cbf_transfer_finished(void *easy, int result) {
    curl_transfer *t = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
    t->result = (CURLcode)result;
    t->base.done = 1;
    t->base.attached = 0;
}
