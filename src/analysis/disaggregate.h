/* disaggregate.h — per-phase mean power by non-negative least squares over every sample
 * interval (or averaged-power window), with a confidence interval per phase and a check of
 * whether the mix of phases varies enough to tell them apart. */
#ifndef PW_DISAGGREGATE_H
#define PW_DISAGGREGATE_H

#include <stddef.h>

#include "analysis/model.h"

#define PW_DISAGG_MAX_UNKNOWNS 512   /* phase nodes one fit solves for; more: no fit */
#define PW_DISAGG_MAX_ENTRIES (1u << 23)   /* tracks open summed over pieces; more: no fit */
#define PW_DISAGG_MAX_VIF 100.0      /* above: the phase cannot be separated from the others */

/* One domain's fit: unknowns are the nodes' self powers while they run alone (node 0, the
 * root, is the untagged or background power); equations are the domain's sample intervals, or
 * for an averaged-power sensor the windows its readings cover. Concurrent tracks add: see
 * design_build. */
typedef struct pw_disagg_domain {
    int fitted;             /* 1 when the fit ran for this domain */
    int window_aware;       /* 1: the readings are averaged power; equations are windows */
    size_t nequations;
    size_t nunknowns;       /* nodes with time in some equation */
    double rms_j;           /* residual RMS of the equations (J) */
    double max_vif;         /* the worst-separated node's variance inflation */
    double *power_w;        /* [nnodes] fitted self power; NAN: no self time in any equation */
    double *ci_w;           /* [nnodes] 95% half-width of power_w */
    double *vif;            /* [nnodes] variance inflation factor: 1 when the node's share of
                               the equations varies independently of the others', large
                               when it moves with them (then it cannot be separated) */
    double *cov;            /* [nnodes * nnodes] covariance of power_w (W^2) */
} pw_disagg_domain;

typedef struct pw_disaggregation {
    size_t ndomains, nnodes;
    pw_disagg_domain *domains;   /* [ndomains] */
    double *self_s;         /* [nnodes] each node's self time (s), shared pieces whole */
    double *shared_s;       /* [nnodes] of which shared with n - 1 other tracks, times
                               (1 - 1/n): under the additive model a node's energy is
                               power x self_s - untagged power x shared_s */
    double *storage;        /* behind every domain's arrays */
} pw_disaggregation;

int pw_disaggregate(const pw_trace *t, const pw_attribution *a, pw_disaggregation **out);
void pw_disaggregation_free(pw_disaggregation *g);

/* 95% half-width (J) of sum_k tau_s[k] * power_w[k] for domain d, covariances included (so
 * two phases that cannot be separated may still have a well-known sum). NAN without a fit. */
double pw_disagg_energy_ci(const pw_disaggregation *g, size_t d, const double *tau_s);
/* 1 when node's power in domain d was fitted and is separable (vif <= PW_DISAGG_MAX_VIF). */
int pw_disagg_separable(const pw_disaggregation *g, size_t d, size_t node);
/* 1 when it is also overdetermined enough to trust: PW_DISAGG_MIN_RATIO equations per unknown. */
#define PW_DISAGG_MIN_RATIO 4
int pw_disagg_usable(const pw_disaggregation *g, size_t d, size_t node);
/* 1 when domain d's source publishes averaged power (trace metadata sensor.SOURCE.kind). */
int pw_domain_averaged(const pw_trace *t, size_t d);

#endif
