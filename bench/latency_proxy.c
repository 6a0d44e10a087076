/* A TCP proxy on loopback that adds a network round trip to everything passing
 * through it, so that `make bench` can measure clients the way they meet a real
 * network (TLS handshakes, request/response flights) without leaving the machine.
 *
 *   latency_proxy --listen 127.0.0.1:0 --upstream 127.0.0.1:PORT --rtt-ms 40
 *                 [--max-seconds 1200]
 *
 * Prints "port=N" (the port it listens on) on stdout once it accepts connections.
 *
 * The model, with d = RTT/2 the one-way delay:
 * - the upstream connect is made d after the client's connect was accepted (the
 *   SYN's trip to the server);
 * - the client's connect completes at once on loopback, but a real client could send
 *   nothing before the SYN-ACK came back, 2d after its connect: its bytes count as sent
 *   no earlier than that, so a new connection costs one RTT, as TCP's handshake does;
 * - every chunk read on one side is written to the other d after it was read (in
 *   order; the end of a stream too, as a half close).
 * So a request on a warm connection costs 1 RTT, TCP + TLS 1.3 + a request 3 RTT.
 * Bandwidth is not limited: the bench's messages are a few hundred bytes.
 *
 * Safety: listen and upstream addresses must be loopback (127.0.0.0/8 or ::1); the
 * proxy exits when its parent dies (PR_SET_PDEATHSIG, and a getppid check once a
 * second where that signal does not come) and after --max-seconds (default 1200)
 * in any case. One process, one thread, ppoll(2). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024             /* client connections at once */
#define READ_SIZE 65536            /* one read, one chunk */
#define QUEUE_LIMIT (1024 * 1024)  /* bytes queued one way before reading pauses */

typedef struct chunk {
    struct chunk *next;
    double due; /* when it may be written to the other side */
    size_t len, off;
    int eof; /* the end of the stream: shut the other side down for writing */
    char data[];
} chunk;

/* One direction of a connection: bytes read from fd[from], queued for fd[!from]. */
typedef struct {
    chunk *head, *tail;
    size_t queued;
    int read_eof; /* nothing more will be read */
    int sent_eof; /* the half close was passed on */
    int blocked;  /* the last write would have blocked */
} flow;

enum { CLIENT = 0, UPSTREAM = 1 };

typedef struct {
    int fd[2];
    double accepted;
    int upstream_state; /* 0 not started, 1 connecting, 2 connected */
    flow flows[2];      /* flows[CLIENT]: client -> upstream; flows[UPSTREAM]: back */
} conn;

static conn *conns[MAX_CONNS];
static int nconns;
static double one_way; /* seconds */
static struct sockaddr_storage upstream_addr;
static socklen_t upstream_len;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "latency_proxy: %s: %s\n", what, errno ? strerror(errno) : "invalid");
    exit(1);
}

/* "127.0.0.1:8443" or "[::1]:8443", loopback only. */
static socklen_t parse_loopback(const char *text, struct sockaddr_storage *ss) {
    char host[64];
    const char *colon = strrchr(text, ':');
    size_t hlen;
    long port;
    char *end;
    if (!colon) return 0;
    hlen = (size_t)(colon - text);
    if (hlen == 0 || hlen >= sizeof host) return 0;
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end || colon[1] == '\0' || port < 0 || port > 65535) return 0;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && host[hlen - 1] == ']') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        host[hlen - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1) return 0;
        if (!IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)) return 0;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((unsigned short)port);
        return sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return 0;
        if ((ntohl(a->sin_addr.s_addr) >> 24) != 127) return 0;
        a->sin_family = AF_INET;
        a->sin_port = htons((unsigned short)port);
        return sizeof *a;
    }
}

static void nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void drop(conn *c) {
    int i;
    for (i = 0; i < 2; i++) {
        chunk *k = c->flows[i].head;
        while (k) {
            chunk *next = k->next;
            free(k);
            k = next;
        }
        if (c->fd[i] >= 0) close(c->fd[i]);
    }
    free(c);
}

static int enqueue(flow *f, const char *data, size_t len, int eof, double due) {
    chunk *k = malloc(sizeof *k + len);
    if (!k) return -1;
    if (f->tail && f->tail->due > due) due = f->tail->due; /* stay in order */
    k->next = NULL;
    k->due = due;
    k->len = len;
    k->off = 0;
    k->eof = eof;
    if (len) memcpy(k->data, data, len);
    if (f->tail) f->tail->next = k;
    else f->head = k;
    f->tail = k;
    f->queued += len;
    return 0;
}

