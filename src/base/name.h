/* name.h — the one rule for a phase or counter name, applied once where a name enters: the C
 * API (and NVTX and Python through it) and the trace reader's NAMES chunk. */
#ifndef PW_TRACE_NAME_H
#define PW_TRACE_NAME_H

#include <stddef.h>
#include <stdint.h>

/* '/' separates a path's levels, so inside a name it becomes U+2215 (DIVISION SLASH): a
 * phase "a/b" stays apart from "b" nested in "a" and still reads as written. */
#define PW_NAME_SLASH "\xE2\x88\x95"

/* Writes name's n bytes, repaired, to out (cap >= 4 bytes, NUL-terminated): each invalid
 * UTF-8 byte becomes U+FFFD, '/' becomes PW_NAME_SLASH, and the result is cut at a character
 * boundary to cap - 1 bytes. Control characters stay (each exporter escapes them). Returns 1
 * when the result differs from the input, else 0. */
int pw_name_repair(const char *name, size_t n, char *out, size_t cap);

/* Names the C API took repaired in this process (names.c). */
uint64_t pw_names_repaired(void);

#endif
