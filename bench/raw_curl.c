/* The practical ceiling: libcurl driven directly, making the same request the
 * module makes (its headers, as of 0.1.0, an X-Request-Id that changes every call as the
 * module's fresh UUID does, and Accept-Encoding through CURLOPT_ACCEPT_ENCODING, which
 * also sets up libcurl's content decoding). No JSON
 * work at all: the body is sent as read from a file and the answer is only checked
 * (status 200, a non-empty body; the gateway's echo re-encodes the JSON, so its
 * bytes need not be ours).
 *
 *   raw_curl rate URL BODYFILE TOKEN SECONDS MAXCALLS [OPTIONS]
 *       one reused easy handle: a first call (connects; its wall time is printed as
 *       first_seconds), then calls until SECONDS have passed or MAXCALLS were made,
 *       then prints calls, seconds, rate, cpu_us (process user+sys CPU per timed
 *       call) and response_bytes, one key=value a line.
 *   raw_curl rss URL BODYFILE TOKEN N1 N2 [OPTIONS]
 *       makes N1 calls, prints "rss_kb_1=...", goes on to N2 calls in all,
 *       prints "rss_kb_2=...".
 *   raw_curl fanout URL BODYFILE TOKEN COUNT CONCURRENCY [OPTIONS]
 *       COUNT calls through one multi handle, at most CONCURRENCY at once, twice:
 *       on a new multi handle (cold_seconds: connections opened inside) and again
 *       on the same one (warm_seconds, cpu_us of the warm batch).
 *
 * OPTIONS (key=value): ca=FILE (CA bundle, for the gateway's throw-away CA),
 * resolve=HOST:PORT:ADDRESS, http=1.1|2 (2: HTTP/2 over TLS by ALPN, waiting for
 * the first connection to multiplex on it, as the module does; default 1.1).
 *
 * Exit status 0 on success, 1 on a failed call or bad arguments. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} sink;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
    sink *s = userdata;
    size_t n = size * nmemb;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n) cap *= 2;
        char *p = realloc(s->data, cap);
        if (!p) return 0; /* makes curl fail with CURLE_WRITE_ERROR */
        s->data = p;
        s->cap = cap;
    }
    memcpy(s->data + s->len, ptr, n);
    s->len += n;
    return n;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    if (!f) return NULL;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return buf;
}

static long parse_long(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) return -1;
    return v;
}

typedef struct {
    const char *url, *token, *ca, *resolve;
    int http2;
    char *body;
    size_t body_len;
    struct curl_slist *headers, *resolve_list;
} setup;

/* The X-Request-Id header, first in the list: a different value every call, as the
 * module sends (over HTTP/2 a value never seen before costs HPACK work a repeated one
 * does not). The module makes a random UUID; here a counter in its last digits will do:
 * making the id is the module's own cost. */
static char request_id[] = "X-Request-Id: 3f9c2a7e-51d4-4b8e-9a61-000000000000";
static struct curl_slist request_id_node = {request_id, NULL};

static void next_request_id(void) {
    char *d = request_id + sizeof request_id - 2;
    for (; *d != '-'; d--) {
        if (*d == '9') {
            *d = 'a';
            return;
        }
        if (*d != 'f') {
            (*d)++;
            return;
        }
        *d = '0';
    }
}

/* Everything the module sets for a call that matters on the wire. */
static void configure(CURL *h, const setup *st, sink *s) {
    curl_easy_setopt(h, CURLOPT_URL, st->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, &request_id_node);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, st->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st->body_len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_PRIVATE, s);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                     st->http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
    if (st->http2) curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
    if (st->ca) curl_easy_setopt(h, CURLOPT_CAINFO, st->ca);
    if (st->resolve_list) curl_easy_setopt(h, CURLOPT_RESOLVE, st->resolve_list);
}

