#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "transport_curl.h"

/* A socket libcurl asked to watch. `gen` tells a socket from an earlier one that had
 * the same number, so the watch list can say "remove, then add" for it. */
typedef struct {
    int fd;
    int events;
    unsigned long gen;
} watched;

struct cbf_loop {
    cbf_alloc alloc; /* the client's: the loop and its arrays come from it */
    CURLM *multi;
    size_t running; /* transfers added and not yet finished or removed */
    watched *sockets; /* what libcurl wants watched now */
    size_t nsockets, socket_cap;
    struct pollfd *pfds; /* scratch for cbf_loop_step */
    size_t pfd_cap;
    watched *reported; /* what the last cbf_loop_changes told the caller */
    size_t nreported, reported_cap;
    cbf_watch_change *changes; /* the last cbf_loop_changes answer */
    size_t changes_cap;
    unsigned long gen;
    long long deadline_ms; /* monotonic; -1: no timer */
    long keep_connections; /* CURLMOPT_MAXCONNECTS set, 0: libcurl's default */
};

long long cbf_loop_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Grow *p from `old` to `cap` elements of `size` bytes. 0, or -1 out of memory. */
static int grow(cbf_loop *l, void **p, size_t old, size_t cap, size_t size) {
    void *q = cbf_realloc(&l->alloc, *p, old * size, cap * size);
    if (!q) return -1;
    *p = q;
    return 0;
}

/* Room for `need` sockets, and as many poll entries. 0, or -1 out of memory. */
static int grow_sockets(cbf_loop *l, size_t need) {
    size_t cap = l->socket_cap ? l->socket_cap : 8;
    while (cap < need) cap *= 2;
    if (need > l->socket_cap) {
        if (grow(l, (void **)&l->sockets, l->socket_cap, cap, sizeof *l->sockets)) return -1;
        l->socket_cap = cap;
    }
    if (need > l->pfd_cap) {
        if (grow(l, (void **)&l->pfds, l->pfd_cap, cap, sizeof *l->pfds)) return -1;
        l->pfd_cap = cap;
    }
    return 0;
}

static watched *find(watched *list, size_t n, int fd) {
    size_t i;
    for (i = 0; i < n; i++)
        if (list[i].fd == fd) return &list[i];
    return NULL;
}

/* CURLMOPT_SOCKETFUNCTION: record only; never calls back into libcurl or Lua. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    cbf_loop *l = userp;
    watched *w = find(l->sockets, l->nsockets, (int)s);
    (void)easy;
    (void)socketp;
    if (what == CURL_POLL_REMOVE || what == CURL_POLL_NONE) {
        if (w) *w = l->sockets[--l->nsockets];
        return 0;
    }
    if (!w) {
        if (grow_sockets(l, l->nsockets + 1)) return -1;
        w = &l->sockets[l->nsockets++];
        w->fd = (int)s;
        w->gen = ++l->gen;
    }
    w->events = (what & CURL_POLL_IN ? CBF_WATCH_READ : 0) | (what & CURL_POLL_OUT ? CBF_WATCH_WRITE : 0);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: record the deadline; 0 ms means "as soon as you can". */
static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
    cbf_loop *l = userp;
    (void)multi;
    l->deadline_ms = timeout_ms < 0 ? -1 : cbf_loop_clock_ms() + timeout_ms;
    return 0;
}

cbf_loop *cbf_loop_new(cbf_alloc alloc) {
    cbf_loop *l = cbf_realloc(&alloc, NULL, 0, sizeof *l);
    if (!l) return NULL;
    memset(l, 0, sizeof *l);
    l->alloc = alloc;
    l->deadline_ms = -1;
    l->multi = curl_multi_init();
    if (!l->multi || grow_sockets(l, 8)) {
        cbf_loop_free(l);
        return NULL;
    }
    curl_multi_setopt(l->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, (void *)l);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, (void *)l);
    return l;
}

void cbf_loop_free(cbf_loop *l) {
    if (!l) return;
    if (l->multi) curl_multi_cleanup(l->multi);
    cbf_realloc(&l->alloc, l->sockets, l->socket_cap * sizeof *l->sockets, 0);
    cbf_realloc(&l->alloc, l->pfds, l->pfd_cap * sizeof *l->pfds, 0);
    cbf_realloc(&l->alloc, l->reported, l->reported_cap * sizeof *l->reported, 0);
    cbf_realloc(&l->alloc, l->changes, l->changes_cap * sizeof *l->changes, 0);
    cbf_realloc(&l->alloc, l, sizeof *l, 0);
}

int cbf_loop_add(cbf_loop *l, void *easy) {
    /* Room for a socket per transfer up front, so the socket callback rarely allocates. */
    if (grow_sockets(l, l->running + 2) || curl_multi_add_handle(l->multi, easy) != CURLM_OK) return -1;
    l->running++;
    return 0;
}

void cbf_loop_keep_connections(cbf_loop *l, long n) {
    if (n <= l->keep_connections) return; /* never fewer than asked before */
    l->keep_connections = n;
    curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, n);
}

void cbf_loop_remove(cbf_loop *l, void *easy) {
    if (curl_multi_remove_handle(l->multi, easy) == CURLM_OK && l->running > 0) l->running--;
}

