/* protowire.c — protocol-buffer wire-format encoding into growable buffers. */
#include <stdlib.h>
#include <string.h>

#include "export/protowire.h"
#include "report/common.h"

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2 };

void pw_pb_reset(pw_pb *b) { b->n = 0; }

void pw_pb_free(pw_pb *b)
{
    free(b->p);
    *b = (pw_pb){0};
}

static int reserve(pw_pb *b, size_t more)
{
    if (b->nomem) return 0;
    if (b->n + more <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->nomem = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

size_t pw_pb_put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static void raw_varint(pw_pb *b, uint64_t v)
{
    if (reserve(b, 10)) b->n += pw_pb_put_varint(b->p + b->n, v);
}

static void tag(pw_pb *b, uint32_t field, int wire) { raw_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

void pw_pb_varint(pw_pb *b, uint32_t field, uint64_t v)
{
    tag(b, field, WIRE_VARINT);
    raw_varint(b, v);
}

void pw_pb_int64(pw_pb *b, uint32_t field, int64_t v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);        /* int64 fields carry the two's complement bits */
    pw_pb_varint(b, field, bits);
}

void pw_pb_double(pw_pb *b, uint32_t field, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    tag(b, field, WIRE_FIXED64);
    if (!reserve(b, 8)) return;
    for (int i = 0; i < 8; i++) b->p[b->n++] = (uint8_t)(bits >> (8 * i));   /* little-endian */
}

void pw_pb_bytes(pw_pb *b, uint32_t field, const void *data, size_t len)
{
    tag(b, field, WIRE_LEN);
    raw_varint(b, len);
    if (len && reserve(b, len)) {
        memcpy(b->p + b->n, data, len);
        b->n += len;
    }
}

void pw_pb_string(pw_pb *b, uint32_t field, const char *s)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    size_t len = 0;
    for (const char *c = s; *c;) {
        size_t n = pw_utf8_len(c);
        len += n ? n : 3;
        c += n ? n : 1;
    }
    tag(b, field, WIRE_LEN);
    raw_varint(b, len);
    if (!reserve(b, len)) return;
    for (const char *c = s; *c;) {
        size_t n = pw_utf8_len(c);
        memcpy(b->p + b->n, n ? c : replacement, n ? n : 3);
        b->n += n ? n : 3;
        c += n ? n : 1;
    }
}

void pw_pb_message(pw_pb *b, uint32_t field, const pw_pb *sub)
{
    if (sub->nomem) b->nomem = 1;
    pw_pb_bytes(b, field, sub->p, sub->n);
}
