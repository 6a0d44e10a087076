/* JSON encoder: Lua value -> JSON text, exact for Lua 5.4 numbers.
 *
 * - Integers are written exactly (full int64) by a hand-rolled formatter.
 * - Floats get the shortest digit string that reads back to the same double
 *   (Grisu2 plus a strtod-checked correction, see below), and ".0" when the
 *   text would otherwise look like an integer, so a Lua float stays a float
 *   across a round trip. No printf; the strtod checks read texts without a
 *   decimal point, so the C locale's decimal point cannot leak in.
 * - Strings are validated as UTF-8 and copied in runs; only '"', '\\' and
 *   control characters are escaped.
 *
 * The encoder never calls Lua code and never raises: it reads tables with raw
 * accesses, and a value it cannot encode fills `err` with a message that names
 * the value's path ("cannot encode a function at payload.items[3]"). */
#include "json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_MT_NAME "cloudbase.functions.array_mt"

/* ---------------------------------------------------------------- tables */

static const char digit_pairs[201] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899"
    ;

/* ------------------------------------------------------- output helpers */

/* One table being encoded, with the child it is at. The frames from the root
 * down are the current path: for cycle detection and for error messages. */
typedef struct {
    const void *table;
    int idx;         /* its stack slot */
    int is_object;
    int pending;     /* object: the first key/value pair is already pushed */
    lua_Integer i;   /* array: the current element */
    lua_Integer n;   /* array: the length */
    int key_kind;    /* KEY_NONE, KEY_INDEX (i) or KEY_NAME: the current child */
    const char *name;
    size_t name_len;
} enc_frame;

enum { KEY_NONE, KEY_INDEX, KEY_NAME };

#define INLINE_FRAMES 32

typedef struct {
    lua_State *L;
    cbf_buffer *out;
    cbf_json_error *err;
    const char *root;
    enc_frame *frames; /* `inline_frames`, or a userdata in slot `anchor` past them */
    int anchor;        /* stack slot below the value: owns the frames if they grow */
    int depth;         /* frames in use */
    int cap;
    int array_mt_known;
    const void *array_mt;
    enc_frame inline_frames[INLINE_FRAMES];
} encoder;

/* Room for n more bytes (plus the NUL cbf_buffer keeps room for). */
static int room(cbf_buffer *b, size_t n) {
    if (b->cap - b->len > n) return 0;
    return cbf_buffer_reserve(b, n);
}

static int put(encoder *e, const char *s, size_t n) {
    cbf_buffer *b = e->out;
    if (room(b, n) != 0) return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

static int put_char(encoder *e, char c) {
    cbf_buffer *b = e->out;
    if (room(b, 1) != 0) return -1;
    b->data[b->len++] = c;
    return 0;
}

/* ------------------------------------------------------- error messages */

typedef struct {
    char *s;
    size_t len, cap;
    int truncated;
} msg_writer;

static void mw_put(msg_writer *w, const char *s, size_t n) {
    size_t left = w->cap - 1 - w->len;
    if (n > left) {
        n = left;
        w->truncated = 1;
    }
    memcpy(w->s + w->len, s, n);
    w->len += n;
    w->s[w->len] = '\0';
}

static void mw_str(msg_writer *w, const char *s) { mw_put(w, s, strlen(s)); }

static void mw_int(msg_writer *w, lua_Integer i) {
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0) *--p = '-';
    mw_put(w, p, (size_t)(tmp + sizeof tmp - p));
}

static int is_identifier(const char *s, size_t n) {
    size_t i;
    if (n == 0) return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return 0;
    }
    return 1;
}

/* A key as a quoted Lua string literal, bytes outside printable ASCII as \xNN. */
static void mw_quoted(msg_writer *w, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t i;
    mw_put(w, "\"", 1);
    for (i = 0; i < n && !w->truncated; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2];
            esc[0] = '\\';
            esc[1] = (char)c;
            mw_put(w, esc, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            char esc[4];
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            mw_put(w, esc, 4);
        } else {
            mw_put(w, (const char *)&c, 1);
        }
    }
    mw_put(w, "\"", 1);
}

/* The path through the first n frames. */
static void mw_path(msg_writer *w, const encoder *e, int n) {
    int k;
    mw_str(w, e->root ? e->root : "value");
    for (k = 0; k < n && !w->truncated; k++) {
        const enc_frame *f = &e->frames[k];
        if (f->key_kind == KEY_INDEX) {
            mw_put(w, "[", 1);
            mw_int(w, f->i);
            mw_put(w, "]", 1);
        } else if (f->key_kind == KEY_NAME) {
            if (is_identifier(f->name, f->name_len)) {
                mw_put(w, ".", 1);
                mw_put(w, f->name, f->name_len);
            } else {
                mw_put(w, "[", 1);
                mw_quoted(w, f->name, f->name_len);
                mw_put(w, "]", 1);
            }
        }
    }
}

