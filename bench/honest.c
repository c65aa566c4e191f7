/* honest.c — benchmark: do stated intervals cover the truth as often as they say? Random
 * scenarios of real machines' conditions (pw_accuracy_random_scenario) per sensor preset and
 * seed, attributed as `report` does; prints coverage, the median |error| / half-width and the
 * worst measured figure. Usage: bench-honest [SEEDS [PRESET|all [ideal]]]. "ideal" switches
 * every error source but the readings' timing and the counter's quantum off (no call-to-call
 * variation, no ramp, no sensor noise, no second track): what the timing term alone must
 * cover. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/accuracy.h"
#include "sim/sensor.h"

/* Rewrites line `key ...` of text to `key value` in place; 0 when there is none or no room. */
static int set_line(char *text, size_t cap, const char *key, const char *value)
{
    char *at = strstr(text, key);
    if (!at) return 0;
    char *eol = strchr(at + 1, '\n');
    if (!eol) return 0;
    size_t keep = (size_t)(at - text) + strlen(key), tail = strlen(eol);
    if (keep + 1 + strlen(value) + tail + 1 > cap) return 0;
    memmove(text + keep + 1 + strlen(value), eol, tail + 1);
    text[keep] = ' ';
    memcpy(text + keep + 1, value, strlen(value));
    return 1;
}

/* The random scenario with every error source but timing and quantum off. */
static int idealise(char *text, size_t cap)
{
    char *track = strstr(text, "track tokenizer");
    if (track) *track = '\0';
    char *sensor = strstr(text, "sensor preset=");
    char *eol = sensor ? strchr(sensor, '\n') : NULL;
    if (!eol || strlen(text) + 9 >= cap) return 0;
    memmove(eol + 9, eol, strlen(eol) + 1);
    memcpy(eol, " noise=0W", 9);
    return set_line(text, cap, "\nvary", "0%") && set_line(text, cap, "\nramp", "0%");
}

int main(int argc, char **argv)
{
    int seeds = argc > 1 ? atoi(argv[1]) : 20;
    const char *only = argc > 2 && strcmp(argv[2], "all") ? argv[2] : NULL;
    int ideal = argc > 3 && !strcmp(argv[3], "ideal");
    static pw_coverage cov;
    if (ideal) printf("ideal: no call-to-call variation, ramp, noise or second track\n");
    printf("%-13s %6s %8s %9s %12s %9s %14s\n", "preset", "seeds", "figures", "covered",
           "coverage", "median", "worst measured");
    for (size_t p = 0; pw_sensor_preset_name(p); p++) {
        const char *preset = pw_sensor_preset_name(p);
        if (only && strcmp(only, preset)) continue;
        memset(&cov, 0, sizeof cov);
        for (int s = 1; s <= seeds; s++) {
            char text[8192], err[256] = "";
            pw_accuracy *acc = NULL;
            if (pw_accuracy_random_scenario(preset, (uint64_t)s, text, sizeof text) != PW_OK ||
                (ideal && !idealise(text, sizeof text)) ||
                pw_accuracy_measure(text, "/tmp/phasewatt-bench-honest.pwt", &acc, err, sizeof err)) {
                fprintf(stderr, "bench-honest: %s seed %d: %s\n", preset, s, err);
                return 1;
            }
            if (getenv("HONEST_VERBOSE"))
                for (size_t i = 0; i < acc->nrows; i++) {
                    const pw_accuracy_row *r = &acc->rows[i];
                    int c = pw_accuracy_column(PW_METHOD_AUTO);
                    printf("  %s s%d %-18s calls %5.0f true %9.4f err %+7.3f%% hw %7.3f%% %s\n",
                           preset, s, r->path, r->calls, r->true_j, 100 * r->err[c],
                           100 * r->ci_j[c] / r->true_j, r->provenance);
                }
            pw_accuracy_coverage_add(&cov, acc);
            pw_accuracy_free(acc);
        }
        double median = pw_accuracy_coverage_median(&cov);
        printf("%-13s %6d %8zu %9zu %11.1f%% %9.3f %13.2f%%\n", preset, seeds, cov.n, cov.covered,
               cov.n ? 100.0 * (double)cov.covered / (double)cov.n : 0, median,
               100 * cov.worst_measured);
    }
    return 0;
}
