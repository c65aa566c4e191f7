/* merge.h — combining the traces of several hosts (or GPUs, ranks) into one trace, and the
 * host groups that a merged trace records so attribution keeps each host's energy apart. */
#ifndef PW_MERGE_H
#define PW_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "trace/trace.h"

/* pw_trace_merge (phasewatt.h) builds in *out one trace from in[0..n) (the inputs are only
 * read):
 * - times move onto one monotonic timeline aligned on wall clock: t' = t + shift_i with
 *   shift_i = realtime_offset_i - R, where R is input 0's offset (lowered only when a time
 *   would fall below 0);
 * - every input's sources, domains and tracks are kept apart, named "LABEL/name";
 * - phase, mark and counter names share one table, so one phase path merges across hosts;
 * - metadata is input 0's, plus merge.* keys (docs/trace-format.md, "Merged traces");
 * - ground truth is summed per phase path.
 * labels[i] names input i (non-empty, unique: the caller's job); files[i] (may be NULL) is
 * recorded as merge.I.file. On failure returns a PW_ERR_* code and a one-line reason in
 * why (no trailing newline). */

/* The host groups of a merged trace: group[source] and group[track index] are 1 .. ngroups,
 * or 0 for a source or track that belongs to no group (it is shared by all). A trace that
 * is not merged has ngroups 0 and both arrays NULL. Returns PW_OK or PW_ERR_NOMEM; the
 * caller frees both arrays. Malformed merge.* keys read as "no groups". */
typedef struct pw_groups {
    uint32_t ngroups;
    uint32_t *source;   /* [nsources] */
    uint32_t *track;    /* [ntracks], by index into pw_trace.tracks */
} pw_groups;
int pw_trace_groups(const pw_trace *t, pw_groups *out);
void pw_groups_free(pw_groups *g);

#endif
