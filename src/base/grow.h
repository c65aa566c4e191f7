/* grow.h — the growable array every part appends with. */
#ifndef PW_BASE_GROW_H
#define PW_BASE_GROW_H

#include <stddef.h>

/* Grows *cap so that `need` (>= 1) elements of `size` fit; returns the array, possibly
 * moved, or NULL with the old one intact. Doubling keeps appends amortised O(1). */
void *pw_grow(void *arr, size_t *cap, size_t need, size_t size);

#endif
