/* timeline.h — the phase tree and the elementary timeline that attribution splits energy over. */
#ifndef PW_TIMELINE_H
#define PW_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "analysis/model.h"

/* Fills a's phase tree (nodes with names and parent links, calls, durations, tokens; no energy
 * yet), its segments and its unbalanced/unclosed counts from every track's events. Phases
 * still open are closed at end_ns. */
int pw_timeline_tree(const pw_trace *t, uint64_t end_ns, pw_attribution *a);

/* The elementary pieces: time cut at every segment boundary of every track. Piece p is
 * [cut[p], cut[p + 1]), and open[p] tracks have a phase open during it. */
typedef struct pw_pieces {
    uint64_t *cut; size_t ncuts;
    uint32_t *open;        /* [ncuts - 1] */
    uint32_t *seg_cut;     /* [2 * nsegments]: the cut index where each segment starts, ends */
} pw_pieces;

int pw_pieces_build(const pw_attribution *a, pw_pieces *out);
/* The first piece that ends after t (the piece count if none), searched forward from *at, the
 * last answer, which it updates: times asked in order cost one pass over the pieces; a time
 * before the last answer is found by binary search. */
size_t pw_pieces_seek(const pw_pieces *pc, size_t *at, uint64_t t);
void pw_pieces_free(pw_pieces *p);

#endif