/* Read what side `from` has; returns -1 when the connection must go. */
static int pump_in(conn *c, int from, double t) {
    static char buf[READ_SIZE];
    flow *f = &c->flows[from];
    ssize_t n = recv(c->fd[from], buf, sizeof buf, 0);
    double due = t + one_way;
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    /* The client could not have sent before its handshake completed (see the top). */
    if (from == CLIENT && due < c->accepted + 3 * one_way) due = c->accepted + 3 * one_way;
    if (n == 0) f->read_eof = 1;
    return enqueue(f, buf, (size_t)n, n == 0, due);
}

/* Write what is due from flow `from` to the other side; -1: drop the connection. */
static int pump_out(conn *c, int from, double t) {
    flow *f = &c->flows[from];
    int to = !from;
    f->blocked = 0;
    if (to == UPSTREAM && c->upstream_state != 2) return 0;
    while (f->head && f->head->due <= t) {
        chunk *k = f->head;
        if (k->eof) {
            shutdown(c->fd[to], SHUT_WR);
            f->sent_eof = 1;
        } else {
            while (k->off < k->len) {
                ssize_t n = send(c->fd[to], k->data + k->off, k->len - k->off, MSG_NOSIGNAL);
                if (n < 0) {
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        f->blocked = 1;
                        return 0;
                    }
                    return -1;
                }
                k->off += (size_t)n;
                f->queued -= (size_t)n;
            }
        }
        f->head = k->next;
        if (!f->head) f->tail = NULL;
        free(k);
    }
    return 0;
}

static int start_upstream(conn *c) {
    int fd = socket(upstream_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    c->fd[UPSTREAM] = fd;
    nodelay(fd);
    if (connect(fd, (struct sockaddr *)&upstream_addr, upstream_len) == 0) {
        c->upstream_state = 2;
    } else if (errno == EINPROGRESS) {
        c->upstream_state = 1;
    } else {
        return -1;
    }
    return 0;
}

static void accept_all(int lfd, double t) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        conn *c;
        if (fd < 0) return; /* EAGAIN, or a transient error: poll again */
        if (nconns == MAX_CONNS || !(c = calloc(1, sizeof *c))) {
            close(fd);
            continue;
        }
        nodelay(fd);
        c->fd[CLIENT] = fd;
        c->fd[UPSTREAM] = -1;
        c->accepted = t;
        conns[nconns++] = c;
    }
}

static double earliest(double a, double b) { return a < b ? a : b; }

