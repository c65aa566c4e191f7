/* hash.h — the keyed hashes of every table a file or a program fills (tracks, metadata,
 * truth, names): keyed by a per-process random seed, so keys cannot be chosen to collide. */
#ifndef PW_TRACE_HASH_H
#define PW_TRACE_HASH_H

#include <stdint.h>

uint64_t pw_hash_u64(uint64_t key);
uint64_t pw_hash_str(const char *s);

#endif