/* "<what><detail> at <path through n frames>"; always returns -1. */
static int fail_path(encoder *e, const char *what, const char *detail, int n) {
    msg_writer w;
    w.s = e->err->message;
    w.cap = sizeof e->err->message;
    w.len = 0;
    w.truncated = 0;
    w.s[0] = '\0';
    mw_str(&w, what);
    if (detail) mw_str(&w, detail);
    mw_str(&w, " at ");
    mw_path(&w, e, n);
    if (w.truncated) memcpy(w.s + w.len - 3, "...", 3);
    return -1;
}

/* The same at the current path. */
static int fail(encoder *e, const char *what, const char *detail) {
    return fail_path(e, what, detail, e->depth);
}

static int fail_oom(encoder *e) {
    strcpy(e->err->message, "out of memory");
    return -1;
}

/* -------------------------------------------------------------- numbers */

/* Writes the decimal digits of u ending just before `end`; returns the start. */
static char *format_u64(char *end, uint64_t u) {
    while (u >= 100) {
        unsigned i = (unsigned)(u % 100) * 2;
        u /= 100;
        *--end = digit_pairs[i + 1];
        *--end = digit_pairs[i];
    }
    if (u >= 10) {
        unsigned i = (unsigned)u * 2;
        *--end = digit_pairs[i + 1];
        *--end = digit_pairs[i];
    } else {
        *--end = (char)('0' + u);
    }
    return end;
}

static int put_integer(encoder *e, lua_Integer i) {
    char tmp[24];
    char *end = tmp + sizeof tmp;
    char *p = format_u64(end, i < 0 ? 0 - (uint64_t)i : (uint64_t)i);
    if (i < 0) *--p = '-';
    return put(e, p, (size_t)(end - p));
}

/* Grisu2 (Loitsch, "Printing Floating-Point Numbers Quickly and Accurately
 * with Integers", PLDI 2010): digits of the value inside its rounding interval,
 * computed with 64-bit "do-it-yourself" floats. The result always reads back to
 * the same double, and is the shortest such string but in about 1 case in
 * 10^4, which shorten() below repairs. */
typedef struct {
    uint64_t f;
    int e;
} diy_fp;