size_t cbf_loop_running(const cbf_loop *l) { return l->running; }

/* Hand finished transfers to their owners. */
static int collect(cbf_loop *l) {
    int queued, finished = 0;
    CURLMsg *m;
    while ((m = curl_multi_info_read(l->multi, &queued)) != NULL) {
        CURL *easy = m->easy_handle;
        CURLcode result = m->data.result;
        if (m->msg != CURLMSG_DONE) continue;
        cbf_loop_remove(l, easy); /* m is invalid from here on */
        cbf_transfer_finished(easy, result);
        finished++;
    }
    return finished;
}

static int act(cbf_loop *l, curl_socket_t fd, int mask) {
    int running;
    curl_multi_socket_action(l->multi, fd, mask, &running);
    return collect(l);
}

/* The deadline is left as it is: libcurl reports a new one only when its earliest
 * timer changes, so clearing it here could lose a timer libcurl still holds. */
static int expire_timer(cbf_loop *l) {
    if (l->deadline_ms < 0 || l->deadline_ms > cbf_loop_clock_ms()) return 0;
    return act(l, CURL_SOCKET_TIMEOUT, 0);
}

int cbf_loop_step(cbf_loop *l, int wait_ms) {
    int finished = expire_timer(l), ready;
    size_t i, n;
    if (finished || l->running == 0) return finished;
    /* The socket callback may have added sockets without room for their poll entries:
     * watch what fits (the rest get their turn through libcurl's timer). */
    grow_sockets(l, l->nsockets);
    n = l->nsockets < l->pfd_cap ? l->nsockets : l->pfd_cap;
    if (l->deadline_ms >= 0) {
        long long until = l->deadline_ms - cbf_loop_clock_ms();
        if (until < wait_ms) wait_ms = until < 0 ? 0 : (int)until;
    }
    for (i = 0; i < n; i++) {
        l->pfds[i].fd = l->sockets[i].fd;
        l->pfds[i].events = (short)((l->sockets[i].events & CBF_WATCH_READ ? POLLIN : 0) |
                                    (l->sockets[i].events & CBF_WATCH_WRITE ? POLLOUT : 0));
        l->pfds[i].revents = 0;
    }
    ready = poll(l->pfds, (nfds_t)n, wait_ms);
    if (ready < 0 && errno != EINTR) ready = 0;
    /* The actions below may change l->sockets; l->pfds is this round's snapshot. */
    for (i = 0; ready > 0 && i < n; i++) {
        short re = l->pfds[i].revents;
        int mask = 0;
        if (!re) continue;
        ready--;
        if (re & (POLLIN | POLLHUP)) mask |= CURL_CSELECT_IN;
        if (re & POLLOUT) mask |= CURL_CSELECT_OUT;
        if (re & (POLLERR | POLLNVAL)) mask |= CURL_CSELECT_ERR;
        finished += act(l, (curl_socket_t)l->pfds[i].fd, mask);
    }
    return finished + expire_timer(l);
}

int cbf_loop_action(cbf_loop *l, int fd, int events) {
    int mask = (events & CBF_WATCH_READ ? CURL_CSELECT_IN : 0) | (events & CBF_WATCH_WRITE ? CURL_CSELECT_OUT : 0);
    if (fd < 0) return act(l, CURL_SOCKET_TIMEOUT, 0);
    return act(l, (curl_socket_t)fd, mask) + expire_timer(l);
}

double cbf_loop_timeout(const cbf_loop *l) {
    long long until;
    if (l->deadline_ms < 0) return -1;
    until = l->deadline_ms - cbf_loop_clock_ms();
    return until > 0 ? (double)until / 1000.0 : 0.0;
}

int cbf_loop_changes(cbf_loop *l, const cbf_watch_change **out) {
    size_t i, n = 0, need = l->nreported + l->nsockets;
    if (need > l->changes_cap) {
        if (grow(l, (void **)&l->changes, l->changes_cap, need, sizeof *l->changes)) return -1;
        l->changes_cap = need;
    }
    if (l->nsockets > l->reported_cap) {
        if (grow(l, (void **)&l->reported, l->reported_cap, l->nsockets, sizeof *l->reported)) return -1;
        l->reported_cap = l->nsockets;
    }
    for (i = 0; i < l->nreported; i++) {
        const watched *now = find(l->sockets, l->nsockets, l->reported[i].fd);
        if (!now || now->gen != l->reported[i].gen) {
            l->changes[n].fd = l->reported[i].fd;
            l->changes[n++].events = 0;
        }
    }
    for (i = 0; i < l->nsockets; i++) {
        const watched *was = find(l->reported, l->nreported, l->sockets[i].fd);
        if (!was || was->gen != l->sockets[i].gen || was->events != l->sockets[i].events) {
            l->changes[n].fd = l->sockets[i].fd;
            l->changes[n++].events = l->sockets[i].events;
        }
    }
    if (l->nsockets) memcpy(l->reported, l->sockets, l->nsockets * sizeof *l->reported);
    l->nreported = l->nsockets;
    *out = l->changes;
    return (int)n;
}
