/* attribute.h — interval-exact attribution of measured energy to nested phases: the entry
 * points (the result's model is analysis/model.h). */
#ifndef PW_ATTRIBUTE_H
#define PW_ATTRIBUTE_H

#include <stddef.h>

#include "analysis/model.h"

int pw_attribute(const pw_trace *t, pw_attribution **out);   /* PW_METHOD_AUTO */
/* A merged trace (src/trace/merge.h) is attributed host group by group, so a source's energy
 * goes only to the phases of its own host's tracks (pw_attribute_grouped, groups.c). */
int pw_attribute_with(const pw_trace *t, pw_method method, pw_attribution **out);
struct pw_groups;
int pw_attribute_grouped(const pw_trace *t, const struct pw_groups *groups, pw_method method,
                         pw_attribution **out);

/* Interval-exact attribution. hint_w (may be NULL): [nnodes * ndomains] self power per node
 * and domain (W), NAN where none, used to split the intervals the node shares with others;
 * node indices are those a previous attribution of the same trace gave. With nhints twice
 * that, the second half is each hint's standard deviation (W): what a remainder beside a
 * hinted part may be off by. */
int pw_attribute_exact(const pw_trace *t, const double *hint_w, size_t nhints,
                       pw_attribution **out);
/* Replaces the energies of an interval-exact attribution with a baseline's (NAIVE, WINDOWS). */
int pw_attribute_baseline(const pw_trace *t, pw_method method, pw_attribution *a);
#endif