static int clz64(uint64_t x) {
#if defined(__GNUC__)
    return __builtin_clzll(x);
#else
    int n = 0;
    while (!(x & ((uint64_t)1 << 63))) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

static diy_fp diy_normalize(diy_fp x) {
    int s = clz64(x.f);
    x.f <<= s;
    x.e -= s;
    return x;
}

/* The upper 64 bits of the 128-bit product, rounded. */
static diy_fp diy_mul(diy_fp x, diy_fp y) {
    const uint64_t m32 = 0xFFFFFFFFu;
    uint64_t a = x.f >> 32, b = x.f & m32, c = y.f >> 32, d = y.f & m32;
    uint64_t ac = a * c, bc = b * c, ad = a * d, bd = b * d;
    uint64_t mid = (bd >> 32) + (ad & m32) + (bc & m32) + ((uint64_t)1 << 31);
    diy_fp r;
    r.f = ac + (ad >> 32) + (bc >> 32) + (mid >> 32);
    r.e = x.e + y.e + 64;
    return r;
}

/* 10^k ~= f * 2^e for k = -348, -340, ..., 340 (f normalized, rounded). */
static const struct {
    uint64_t f;
    int e;
    int k;
} cached_powers[] = {
    {0xFA8FD5A0081C0288ULL, -1220, -348},
    {0xBAAEE17FA23EBF76ULL, -1193, -340},
    {0x8B16FB203055AC76ULL, -1166, -332},
    {0xCF42894A5DCE35EAULL, -1140, -324},
    {0x9A6BB0AA55653B2DULL, -1113, -316},
    {0xE61ACF033D1A45DFULL, -1087, -308},
    {0xAB70FE17C79AC6CAULL, -1060, -300},
    {0xFF77B1FCBEBCDC4FULL, -1034, -292},
    {0xBE5691EF416BD60CULL, -1007, -284},
    {0x8DD01FAD907FFC3CULL, -980, -276},
    {0xD3515C2831559A83ULL, -954, -268},
    {0x9D71AC8FADA6C9B5ULL, -927, -260},
    {0xEA9C227723EE8BCBULL, -901, -252},
    {0xAECC49914078536DULL, -874, -244},
    {0x823C12795DB6CE57ULL, -847, -236},
    {0xC21094364DFB5637ULL, -821, -228},
    {0x9096EA6F3848984FULL, -794, -220},
    {0xD77485CB25823AC7ULL, -768, -212},
    {0xA086CFCD97BF97F4ULL, -741, -204},
    {0xEF340A98172AACE5ULL, -715, -196},
    {0xB23867FB2A35B28EULL, -688, -188},
    {0x84C8D4DFD2C63F3BULL, -661, -180},
    {0xC5DD44271AD3CDBAULL, -635, -172},
    {0x936B9FCEBB25C996ULL, -608, -164},
    {0xDBAC6C247D62A584ULL, -582, -156},
    {0xA3AB66580D5FDAF6ULL, -555, -148},
    {0xF3E2F893DEC3F126ULL, -529, -140},
    {0xB5B5ADA8AAFF80B8ULL, -502, -132},
    {0x87625F056C7C4A8BULL, -475, -124},
    {0xC9BCFF6034C13053ULL, -449, -116},
    {0x964E858C91BA2655ULL, -422, -108},
    {0xDFF9772470297EBDULL, -396, -100},
    {0xA6DFBD9FB8E5B88FULL, -369, -92},
    {0xF8A95FCF88747D94ULL, -343, -84},
    {0xB94470938FA89BCFULL, -316, -76},
    {0x8A08F0F8BF0F156BULL, -289, -68},
    {0xCDB02555653131B6ULL, -263, -60},
    {0x993FE2C6D07B7FACULL, -236, -52},
    {0xE45C10C42A2B3B06ULL, -210, -44},
    {0xAA242499697392D3ULL, -183, -36},
    {0xFD87B5F28300CA0EULL, -157, -28},
    {0xBCE5086492111AEBULL, -130, -20},
    {0x8CBCCC096F5088CCULL, -103, -12},
    {0xD1B71758E219652CULL, -77, -4},
    {0x9C40000000000000ULL, -50, 4},
    {0xE8D4A51000000000ULL, -24, 12},
    {0xAD78EBC5AC620000ULL, 3, 20},
    {0x813F3978F8940984ULL, 30, 28},
    {0xC097CE7BC90715B3ULL, 56, 36},
    {0x8F7E32CE7BEA5C70ULL, 83, 44},
    {0xD5D238A4ABE98068ULL, 109, 52},
    {0x9F4F2726179A2245ULL, 136, 60},
    {0xED63A231D4C4FB27ULL, 162, 68},
    {0xB0DE65388CC8ADA8ULL, 189, 76},
    {0x83C7088E1AAB65DBULL, 216, 84},
    {0xC45D1DF942711D9AULL, 242, 92},
    {0x924D692CA61BE758ULL, 269, 100},
    {0xDA01EE641A708DEAULL, 295, 108},
    {0xA26DA3999AEF774AULL, 322, 116},
    {0xF209787BB47D6B85ULL, 348, 124},
    {0xB454E4A179DD1877ULL, 375, 132},
    {0x865B86925B9BC5C2ULL, 402, 140},
    {0xC83553C5C8965D3DULL, 428, 148},
    {0x952AB45CFA97A0B3ULL, 455, 156},
    {0xDE469FBD99A05FE3ULL, 481, 164},
    {0xA59BC234DB398C25ULL, 508, 172},
    {0xF6C69A72A3989F5CULL, 534, 180},
    {0xB7DCBF5354E9BECEULL, 561, 188},
    {0x88FCF317F22241E2ULL, 588, 196},
    {0xCC20CE9BD35C78A5ULL, 614, 204},
    {0x98165AF37B2153DFULL, 641, 212},
    {0xE2A0B5DC971F303AULL, 667, 220},
    {0xA8D9D1535CE3B396ULL, 694, 228},
    {0xFB9B7CD9A4A7443CULL, 720, 236},
    {0xBB764C4CA7A44410ULL, 747, 244},
    {0x8BAB8EEFB6409C1AULL, 774, 252},
    {0xD01FEF10A657842CULL, 800, 260},
    {0x9B10A4E5E9913129ULL, 827, 268},
    {0xE7109BFBA19C0C9DULL, 853, 276},
    {0xAC2820D9623BF429ULL, 880, 284},
    {0x80444B5E7AA7CF85ULL, 907, 292},
    {0xBF21E44003ACDD2DULL, 933, 300},
    {0x8E679C2F5E44FF8FULL, 960, 308},
    {0xD433179D9C8CB841ULL, 986, 316},
    {0x9E19DB92B4E31BA9ULL, 1013, 324},
    {0xEB96BF6EBADF77D9ULL, 1039, 332},
    {0xAF87023B9BF0EE6BULL, 1066, 340},
};

#define GRISU_ALPHA (-60)

static const uint32_t pow10_u32[] = {1,      10,      100,      1000,      10000,
                                     100000, 1000000, 10000000, 100000000, 1000000000};

static int count_digits_u32(uint32_t x) {
    int n = 1;
    while (n < 10 && x >= pow10_u32[n]) n++;
    return n;
}

/* Step the last digit down while that stays inside the interval and brings
 * the number closer to the exact value. */
static void grisu_round(char *buf, int n, uint64_t dist, uint64_t delta, uint64_t rest,
                        uint64_t ten_k) {
    while (rest < dist && delta - rest >= ten_k &&
           (rest + ten_k < dist || dist - rest > rest + ten_k - dist)) {
        buf[n - 1]--;
        rest += ten_k;
    }
}

/* Digits of v > 0 (finite) into buf; v = digits * 10^*K. Returns the count. */
static int grisu2(double v, char *buf, int *K) {
    uint64_t bits, frac, delta, dist, p2, one_f;
    uint32_t p1;
    int bexp, lower_closer, f, k, idx, one_e, n = 0, kappa;
    diy_fp w, mp, mm, c, W, Mp, Mm;

    memcpy(&bits, &v, sizeof bits);
    frac = bits & (((uint64_t)1 << 52) - 1);
    bexp = (int)((bits >> 52) & 0x7FF);
    if (bexp) {
        w.f = frac | ((uint64_t)1 << 52);
        w.e = bexp - 1075;
    } else {
        w.f = frac;
        w.e = -1074;
    }
    lower_closer = frac == 0 && bexp > 1;
    mp.f = (w.f << 1) + 1;
    mp.e = w.e - 1;
    if (lower_closer) {
        mm.f = (w.f << 2) - 1;
        mm.e = w.e - 2;
    } else {
        mm.f = (w.f << 1) - 1;
        mm.e = w.e - 1;
    }
    mp = diy_normalize(mp);
    mm.f <<= mm.e - mp.e;
    mm.e = mp.e;
    w = diy_normalize(w);

    /* A cached power c with ALPHA <= w.e + c.e + 64 <= ALPHA + 28. */
    f = GRISU_ALPHA - mp.e - 1;
    k = (f * 78913) / (1 << 18) + (f > 0); /* ceil(f * log10(2)) */
    idx = (348 + k + 7) / 8;
    c.f = cached_powers[idx].f;
    c.e = cached_powers[idx].e;
    W = diy_mul(w, c);
    Mp = diy_mul(mp, c);
    Mm = diy_mul(mm, c);
    Mm.f++; /* stay strictly inside the interval despite the rounding */
    Mp.f--;
    *K = -cached_powers[idx].k;

    one_e = -Mp.e;
    one_f = (uint64_t)1 << one_e;
    delta = Mp.f - Mm.f;
    dist = Mp.f - W.f;
    p1 = (uint32_t)(Mp.f >> one_e);
    p2 = Mp.f & (one_f - 1);

    for (kappa = count_digits_u32(p1); kappa > 0;) {
        uint32_t pw = pow10_u32[kappa - 1];
        uint64_t rest;
        buf[n++] = (char)('0' + p1 / pw);
        p1 %= pw;
        kappa--;
        rest = ((uint64_t)p1 << one_e) + p2;
        if (rest <= delta) {
            *K += kappa;
            grisu_round(buf, n, dist, delta, rest, (uint64_t)pw << one_e);
            return n;
        }
    }
    for (;;) {
        p2 *= 10;
        delta *= 10;
        dist *= 10;
        buf[n++] = (char)('0' + (p2 >> one_e));
        p2 &= one_f - 1;
        kappa--;
        if (p2 <= delta) break;
    }
    *K += kappa;
    grisu_round(buf, n, dist, delta, p2, one_f);
    return n;
}

/* Grisu2 narrows the rounding interval by a hair to stay safe, so it misses
 * the shortest string when that one lies right at the interval's edge (about
 * 1 double in 10^4). It then returns 16 or 17 digits that differ from the
 * short string by a few units in the last place: "97.81025699999999" for
 * 97.810257. These helpers find the short string again; every candidate is
 * checked with strtod on "<digits>e<exp>", a text without a decimal point,
 * so it reads the same in every locale. */

/* The first p digits of d[0, n), rounded up when `up`, into out; *exp10 is
 * the exponent of the last kept digit. Returns the digit count. */
static int cut_digits(const char *d, int n, int K, int p, int up, char *out, int *exp10) {
    int i;
    memcpy(out, d, (size_t)p);
    *exp10 = K + (n - p);
    if (!up) return p;
    for (i = p - 1; i >= 0 && out[i] == '9'; i--) out[i] = '0';
    if (i >= 0) {
        out[i]++;
        return p;
    }
    out[0] = '1'; /* 99..9 rounded up */
    *exp10 += p;
    return 1;
}

static int reads_back(double v, const char *digits, int n, int exp10) {
    char text[40];
    char *o = text + n;
    int ax = exp10 < 0 ? -exp10 : exp10;
    memcpy(text, digits, (size_t)n);
    *o++ = 'e';
    if (exp10 < 0) *o++ = '-';
    if (ax >= 100) *o++ = (char)('0' + ax / 100);
    if (ax >= 10) *o++ = (char)('0' + ax / 10 % 10);
    *o++ = (char)('0' + ax % 10);
    *o = '\0';
    return strtod(text, NULL) == v;
}

/* d[0, n) holds 16 or 17 digits; replace them by fewer while those read back. */
static int shorten(double v, char *d, int n, int *K) {
    char c[24];
    int run = 0, m, e10, pass, shorter = 1;
    uint64_t bits, sig;
    memcpy(&bits, &v, sizeof bits);
    sig = bits & (((uint64_t)1 << 52) - 1);
    if (bits & ((uint64_t)0x7FF << 52)) sig |= (uint64_t)1 << 52;

    /* A run of 9s or 0s before the last digit: "...6999999999x". */
    while (run < n - 2 && d[n - 2 - run] == d[n - 2] && (d[n - 2] == '9' || d[n - 2] == '0')) run++;
    if (run >= 3) {
        m = cut_digits(d, n, *K, n - 1 - run, d[n - 2] == '9', c, &e10);
        if (reads_back(v, c, m, e10)) {
            memcpy(d, c, (size_t)m);
            *K = e10;
            n = m;
        }
    }
    /* Then the two neighbours one digit shorter, nearer first, as long as one
     * reads back (Grisu2 can be two digits long: 17 where 15 do). A neighbour
     * reads back only if it is within half an ulp of v, so within one ulp of
     * d, which is within half an ulp too: in units of d's last digit, within
     * ulp / 10^K = digits / significand. That rules out most tries. */
    while (shorter && n > 1) {
        uint64_t dv = 0;
        double limit;
        int i;
        for (i = 0; i < n; i++) dv = dv * 10 + (uint64_t)(d[i] - '0');
        limit = (double)dv / (double)sig * 1.001 + 0.001;
        shorter = 0;
        for (pass = 0; pass < 2 && !shorter; pass++) {
            int up = (d[n - 1] >= '5') != (pass == 1);
            int units = up ? 10 - (d[n - 1] - '0') : d[n - 1] - '0';
            if ((double)units > limit) continue;
            m = cut_digits(d, n, *K, n - 1, up, c, &e10);
            if (reads_back(v, c, m, e10)) {
                memcpy(d, c, (size_t)m);
                *K = e10;
                n = m;
                shorter = 1;
            }
        }
    }
    return n;
}

/* Finite v as JSON text that reads back as the same double and as a float:
 * "0.1", "1.0", "-0.0", "1e+300", "5e-324". Returns the length (<= 25). */
static int format_double(double v, char *out) {
    char d[24];
    char *o = out;
    int n, K, X, i;
    if (v == 0) {
        if (signbit(v)) *o++ = '-';
        memcpy(o, "0.0", 3);
        return (int)(o + 3 - out);
    }
    if (v < 0) {
        *o++ = '-';
        v = -v;
    }
    n = grisu2(v, d, &K);
    if (n >= 16) n = shorten(v, d, n, &K);
    while (n > 1 && d[n - 1] == '0') {
        n--;
        K++;
    }
    X = n + K - 1; /* the decimal exponent in scientific notation */
    if (X < -4 || X >= 17) {
        int ax = X < 0 ? -X : X;
        *o++ = d[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)(n - 1));
            o += n - 1;
        }
        *o++ = 'e';
        *o++ = X < 0 ? '-' : '+';
        if (ax >= 100) {
            *o++ = (char)('0' + ax / 100);
            ax %= 100;
        }
        *o++ = (char)('0' + ax / 10);
        *o++ = (char)('0' + ax % 10);
    } else if (K >= 0) {
        memcpy(o, d, (size_t)n);
        o += n;
        for (i = 0; i < K; i++) *o++ = '0';
        *o++ = '.';
        *o++ = '0';
    } else if (X >= 0) {
        memcpy(o, d, (size_t)(X + 1));
        o += X + 1;
        *o++ = '.';
        memcpy(o, d + X + 1, (size_t)(n - X - 1));
        o += n - X - 1;
    } else {
        *o++ = '0';
        *o++ = '.';
        for (i = 0; i < -X - 1; i++) *o++ = '0';
        memcpy(o, d, (size_t)n);
        o += n;
    }
    return (int)(o - out);
}

