#include "request_id.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/random.h>
#endif

/* Read all n bytes from /dev/urandom (no getrandom, or a kernel without it). */
static int urandom_bytes(unsigned char *out, size_t n) {
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0) return -1;
    while (got < n) {
        ssize_t r = read(fd, out + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    return got == n ? 0 : -1;
}

int cbf_random_bytes(unsigned char *out, size_t n) {
#if defined(__linux__)
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return urandom_bytes(out, n); /* ENOSYS: a kernel before 3.17 */
        got += (size_t)r;
    }
    return 0;
#else
    return urandom_bytes(out, n);
#endif
}

int cbf_request_id_new(char *out) {
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    int i, o = 0;
    if (cbf_random_bytes(b, sizeof b)) return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
    return 0;
}
