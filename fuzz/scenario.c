/* scenario.c — fuzz target: the scenario parser, and the timeline of what it accepted. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sim/scenario.h"

static int run(const uint8_t *data, size_t len)
{
    char *text = malloc(len + 1);
    if (!text) return 0;
    memcpy(text, data, len);
    text[len] = '\0';
    pw_scenario *s = NULL;
    char err[256];
    if (pw_scenario_parse(text, &s, err, sizeof err) == PW_OK) {
        pw_schedule *tl = NULL;
        if (pw_scenario_duration_ns(s) < 1000000000000ull && pw_scenario_schedule(s, &tl) == PW_OK)
            pw_schedule_free(tl);
        pw_scenario_free(s);
    }
    free(text);
    return 0;
}

static int seeds(const char *dir)
{
    static const char sensors[] =
        "name sensors\nsensor preset=rapl offset=0.3ms noise=0.1W seed=7 latency=20us\n"
        "sample every=1ms\ndomain name=gpu-0 kind=gpu\nbackground 8W\nlead 2ms\n"
        "phase a 1ms 10W # comment\nsensor2 x\n";
    static const char average[] =
        "sensor type=average period=100ms window=1s coverage=25% resolution=1mW jitter=1ms\n"
        "repeat 2 {\n  phase p {\n    idle 1ms\n    count tokens -3\n    phase q 2us 1kW\n  }\n}\n";
    const char *builtin = pw_scenario_builtin();
    return pw_fuzz_write_seed(dir, "builtin.scn", builtin, strlen(builtin)) ||
           pw_fuzz_write_seed(dir, "sensors.scn", sensors, sizeof sensors - 1) ||
           pw_fuzz_write_seed(dir, "average.scn", average, sizeof average - 1);
}

const pw_fuzz_target pw_fuzz_scenario = {"scenario", run, seeds};
PW_FUZZ_ENTRY(pw_fuzz_scenario)