static int put_float(encoder *e, double v) { /* v is finite */
    char tmp[32];
    return put(e, tmp, (size_t)format_double(v, tmp));
}

/* -------------------------------------------------------------- strings */

/* What follows the backslash when c is escaped: the short form's letter, or
 * 0 for \u00XX. Indexed by c for c <= '\\'; only special bytes are looked up. */
static const unsigned char short_escape['\\' + 1] = {
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
    ['"'] = '"', ['\\'] = '\\',
};

/* Writes the escape of the special byte c at o (always 6 bytes written, 2 or
 * 6 of them kept, chosen without a branch); returns the end of the escape. */
static char *write_escape(char *o, unsigned c) {
    static const char hex[] = "0123456789abcdef";
    unsigned s = short_escape[c];
    o[0] = '\\';
    o[1] = (char)(s ? s : 'u');
    o[2] = '0';
    o[3] = '0';
    o[4] = hex[c >> 4];
    o[5] = hex[c & 15];
    return o + (s ? 2 : 6);
}

/* Slack past the end of the output for whole-block stores. */
#define BLOCK_SLACK 16

/* Appends the quoted string; -1 out of memory, -2 invalid UTF-8.
 * One pass, 16 bytes a block: each block is stored whole to the output (the
 * buffer keeps BLOCK_SLACK bytes to spare), checked for bytes to escape, and
 * validated by the UTF-8 DFA (json.h) when it holds non-ASCII bytes. A byte
 * to escape ends the block there, and the next block starts after it. */
