#include "wire.h"

#include <string.h>
#include <strings.h>

/* Headers a caller may not set: the client computes them (Authorization from `token`,
 * the body framing), or they would change the connection under libcurl's feet. */
static const char *const reserved_headers[] = {
    "Host",    "Connection",     "TE",                "Upgrade",
    "Authorization", "Content-Length", "Transfer-Encoding", "Expect",
};

static int is_tchar(unsigned char ch) {
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return 1;
    switch (ch) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

int cbf_wire_ok(const char *s, size_t len, cbf_wire_kind kind) {
    size_t i;
    if (kind == CBF_WIRE_TOKEN && len == 0) return 0;
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (kind) {
        case CBF_WIRE_TOKEN:
            if (!is_tchar(ch)) return 0;
            break;
        case CBF_WIRE_VALUE:
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return 0;
            break;
        case CBF_WIRE_URL:
            if (ch <= 0x20 || ch >= 0x7f) return 0;
            break;
        }
    }
    return 1;
}

/* Length of the encoded byte `c` ('.', '/' or '\') at s[i], as c itself or %XX. */
static size_t encoded(const char *s, size_t len, size_t i, char c, const char *hex) {
    if (s[i] == c) return 1;
    if (i + 2 < len && s[i] == '%' && s[i + 1] == hex[0] &&
        (s[i + 2] == hex[1] || s[i + 2] == hex[2]))
        return 3;
    return 0;
}

static size_t separator(const char *s, size_t len, size_t i) {
    size_t n = encoded(s, len, i, '/', "2fF");
    return n ? n : encoded(s, len, i, '\\', "5cC");
}

int cbf_wire_has_dot_segment(const char *path, size_t len) {
    size_t i = 0;
    while (i <= len) {
        int dots = 0, other = 0;
        size_t n;
        while (i < len && (n = separator(path, len, i)) == 0) {
            size_t d = encoded(path, len, i, '.', "2eE");
            if (d) {
                dots++;
                i += d;
            } else {
                other = 1;
                i++;
            }
        }
        if (!other && (dots == 1 || dots == 2)) return 1;
        if (i >= len) break;
        i += separator(path, len, i);
    }
    return 0;
}

int cbf_wire_reserved_header(const char *name, size_t len) {
    size_t i;
    for (i = 0; i < sizeof reserved_headers / sizeof reserved_headers[0]; i++)
        if (strlen(reserved_headers[i]) == len && strncasecmp(reserved_headers[i], name, len) == 0)
            return 1;
    return 0;
}
