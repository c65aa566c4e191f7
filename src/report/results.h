/* results.h — what the results API's other files read of a pw_result (results.c owns it). */
#ifndef PW_REPORT_RESULTS_H
#define PW_REPORT_RESULTS_H

#include "analysis/attribute.h"
#include "phasewatt-analysis.h"

/* The trace a result borrows and the attribution it holds. */
const pw_trace *pw_result_trace(const pw_result *r);
const pw_attribution *pw_result_attribution(const pw_result *r);

#endif