static int put_string(encoder *e, const char *s, size_t len) {
    cbf_buffer *b = e->out;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    uint64_t st = 0; /* the DFA's state */
    char *o;
    if (room(b, len + 2 + BLOCK_SLACK) != 0) return -1;
    /* Invariant: room for the rest of the input as is, the closing '"' and
     * the slack: cap > used + (end - p) + 1 + BLOCK_SLACK. */
    o = b->data + b->len;
    *o++ = '"';
    for (;;) {
        unsigned high, special, k;
        while (end - p >= 16) {
            special = cbf_json_block_masks(p, &high);
            memcpy(o, p, 16);
            if (special) break;
            if (high | (unsigned)(st & 63)) st = cbf_json_utf8_16(st, p);
            p += 16;
            o += 16;
        }
        if (end - p < 16) break;
        k = cbf_json_ctz(special);
        if ((high & ((2u << k) - 1)) | (unsigned)(st & 63)) st = cbf_json_utf8_upto(st, p, k);
        p += k;
        o += k;
        /* *p needs an escape of up to 6 bytes. */
        b->len = (size_t)(o - b->data);
        if (room(b, (size_t)(end - p) + 7 + BLOCK_SLACK) != 0) return -1;
        o = write_escape(b->data + b->len, *p++);
    }
    /* The last bytes, fewer than 16. */
    while (p < end) {
        unsigned c = *p++;
        CBF_JSON_UTF8_STEP(st, c); /* an escaped byte too: it ends any open sequence */
        if (cbf_json_is_special(c)) {
            b->len = (size_t)(o - b->data);
            if (room(b, (size_t)(end - p) + 7 + BLOCK_SLACK) != 0) return -1;
            o = write_escape(b->data + b->len, c);
        } else {
            *o++ = (char)c;
        }
    }
    if (st & 63) return -2;
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

/* --------------------------------------------------------------- values */

/* Integer value of a number key, 0 if it has none. */
static int integer_key(lua_State *L, int idx, lua_Integer *out) {
#if LUA_VERSION_NUM >= 503
    int isint = 0;
    if (lua_type(L, idx) != LUA_TNUMBER) return 0;
    *out = lua_tointegerx(L, idx, &isint); /* number keys are never integral floats */
    return isint;
#else
    lua_Number n;
    if (lua_type(L, idx) != LUA_TNUMBER) return 0;
    n = lua_tonumber(L, idx);
    if (n != floor(n) || n < -9007199254740992.0 || n > 9007199254740992.0) return 0;
    *out = (lua_Integer)n;
    return 1;
#endif
}

static const char *key_type_name(lua_State *L, int idx) {
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER: return "(float)";
    case LUA_TBOOLEAN: return "(boolean)";
    case LUA_TTABLE: return "(table)";
    case LUA_TFUNCTION: return "(function)";
    case LUA_TTHREAD: return "(thread)";
    default: return "(userdata)";
    }
}

