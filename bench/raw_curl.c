/* The practical ceiling for sequential calls: one reused libcurl easy handle
 * doing N POSTs of the same body to the same URL, making the same request the
 * module makes (its headers, as of 0.1.0, and Accept-Encoding through
 * CURLOPT_ACCEPT_ENCODING, which also sets up libcurl's content decoding). No JSON work at all: the body is sent as read from a file and
 * the answer is only checked (status 200, a non-empty body; the gateway's echo
 * re-encodes the JSON, so its bytes need not be ours).
 *
 *   raw_curl rate URL BODYFILE TOKEN SECONDS MAXCALLS
 *       calls until SECONDS have passed or MAXCALLS were made (whichever is
 *       first), then prints calls=N, seconds=S and rate=R, one a line.
 *   raw_curl rss URL BODYFILE TOKEN N1 N2
 *       makes N1 calls, prints "rss_kb_1=...", goes on to N2 calls in all,
 *       prints "rss_kb_2=...".
 *
 * Exit status 0 on success, 1 on a failed call or bad arguments. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* One call; returns 0 when the answer is 200 with a non-empty body. */
static int call(CURL *h, sink *s) {
    long status = 0;
    s->len = 0;
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "raw_curl: %s\n", curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 || s->len == 0) {
        fprintf(stderr, "raw_curl: unexpected answer: status %ld, %zu bytes\n", status,
                s->len);
        return -1;
    }
    return 0;
}

static long parse_long(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) return -1;
    return v;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr,
                "usage: raw_curl rate URL BODYFILE TOKEN SECONDS MAXCALLS\n"
                "       raw_curl rss  URL BODYFILE TOKEN N1 N2\n");
        return 1;
    }
    const char *mode = argv[1], *url = argv[2], *token = argv[4];
    char *end;
    double seconds = strtod(argv[5], &end); /* "rate": may have a fraction */
    if (*end || !(seconds >= 0)) seconds = -1;
    long a = parse_long(argv[5]), b = parse_long(argv[6]);
    if (strcmp(mode, "rate") == 0) a = seconds < 0 ? -1 : 0;
    if (a < 0 || b < 0 || (strcmp(mode, "rate") && strcmp(mode, "rss"))) {
        fprintf(stderr, "raw_curl: bad arguments\n");
        return 1;
    }
    size_t body_len = 0;
    char *body = read_file(argv[3], &body_len);
    if (!body) {
        fprintf(stderr, "raw_curl: cannot read %s\n", argv[3]);
        return 1;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    char auth[512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json, text/plain;q=0.9, */*;q=0.8");
    headers = curl_slist_append(headers, "User-Agent: lua-cloudbase-functions/0.1.0");
    headers = curl_slist_append(headers, auth);
    headers = curl_slist_append(headers, "Expect:");
    sink s = {NULL, 0, 0};

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);

    int failed = 0;
    if (call(h, &s) != 0) { /* warm-up: connects */
        failed = 1;
    } else if (strcmp(mode, "rate") == 0) {
        double limit = seconds, t0 = now(), elapsed = 0;
        long n = 0;
        while (n < b) {
            if (call(h, &s) != 0) {
                failed = 1;
                break;
            }
            n++;
            if ((n & 15) == 0 && (elapsed = now() - t0) >= limit) break;
        }
        elapsed = now() - t0;
        if (!failed)
            printf("calls=%ld\nseconds=%.6f\nrate=%.1f\n", n, elapsed,
                   elapsed > 0 ? (double)n / elapsed : 0.0);
    } else {
        long n = 1; /* the warm-up call counts */
        for (; n < a && !failed; n++) failed = call(h, &s) != 0;
        if (!failed) printf("rss_kb_1=%ld\n", rss_kb());
        for (; n < b && !failed; n++) failed = call(h, &s) != 0;
        if (!failed) printf("rss_kb_2=%ld\n", rss_kb());
    }

    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    free(s.data);
    free(body);
    return failed;
}
