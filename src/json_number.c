/* Number formatting for the JSON encoder, with no Lua in it: exact integers and
 * the shortest text that reads back to the same double.
 *
 * Kept apart from the encoder (as lua-cjson keeps its fpconv) so the digit
 * algorithms can be read, tested and fuzzed on their own. No printf: the strtod
 * checks read texts without a decimal point, so the C locale's decimal point
 * cannot leak in. */
#include "json_number.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char digit_pairs[201] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899"
    ;

/* Writes the decimal digits of u ending just before `end`; returns the start. */
char *cbf_json_format_u64(char *end, uint64_t u) {
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
int cbf_json_format_double(double v, char *out) {
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