static const void *array_mt(encoder *e) {
    if (!e->array_mt_known) {
        lua_getfield(e->L, LUA_REGISTRYINDEX, ARRAY_MT_NAME);
        e->array_mt = lua_topointer(e->L, -1); /* NULL while it does not exist */
        lua_pop(e->L, 1);
        e->array_mt_known = 1;
    }
    return e->array_mt;
}

/* Nil, booleans, numbers, strings, null; an error for the rest. */
static int encode_scalar(encoder *e, int idx) {
    lua_State *L = e->L;
    int rc;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        rc = put(e, "null", 4);
        break;
    case LUA_TBOOLEAN:
        rc = lua_toboolean(L, idx) ? put(e, "true", 4) : put(e, "false", 5);
        break;
    case LUA_TNUMBER: {
        lua_Number n;
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(L, idx)) {
            rc = put_integer(e, lua_tointeger(L, idx));
            break;
        }
#endif
        n = lua_tonumber(L, idx);
        if (n != n) return fail(e, "cannot encode NaN", NULL);
        if (n == (lua_Number)HUGE_VAL) return fail(e, "cannot encode inf", NULL);
        if (n == -(lua_Number)HUGE_VAL) return fail(e, "cannot encode -inf", NULL);
#if LUA_VERSION_NUM < 503
        if (n == floor(n) && fabs(n) <= 9007199254740992.0) {
            rc = put_integer(e, (lua_Integer)n);
            break;
        }
#endif
        rc = put_float(e, (double)n);
        break;
    }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        rc = put_string(e, s, len);
        if (rc == -2) return fail(e, "invalid UTF-8 in string", NULL);
        break;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) != NULL) return fail(e, "cannot encode a light userdata", NULL);
        rc = put(e, "null", 4);
        break;
    default:
        return fail(e, "cannot encode a ", lua_typename(L, lua_type(L, idx)));
    }
    return rc != 0 ? fail_oom(e) : 0;
}

