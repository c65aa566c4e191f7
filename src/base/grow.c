/* grow.c — the growable array (base/grow.h). */
#include <stdint.h>
#include <stdlib.h>

#include "base/grow.h"

void *pw_grow(void *arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap && arr) return arr;
    size_t n = *cap ? *cap : 8;
    while (n < need) {
        if (n > SIZE_MAX / 2) return NULL;
        n *= 2;
    }
    if (n > SIZE_MAX / size) return NULL;
    void *p = realloc(arr, n * size);
    if (!p) return NULL;
    *cap = n;
    return p;
}
