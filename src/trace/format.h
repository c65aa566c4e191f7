/* format.h — the .pwt byte layout shared by the writer and the reader: constants, limits,
 * chunk kinds and row encoding (the byte codecs are base/codec.h). Private to src/trace;
 * docs/trace-format.md is the specification. */
#ifndef PW_TRACE_FORMAT_H
#define PW_TRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"

#define PW_TRACE_FORMAT_VERSION 1u
#define PW_TRACE_MAGIC "PWTRACE"          /* 8 bytes with its NUL */
#define PW_TRACE_MAGIC_LEN 8u
#define PW_TRACE_HEADER_SIZE 36u           /* version 1: magic, version, size, 2 x u64, crc */
#define PW_TRACE_HEADER_MAX 4096u          /* later versions may grow the header up to this */
#define PW_CHUNK_FRAME 12u                 /* type u32 + length u32 + crc u32 */
#define PW_CHUNK_MAX_PAYLOAD (16u << 20)   /* longer length fields are corrupt */
#define PW_CHUNK_TARGET (64u << 10)        /* the writer emits a chunk once it reaches this */
#define PW_CHUNK_KIND_MAX 0xFFFFu          /* kinds are 1..65535; a resync ignores others */

enum pw_chunk_kind {
    PW_CHUNK_DOMAINS = 1,
    PW_CHUNK_NAMES = 2,
    PW_CHUNK_TRACK = 3,
    PW_CHUNK_SAMPLES = 4,
    PW_CHUNK_EVENTS = 5,
    PW_CHUNK_LOSS = 6,
    PW_CHUNK_META = 7,
    PW_CHUNK_TRUTH = 8,
    PW_CHUNK_END = 9
};

/* A SAMPLES row's flags byte: the PW_SAMPLE_* bits, and these encoding bits: a uvarint
 * t_err_ns follows the row's time (STAMPED), or the row's t_err_ns is the previous row's in
 * the same chunk (SAME_ERR, no varint). Readers keep only the PW_SAMPLE_* bits. */
#define PW_ROW_STAMPED 0x80u
#define PW_ROW_SAME_ERR 0x40u
#define PW_ROW_ENCODING (PW_ROW_STAMPED | PW_ROW_SAME_ERR)

#endif