#define NEAR_ANCESTORS 4

/* At the depth limit: report the first table on the path (from the root)
 * that repeats an ancestor as a cycle, else the depth. Quadratic, but only
 * on this error path. */
static int fail_deep(encoder *e, const void *self) {
    int k, m;
    for (k = 1; k < e->depth; k++)
        for (m = 0; m < k; m++)
            if (e->frames[m].table == e->frames[k].table) return fail_path(e, "cycle", NULL, k);
    for (m = 0; m < e->depth; m++)
        if (e->frames[m].table == self) return fail(e, "cycle", NULL);
    return fail(e, "nesting deeper than 1000", NULL);
}

static enc_frame *push_frame(encoder *e, int idx, const void *table) {
    enc_frame *f;
    if (e->depth == e->cap) { /* only once: then room for the whole limit */
        /* A userdata: Lua's allocator counts it, and a raise cannot leak it. Made at
         * the top and moved down into the reserved slot, so no index above changes. */
        enc_frame *all = (enc_frame *)lua_newuserdata(e->L, sizeof *all * CBF_JSON_MAX_DEPTH);
        lua_replace(e->L, e->anchor);
        memcpy(all, e->frames, sizeof *all * (size_t)e->depth);
        e->frames = all;
        e->cap = CBF_JSON_MAX_DEPTH;
    }
    f = &e->frames[e->depth++];
    f->table = table;
    f->idx = idx;
    f->is_object = 0;
    f->pending = 0;
    f->i = 0;
    f->n = 0;
    f->key_kind = KEY_NONE;
    return f;
}

/* An array frame of n elements; an empty one is written at once. */
static int open_array(encoder *e, enc_frame *f, lua_Integer n) {
    if (n == 0) {
        e->depth--;
        return put(e, "[]", 2) != 0 ? fail_oom(e) : 1;
    }
    f->n = n;
    return put_char(e, '[') != 0 ? fail_oom(e) : 0;
}

/* Classifies the table at idx (the top of the stack) and opens a frame for
 * it: 0 with a frame pushed, 1 when it was written whole ({} or []), -1 on
 * error. array_mt: t[1..rawlen] and no other key. Otherwise keys exactly
 * 1..n make an array, string keys an object. Classifying takes a pass of
 * lua_next over the table, as there is no other way to see every key. */
static int open_table(encoder *e, int idx) {
    lua_State *L = e->L;
    const void *self = lua_topointer(L, idx);
    enc_frame *f;
    lua_Integer k, n, count;
    int i, marked = 0;
    /* Cycles: a table that repeats one of its nearest ancestors is caught at
     * once; a longer cycle runs into the depth limit and is told apart from
     * plain deep nesting there, which keeps deep documents linear. */
    for (i = e->depth - 1; i >= 0 && i >= e->depth - NEAR_ANCESTORS; i--)
        if (e->frames[i].table == self) return fail(e, "cycle", NULL);
    if (e->depth >= CBF_JSON_MAX_DEPTH) return fail_deep(e, self);
    /* A level takes at most 2 slots (+2 while classifying): grow the stack
     * for 16 levels at a time. */
    if (e->depth % 16 == 0 && !lua_checkstack(L, 16 * 2 + 8))
        return fail(e, "Lua stack exhausted", NULL);
    if (lua_getmetatable(L, idx)) {
        marked = lua_topointer(L, -1) == array_mt(e);
        lua_pop(L, 1);
    }
    f = push_frame(e, idx, self);

    if (marked) {
        n = (lua_Integer)lua_rawlen(L, idx);
        count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (!integer_key(L, -2, &k)) {
                if (lua_type(L, -2) == LUA_TSTRING)
                    return fail(e, "mixed keys (array and string)", NULL);
                return fail(e, "unsupported key type ", key_type_name(L, -2));
            }
            if (k < 1 || k > n) return fail(e, "sparse array", NULL);
            count++;
            lua_pop(L, 1);
        }
        if (count != n) return fail(e, "sparse array", NULL);
        return open_array(e, f, n);
    }

    lua_pushnil(L);
    if (!lua_next(L, idx)) {
        e->depth--;
        return put(e, "{}", 2) != 0 ? fail_oom(e) : 1;
    }
    if (integer_key(L, -2, &k)) {
        n = (lua_Integer)lua_rawlen(L, idx);
        count = 0;
        do {
            if (!integer_key(L, -2, &k)) {
                if (lua_type(L, -2) == LUA_TSTRING)
                    return fail(e, "mixed keys (integer and string)", NULL);
                return fail(e, "unsupported key type ", key_type_name(L, -2));
            }
            if (k < 1 || k > n) return fail(e, "sparse array", NULL);
            count++;
            lua_pop(L, 1);
        } while (lua_next(L, idx));
        if (count != n) return fail(e, "sparse array", NULL);
        return open_array(e, f, n);
    }
    if (lua_type(L, -2) != LUA_TSTRING) return fail(e, "unsupported key type ", key_type_name(L, -2));
    f->is_object = 1;
    f->pending = 1; /* its first key and value are on the stack */
    return put_char(e, '{') != 0 ? fail_oom(e) : 0;
}

