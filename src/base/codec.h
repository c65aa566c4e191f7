/* codec.h — byte codecs: fixed-width little-endian, LEB128 varints and zigzag, and the
 * growable byte buffer and bounded cursor the trace writer and reader (and the channel's
 * agent protocol) build on. */
#ifndef PW_BASE_CODEC_H
#define PW_BASE_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/grow.h"
#include "phasewatt.h"

#define PW_VARINT_MAX 10u                  /* bytes of a 64-bit LEB128 */

/* ---- Fixed-width little-endian, byte by byte so any host reads any file ---------------- */
static inline void pw_put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void pw_put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t pw_get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t pw_get_u64le(const uint8_t *p)
{
    return (uint64_t)pw_get_u32le(p) | (uint64_t)pw_get_u32le(p + 4) << 32;
}

/* ---- Zigzag: small magnitudes of either sign become small unsigned numbers ------------ */
static inline uint64_t pw_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
}
static inline int64_t pw_unzigzag(uint64_t u)
{
    /* written without converting an out-of-range unsigned to signed */
    return (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
}

/* ---- Output buffer --------------------------------------------------------------------- */
typedef struct pw_buf { uint8_t *p; size_t n, cap; } pw_buf;

static inline int pw_buf_reserve(pw_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->n) return PW_ERR_NOMEM;
    if (b->n + extra <= b->cap) return PW_OK;
    uint8_t *p = pw_grow(b->p, &b->cap, b->n + extra, 1);
    if (!p) return PW_ERR_NOMEM;
    b->p = p;
    return PW_OK;
}
static inline void pw_buf_free(pw_buf *b)
{
    free(b->p);
    *b = (pw_buf){0};
}
/* The unchecked putters below need room reserved first (PW_VARINT_MAX per varint). */
static inline void pw_buf_uv(pw_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        b->p[b->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->p[b->n++] = (uint8_t)v;
}
static inline void pw_buf_sv(pw_buf *b, int64_t v) { pw_buf_uv(b, pw_zigzag(v)); }
static inline void pw_buf_u8(pw_buf *b, uint8_t v) { b->p[b->n++] = v; }
static inline void pw_buf_bytes(pw_buf *b, const void *p, size_t n)
{
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
static inline void pw_buf_f64(pw_buf *b, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    pw_put_u64le(b->p + b->n, u);
    b->n += 8;
}
/* Checked: reserves, then writes a string as varint length + bytes (no NUL). */
static inline int pw_buf_str(pw_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > SIZE_MAX - PW_VARINT_MAX || pw_buf_reserve(b, PW_VARINT_MAX + n)) return PW_ERR_NOMEM;
    pw_buf_uv(b, n);
    pw_buf_bytes(b, s, n);
    return PW_OK;
}

/* ---- Input cursor: every getter checks the bytes left and returns -1 when short. ------ */
typedef struct pw_cur { const uint8_t *p, *end; } pw_cur;

static inline int pw_cur_uv(pw_cur *c, uint64_t *out)
{
    const uint8_t *p = c->p;
    if (p < c->end && *p < 0x80) {     /* the common one-byte case first */
        *out = *p;
        c->p = p + 1;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= c->end) return -1;
        uint8_t byte = *p++;
        if (shift == 63 && byte > 1) return -1;   /* would overflow 64 bits */
        v |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80) {
            *out = v;
            c->p = p;
            return 0;
        }
    }
    return -1;
}
static inline int pw_cur_sv(pw_cur *c, int64_t *out)
{
    uint64_t u;
    if (pw_cur_uv(c, &u)) return -1;
    *out = pw_unzigzag(u);
    return 0;
}
static inline int pw_cur_u32(pw_cur *c, uint32_t *out)   /* a varint that fits 32 bits */
{
    uint64_t u;
    if (pw_cur_uv(c, &u) || u > UINT32_MAX) return -1;
    *out = (uint32_t)u;
    return 0;
}
static inline int pw_cur_u8(pw_cur *c, uint8_t *out)
{
    if (c->p >= c->end) return -1;
    *out = *c->p++;
    return 0;
}
static inline int pw_cur_f64(pw_cur *c, double *out)
{
    if (c->end - c->p < 8) return -1;
    uint64_t u = pw_get_u64le(c->p);
    memcpy(out, &u, sizeof u);
    c->p += 8;
    return 0;
}
/* A string is borrowed in place (not NUL-terminated); its length is checked first. */
static inline int pw_cur_str(pw_cur *c, const char **s, size_t *len)
{
    uint64_t n;
    if (pw_cur_uv(c, &n) || n > (uint64_t)(c->end - c->p)) return -1;
    *s = (const char *)c->p;
    *len = (size_t)n;
    c->p += n;
    return 0;
}

#endif
