/* sized.h — the public structs that begin with `size_t size`, the sizeof the caller was
 * built with: how the library fills them and which sizes it takes, so that they can grow. */
#ifndef PW_TRACE_SIZED_H
#define PW_TRACE_SIZED_H

#include <stddef.h>
#include <string.h>

#include "phasewatt.h"

/* The size of a struct's first published version: through its member `last` of then. It
 * stays put when members are added after `last`, so older callers keep being accepted. */
#define PW_SIZED_MIN(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))

/* Fills the caller's `out` from the library's whole struct `full` (`full_size` bytes): a
 * caller built with an older, smaller struct gets the part it knows; one built with a newer,
 * larger struct gets zeros beyond what this library knows. Its size stays its own. */
static inline int pw_sized_fill(void *out, const void *full, size_t full_size, size_t min_size)
{
    size_t room;
    memcpy(&room, out, sizeof room);
    if (room < min_size) return PW_ERR_INVALID;
    size_t n = room < full_size ? room : full_size;
    memcpy((char *)out + sizeof room, (const char *)full + sizeof room, n - sizeof room);
    if (room > full_size) memset((char *)out + full_size, 0, room - full_size);
    return PW_OK;
}

#endif
