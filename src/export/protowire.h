/* protowire.h — the protocol-buffer wire format, written by hand: varints, fixed64 doubles
 * and length-delimited fields into a growable buffer (what the Perfetto exporter needs). */
#ifndef PW_EXPORT_PROTOWIRE_H
#define PW_EXPORT_PROTOWIRE_H

#include <stddef.h>
#include <stdint.h>

/* A message being encoded. After an allocation fails every append is a no-op and nomem
 * stays set, so a writer checks once per message instead of once per field. */
typedef struct pw_pb {
    uint8_t *p;
    size_t n, cap;
    int nomem;
} pw_pb;

void pw_pb_reset(pw_pb *b);          /* empties it, keeping the storage */
void pw_pb_free(pw_pb *b);
void pw_pb_varint(pw_pb *b, uint32_t field, uint64_t v);       /* wire type 0 */
void pw_pb_int64(pw_pb *b, uint32_t field, int64_t v);         /* two's complement varint */
void pw_pb_double(pw_pb *b, uint32_t field, double v);         /* wire type 1 (fixed64) */
void pw_pb_bytes(pw_pb *b, uint32_t field, const void *data, size_t len);   /* wire type 2 */
/* A string field; invalid UTF-8 becomes U+FFFD, since protobuf strings must be UTF-8. */
void pw_pb_string(pw_pb *b, uint32_t field, const char *s);
void pw_pb_message(pw_pb *b, uint32_t field, const pw_pb *sub);
/* The bytes of a bare varint (a length prefix) into out[10]; returns how many. */
size_t pw_pb_put_varint(uint8_t *out, uint64_t v);

#endif