static int check(CURL *h, CURLcode rc, const sink *s) {
    long status = 0;
    if (rc != CURLE_OK) {
        fprintf(stderr, "raw_curl: %s\n", curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 || s->len == 0) {
        fprintf(stderr, "raw_curl: unexpected answer: status %ld, %zu bytes\n", status, s->len);
        return -1;
    }
    return 0;
}

/* One call; returns 0 when the answer is 200 with a non-empty body. */
static int call(CURL *h, sink *s) {
    next_request_id();
    s->len = 0;
    return check(h, curl_easy_perform(h), s);
}

/* `count` calls on `multi`, at most `conc` at once; one easy handle per slot,
 * reused for its next call. Returns 0 when every call answered 200. */
static int fanout_batch(CURLM *multi, const setup *st, long count, long conc) {
    CURL **slot = calloc((size_t)conc, sizeof *slot);
    sink *sinks = calloc((size_t)conc, sizeof *sinks);
    long started = 0, done = 0, i;
    int failed = 0, running = 0;
    if (!slot || !sinks) {
        free(slot);
        free(sinks);
        return -1;
    }
    for (i = 0; i < conc && started < count; i++, started++) {
        slot[i] = curl_easy_init();
        configure(slot[i], st, &sinks[i]);
        next_request_id();
        curl_multi_add_handle(multi, slot[i]);
    }
    while (done < count && !failed) {
        CURLMsg *msg;
        int left;
        curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left))) {
            CURL *h = msg->easy_handle;
            sink *s;
            if (msg->msg != CURLMSG_DONE) continue;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&s);
            if (check(h, msg->data.result, s) != 0) failed = 1;
            done++;
            curl_multi_remove_handle(multi, h);
            if (started < count && !failed) {
                s->len = 0;
                next_request_id();
                curl_multi_add_handle(multi, h);
                started++;
            }
        }
        if (done < count && !failed) curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    for (i = 0; i < conc; i++) {
        if (!slot[i]) continue;
        curl_multi_remove_handle(multi, slot[i]); /* a no-op when already removed */
        curl_easy_cleanup(slot[i]);
        free(sinks[i].data);
    }
    free(slot);
    free(sinks);
    return failed ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr,
                "usage: raw_curl rate   URL BODYFILE TOKEN SECONDS MAXCALLS [ca=F resolve=H:P:A http=1.1|2]\n"
                "       raw_curl rss    URL BODYFILE TOKEN N1 N2 [...]\n"
                "       raw_curl fanout URL BODYFILE TOKEN COUNT CONCURRENCY [...]\n");
        return 1;
    }
    const char *mode = argv[1];
    setup st = {argv[2], argv[4], NULL, NULL, 0, NULL, 0, NULL, NULL};
    char *end;
    double seconds = strtod(argv[5], &end); /* "rate": may have a fraction */
    if (*end || !(seconds >= 0)) seconds = -1;
    long a = parse_long(argv[5]), b = parse_long(argv[6]);
    int i, bad = 0;
    if (strcmp(mode, "rate") == 0) a = seconds < 0 ? -1 : 0;
    for (i = 7; i < argc; i++) {
        if (strncmp(argv[i], "ca=", 3) == 0) st.ca = argv[i] + 3;
        else if (strncmp(argv[i], "resolve=", 8) == 0) st.resolve = argv[i] + 8;
        else if (strcmp(argv[i], "http=2") == 0) st.http2 = 1;
        else if (strcmp(argv[i], "http=1.1") != 0) bad = 1;
    }
    if (bad || a < 0 || b < 0 ||
        (strcmp(mode, "rate") && strcmp(mode, "rss") && strcmp(mode, "fanout")) ||
        (strcmp(mode, "fanout") == 0 && (a < 1 || b < 1))) {
        fprintf(stderr, "raw_curl: bad arguments\n");
        return 1;
    }
    st.body = read_file(argv[3], &st.body_len);
    if (!st.body) {
        fprintf(stderr, "raw_curl: cannot read %s\n", argv[3]);
        return 1;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    char auth[512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", st.token);
    st.headers = curl_slist_append(st.headers, "Content-Type: application/json");
    st.headers = curl_slist_append(st.headers, "Accept: application/json, text/plain;q=0.9, */*;q=0.8");
    st.headers = curl_slist_append(st.headers, "User-Agent: lua-cloudbase-functions/0.1.0");
    st.headers = curl_slist_append(st.headers, auth);
    st.headers = curl_slist_append(st.headers, "Expect:");
    request_id_node.next = st.headers;
    if (st.resolve) st.resolve_list = curl_slist_append(NULL, st.resolve);

    int failed = 0;
    if (strcmp(mode, "fanout") == 0) {
        CURLM *multi = curl_multi_init();
        double t0 = now(), t1, c1;
        curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
        failed = fanout_batch(multi, &st, a, b) != 0;
        t1 = now();
        c1 = cpu_seconds();
        if (!failed) failed = fanout_batch(multi, &st, a, b) != 0;
        if (!failed)
            printf("cold_seconds=%.6f\nwarm_seconds=%.6f\ncpu_us=%.1f\n", t1 - t0, now() - t1,
                   (cpu_seconds() - c1) * 1e6 / (double)a);
        curl_multi_cleanup(multi);
    } else {
        CURL *h = curl_easy_init();
        sink s = {NULL, 0, 0};
        double t0 = now(), first;
        configure(h, &st, &s);
        failed = call(h, &s) != 0; /* the first call connects */
        first = now() - t0;
        if (!failed && strcmp(mode, "rate") == 0) {
            double limit = seconds, elapsed = 0, c0 = cpu_seconds();
            long n = 0;
            t0 = now();
            while (n < b) {
                if (call(h, &s) != 0) {
                    failed = 1;
                    break;
                }
                n++;
                if ((elapsed = now() - t0) >= limit) break;
            }
            elapsed = now() - t0;
            if (!failed)
                printf("calls=%ld\nseconds=%.6f\nrate=%.1f\nfirst_seconds=%.6f\ncpu_us=%.1f\n"
                       "response_bytes=%zu\n",
                       n, elapsed, elapsed > 0 ? (double)n / elapsed : 0.0, first,
                       n ? (cpu_seconds() - c0) * 1e6 / (double)n : 0.0, s.len);
        } else if (!failed) {
            long n = 1; /* the first call counts */
            for (; n < a && !failed; n++) failed = call(h, &s) != 0;
            if (!failed) printf("rss_kb_1=%ld\n", rss_kb());
            for (; n < b && !failed; n++) failed = call(h, &s) != 0;
            if (!failed) printf("rss_kb_2=%ld\n", rss_kb());
        }
        curl_easy_cleanup(h);
        free(s.data);
    }

    curl_slist_free_all(st.headers);
    curl_slist_free_all(st.resolve_list);
    curl_global_cleanup();
    free(st.body);
    return failed;
}