int main(int argc, char **argv) {
    const char *listen_at = NULL, *upstream = NULL;
    double rtt_ms = -1, max_seconds = 1200;
    struct sockaddr_storage la;
    socklen_t la_len;
    int lfd, i, one = 1;
    pid_t parent = getppid();
    static struct pollfd pfd[1 + 2 * MAX_CONNS];

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0) listen_at = argv[i + 1];
        else if (strcmp(argv[i], "--upstream") == 0) upstream = argv[i + 1];
        else if (strcmp(argv[i], "--rtt-ms") == 0) rtt_ms = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--max-seconds") == 0) max_seconds = strtod(argv[i + 1], NULL);
        else break;
    }
    if (i != argc || !listen_at || !upstream || !(rtt_ms >= 0 && rtt_ms <= 10000) ||
        !(max_seconds >= 1 && max_seconds <= 86400)) {
        fprintf(stderr, "usage: latency_proxy --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT "
                        "--rtt-ms MS [--max-seconds S]\n");
        return 2;
    }
    if (!(la_len = parse_loopback(listen_at, &la))) {
        fprintf(stderr, "latency_proxy: --listen must be a loopback address:port, not %s\n", listen_at);
        return 2;
    }
    if (!(upstream_len = parse_loopback(upstream, &upstream_addr))) {
        fprintf(stderr, "latency_proxy: --upstream must be a loopback address:port, not %s\n", upstream);
        return 2;
    }
    one_way = rtt_ms / 2000.0;

    /* Bounded life: gone with the bench that started it, or after max_seconds. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* Wake up on time: the default 50 µs timer slack, twice a call, is 1 % of a 10 ms RTT. */
    prctl(PR_SET_TIMERSLACK, 1UL);
    if (getppid() != parent) return 0;
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)max_seconds);

    lfd = socket(la.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&la, la_len) != 0) die("bind");
    if (listen(lfd, 1024) != 0) die("listen");
    la_len = sizeof la;
    if (getsockname(lfd, (struct sockaddr *)&la, &la_len) != 0) die("getsockname");
    printf("port=%u\n", (unsigned)ntohs(la.ss_family == AF_INET ? ((struct sockaddr_in *)&la)->sin_port
                                                           : ((struct sockaddr_in6 *)&la)->sin6_port));
    fflush(stdout);

    for (;;) {
        double t = now(), wake = t + 1.0; /* wake up at least once a second: parent alive? */
        int n = 0, k;
        struct timespec ts;
        if (getppid() != parent) return 0;

        /* Due work first: upstream connects and writes. */
        for (k = 0; k < nconns; k++) {
            conn *c = conns[k];
            int bad = 0, d;
            if (c->upstream_state == 0 && t >= c->accepted + one_way) bad = start_upstream(c) != 0;
            for (d = 0; d < 2 && !bad; d++) bad = pump_out(c, d, t) != 0;
            if (bad || (c->flows[CLIENT].sent_eof && c->flows[UPSTREAM].sent_eof)) {
                drop(c);
                conns[k--] = conns[--nconns];
            }
        }

        pfd[n].fd = lfd;
        pfd[n++].events = nconns < MAX_CONNS ? POLLIN : 0;
        for (k = 0; k < nconns; k++) {
            conn *c = conns[k];
            int side;
            if (c->upstream_state == 0) wake = earliest(wake, c->accepted + one_way);
            for (side = 0; side < 2; side++) {
                flow *in = &c->flows[side], *out = &c->flows[!side]; /* read from / write to side */
                short ev = 0;
                if (c->fd[side] < 0) {
                    pfd[n].fd = -1;
                } else {
                    if (side == UPSTREAM && c->upstream_state == 1) {
                        ev = POLLOUT;
                    } else {
                        if (!in->read_eof && in->queued < QUEUE_LIMIT) ev |= POLLIN;
                        if (out->blocked) ev |= POLLOUT;
                    }
                    /* Nothing wanted: leave it out, or a half-closed socket's POLLHUP
                     * would wake us in a loop. */
                    pfd[n].fd = ev ? c->fd[side] : -1;
                }
                pfd[n].events = ev;
                pfd[n].revents = 0;
                n++;
                if (out->head && !out->blocked && !(side == UPSTREAM && c->upstream_state != 2))
                    wake = earliest(wake, out->head->due);
            }
        }
        if (wake < t) wake = t;
        ts.tv_sec = (time_t)(wake - t);
        ts.tv_nsec = (long)((wake - t - (double)ts.tv_sec) * 1e9);
        if (ppoll(pfd, (nfds_t)n, &ts, NULL) < 0 && errno != EINTR) die("ppoll");

        t = now();
        /* pfd[1 + 2k + side] belongs to conns[k], as laid out above (accept comes last:
         * it appends to conns). */
        for (k = 0; k < nconns; k++) {
            conn *c = conns[k];
            int side, bad = 0;
            for (side = 0; side < 2 && !bad; side++) {
                short re = pfd[1 + 2 * k + side].revents;
                if (c->fd[side] < 0 || !re) continue;
                if (side == UPSTREAM && c->upstream_state == 1) {
                    int err = 0;
                    socklen_t len = sizeof err;
                    if (getsockopt(c->fd[side], SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) bad = 1;
                    else c->upstream_state = 2;
                    continue;
                }
                if (re & (POLLIN | POLLHUP | POLLERR)) {
                    if (!c->flows[side].read_eof) bad = pump_in(c, side, t) != 0;
                    else if (re & POLLERR) bad = 1;
                }
            }
            if (bad) {
                drop(c);
                conns[k] = conns[--nconns];
                pfd[1 + 2 * k] = pfd[1 + 2 * nconns];
                pfd[2 + 2 * k] = pfd[2 + 2 * nconns];
                k--;
            }
        }
        if (pfd[0].revents & POLLIN) accept_all(lfd, t);
    }
}