/* Moves the innermost frame to its next child and returns the child's stack
 * slot; closes finished frames on the way. 0 when the whole value is done,
 * -1 on error. Children sit right above their table: arrays push the
 * element, objects the key and the value. */
static int next_child(encoder *e) {
    lua_State *L = e->L;
    while (e->depth > 0) {
        enc_frame *f = &e->frames[e->depth - 1];
        if (!f->is_object) {
            lua_settop(L, f->idx);
            if (f->i < f->n) {
                if (f->i > 0 && put_char(e, ',') != 0) return fail_oom(e);
                f->i++;
                f->key_kind = KEY_INDEX;
                lua_rawgeti(L, f->idx, f->i);
                return f->idx + 1;
            }
            f->key_kind = KEY_NONE;
            if (put_char(e, ']') != 0) return fail_oom(e);
        } else {
            int more = 1;
            if (f->pending) {
                f->pending = 0;
            } else {
                lua_settop(L, f->idx + 1);
                more = lua_next(L, f->idx);
                if (more && put_char(e, ',') != 0) return fail_oom(e);
            }
            if (more) {
                size_t klen;
                const char *key;
                lua_Integer k;
                int rc;
                f->key_kind = KEY_NONE;
                if (lua_type(L, -2) != LUA_TSTRING) {
                    if (integer_key(L, -2, &k)) return fail(e, "mixed keys (integer and string)", NULL);
                    return fail(e, "unsupported key type ", key_type_name(L, -2));
                }
                key = lua_tolstring(L, -2, &klen);
                rc = put_string(e, key, klen);
                if (rc == -2) return fail(e, "invalid UTF-8 in key", NULL);
                if (rc != 0 || put_char(e, ':') != 0) return fail_oom(e);
                f->key_kind = KEY_NAME;
                f->name = key;
                f->name_len = klen;
                return f->idx + 2;
            }
            f->key_kind = KEY_NONE;
            if (put_char(e, '}') != 0) return fail_oom(e);
        }
        e->depth--;
    }
    return 0;
}

/* Depth-first over the value at idx with an explicit stack of frames, not C
 * recursion: deep documents cost no more per level than shallow ones. */
static int encode_value(encoder *e, int idx) {
    lua_State *L = e->L;
    int slot = idx;
    for (;;) {
        if (lua_type(L, slot) == LUA_TTABLE) {
            if (open_table(e, slot) < 0) return -1;
        } else if (encode_scalar(e, slot) != 0) {
            return -1;
        }
        slot = next_child(e);
        if (slot <= 0) return slot;
    }
}

int cbf_json_encode(lua_State *L, int idx, const char *root, cbf_buffer *out,
                    cbf_json_error *err) {
    encoder e;
    int top = lua_gettop(L), rc;
    if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = top + idx + 1;
    e.L = L;
    e.out = out;
    e.err = err;
    e.root = root;
    e.frames = e.inline_frames;
    e.depth = 0;
    e.cap = INLINE_FRAMES;
    e.array_mt_known = 0;
    e.array_mt = NULL;
    err->message[0] = '\0';
    if (!lua_checkstack(L, 16 * 2 + 8)) {
        strcpy(err->message, "Lua stack exhausted");
        return -1;
    }
    lua_pushnil(L); /* the anchor slot */
    e.anchor = top + 1;
    lua_pushvalue(L, idx); /* at the top, so that children go right above it */
    rc = encode_value(&e, top + 2);
    lua_settop(L, top);
    if (rc != 0) return -1;
    if (out->data) out->data[out->len] = '\0';
    return 0;
}
