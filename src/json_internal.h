/* Private to the codec: what json_encode.c and json_decode.c share (the UTF-8
 * tables and block scanners). Nothing outside the codec includes this. */
#ifndef CBF_JSON_INTERNAL_H
#define CBF_JSON_INTERNAL_H

#include <stdint.h>
#include <string.h>
/* SSE2 (every x86-64) for the 16-byte blocks of the string scanner; GCC and
 * Clang for __builtin_ctz. Anything else takes the portable 8-byte path. */
#if defined(__SSE2__) && defined(__GNUC__)
#define CBF_JSON_SSE2 1
#include <emmintrin.h>
#endif

/* UTF-8 validation by a table-driven DFA with no data-dependent branch per
 * byte, in the "shift DFA" form: a state is a bit offset (a multiple of 6) and
 * cbf_json_utf8_dfa[byte] packs, at each state's offset, the 6-bit next state.
 * One step is `st = cbf_json_utf8_dfa[byte] >> (st & 63)`: a load that does not
 * depend on the state and one shift, so a run of mixed scripts costs the same
 * whatever it holds. Only the low 6 bits of st mean anything. The states (in
 * json_decode.c, which defines the table): 0 accept, then "1/2/3 more
 * continuation bytes", the four lead bytes whose next byte has a narrower
 * range (E0: A0-BF, no overlongs; ED: 80-9F, no surrogates; F0: 90-BF, no
 * overlongs; F4: 80-8F, nothing past U+10FFFF), and a sticky error state. A
 * string is valid when the walk ends in state 0. */
extern const uint64_t cbf_json_utf8_dfa[256];

#define CBF_JSON_UTF8_STEP(st, c) ((st) = cbf_json_utf8_dfa[(c)] >> ((st) & 63))

/* Length of the valid UTF-8 sequence at p (p[0] >= 0x80), or 0 when it is not
 * one: overlong forms, UTF-16 surrogates and code points past U+10FFFF are
 * rejected, as is a sequence cut short by `end`. Byte at a time, with
 * branches: used only to find where an invalid run goes wrong. */
static inline size_t cbf_json_utf8_sequence(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t avail = (size_t)(end - p);
    if (c < 0xE0) return c >= 0xC2 && avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c > 0xF4) return 0;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
                   (p[3] & 0xC0) == 0x80
               ? 4
               : 0;
}

/* The start of the first invalid UTF-8 sequence in [p, end), which the DFA
 * has found to hold one (the slow, exact path for error positions). */
static inline const unsigned char *cbf_json_first_invalid(const unsigned char *p,
                                                          const unsigned char *end) {
    while (p < end) {
        size_t n;
        if (*p < 0x80) {
            p++;
            continue;
        }
        n = cbf_json_utf8_sequence(p, end);
        if (n == 0) break;
        p += n;
    }
    return p;
}

static inline int cbf_json_is_special(unsigned c) { return c < 0x20 || c == '"' || c == '\\'; }

/* The string scanners work on blocks of 16 bytes. cbf_json_block_masks gives
 * bit i set when p[i] needs attention in a string ('"', '\\', a control
 * character) and sets *high to the bits of the bytes >= 0x80. */
#ifdef CBF_JSON_SSE2
static inline unsigned cbf_json_block_masks(const unsigned char *p, unsigned *high) {
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  ctl = _mm_set1_epi8(0x1F);
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i sp = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                              _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)); /* max(c, 1F) == 1F: c < 0x20 */
    *high = (unsigned)_mm_movemask_epi8(v);
    return (unsigned)_mm_movemask_epi8(sp);
}
static inline unsigned cbf_json_ctz(unsigned m) { return (unsigned)__builtin_ctz(m); }
#else
static inline unsigned cbf_json_block_masks(const unsigned char *p, unsigned *high) {
    unsigned special = 0, h = 0, i;
    for (i = 0; i < 16; i++) {
        special |= (unsigned)cbf_json_is_special(p[i]) << i;
        h |= (unsigned)(p[i] >> 7) << i;
    }
    *high = h;
    return special;
}
static inline unsigned cbf_json_ctz(unsigned m) { /* m != 0 */
    unsigned n = 0;
    while (!(m & 1u)) {
        m >>= 1;
        n++;
    }
    return n;
}
#endif

/* Runs the DFA over the 16 bytes at p. */
static inline uint64_t cbf_json_utf8_16(uint64_t st, const unsigned char *p) {
    int i;
    for (i = 0; i < 16; i += 4) {
        CBF_JSON_UTF8_STEP(st, p[i]);
        CBF_JSON_UTF8_STEP(st, p[i + 1]);
        CBF_JSON_UTF8_STEP(st, p[i + 2]);
        CBF_JSON_UTF8_STEP(st, p[i + 3]);
    }
    return st;
}

/* Runs the DFA over p[0..k] (k < 16; p[k] is ASCII, the byte that stopped a
 * block). The 16 bytes at p must be readable. Rather than a loop of k + 1
 * steps, whose exit the CPU would mispredict, it runs 16 steps over a copy
 * whose bytes after k are 'a': ASCII after the ASCII p[k] changes nothing
 * (state 0 stays 0; a sequence cut short by p[k] is already an error). */
#ifdef CBF_JSON_SSE2
static const unsigned char cbf_json_keep[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
#endif
static inline uint64_t cbf_json_utf8_upto(uint64_t st, const unsigned char *p, unsigned k) {
    unsigned char tmp[16];
#ifdef CBF_JSON_SSE2
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i keep = _mm_loadu_si128((const __m128i *)(const void *)(cbf_json_keep + 15 - k));
    v = _mm_or_si128(_mm_and_si128(keep, v), _mm_andnot_si128(keep, _mm_set1_epi8('a')));
    _mm_storeu_si128((__m128i *)(void *)tmp, v);
#else
    unsigned i;
    for (i = 0; i < 16; i++) tmp[i] = i <= k ? p[i] : (unsigned char)'a';
#endif
    return cbf_json_utf8_16(st, tmp);
}

/* Skips string bytes that need no escaping from p: printable ASCII other than
 * '"' and '\\', and valid UTF-8. Stops at end or at a byte that needs
 * attention ('"', '\\', a control character); when the bytes before that are
 * not valid UTF-8, sets *bad and returns the first invalid sequence instead.
 * A block of ASCII costs one test; a block with non-ASCII bytes (or with a
 * sequence open from the block before) goes through the DFA whole. */
static inline const unsigned char *cbf_json_scan(const unsigned char *p, const unsigned char *end,
                                                 int *bad) {
    const unsigned char *start = p;
    uint64_t st = 0;
    while (end - p >= 16) {
        unsigned high, special = cbf_json_block_masks(p, &high);
        if (special) {
            unsigned k = cbf_json_ctz(special);
            if ((high & ((2u << k) - 1)) | (unsigned)(st & 63)) st = cbf_json_utf8_upto(st, p, k);
            p += k;
            goto done;
        }
        if (high | (unsigned)(st & 63)) st = cbf_json_utf8_16(st, p);
        p += 16;
    }
    for (; p < end; p++) {
        unsigned c = *p;
        if (cbf_json_is_special(c)) break;
        CBF_JSON_UTF8_STEP(st, c);
    }
done:
    if (st & 63) {
        *bad = 1;
        return cbf_json_first_invalid(start, end);
    }
    return p;
}

#endif
