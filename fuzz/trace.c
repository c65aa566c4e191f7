/* trace.c — fuzz target: the trace reader, then attribution and the JSON report over
 * whatever it accepted (a hostile file must be refused or read safely, never crash). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/attribute.h"
#include "fuzz.h"
#include "report/report.h"
#include "sim/scenario.h"

static int run(const uint8_t *data, size_t len)
{
    pw_trace *t = NULL;
    if (pw_trace_read_buffer(data, len, &t) != PW_OK) return 0;
    pw_attribution *a = NULL;
    if (pw_attribute(t, &a) == PW_OK) {
        FILE *null = fopen("/dev/null", "w");
        pw_report_opts o = {0};
        if (null) pw_report_json(null, t, a, &o), fclose(null);
        pw_attribution_free(a);
    }
    pw_trace_free(t);
    return 0;
}

/* Small simulated runs: nested phases, counts, truth and metadata, counter and averaged. */
static int seeds(const char *dir)
{
    static const char *const scenarios[] = {
        "sample every=1ms\nbackground 5W\nphase prefill 4ms 30W\nrepeat 3 {\n  phase decode {\n"
        "    count tokens 1\n    phase attention 1ms 20W\n    phase mlp 0.5ms 25W\n  }\n}\n",
        "sensor preset=nvml-power\nsample every=50ms\nphase prefill 300ms 300W\n"
        "phase decode 500ms 200W\n",
    };
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        char path[1024], err[256];
        snprintf(path, sizeof path, "%s/sim-%zu.pwt", dir, i);
        pw_scenario *s = NULL;
        int rc = pw_scenario_parse(scenarios[i], &s, err, sizeof err);
        if (rc == PW_OK) rc = pw_simulate(s, path, err, sizeof err);
        pw_scenario_free(s);
        if (rc != PW_OK) return -1;
    }
    return 0;
}

const pw_fuzz_target pw_fuzz_trace = {"trace", run, seeds};
PW_FUZZ_ENTRY(pw_fuzz_trace)
