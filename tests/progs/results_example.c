/* results_example.c — reads a trace's results through the public headers only, as a user's
 * program would: the method, the warnings, each phase's energy (total and per kind), its 95 %
 * interval, J/token and provenance, then the PowerSample view. Tab-separated lines, numbers as
 * the JSON report writes them (%.9g, "-" where there is none); samples in full (%.17g). */
#include <math.h>
#include <stdio.h>

#include "phasewatt-analysis.h"

static void number(double v, const char *format)
{
    if (isfinite(v)) printf(format, v);
    else fputs("-", stdout);
}

static int print_phase(const pw_result *r, size_t i)
{
    pw_phase_figures f = {.size = sizeof f};
    int rc = pw_result_phase(r, i, &f);
    if (rc != PW_OK) return rc;
    printf("phase\t%s\t", f.path);
    number(f.energy_j, "%.9g");
    for (size_t k = 0; k < pw_result_kind_count(r); k++) {
        double j = NAN;
        rc = pw_result_phase_kind_energy(r, i, pw_result_kind(r, k), PW_INCLUSIVE, &j);
        if (rc != PW_OK) return rc;
        printf("\t%s=", pw_result_kind(r, k));
        number(j, "%.9g");
    }
    fputs("\tci=", stdout);
    number(f.uncertainty_j, "%.9g");
    fputs("\tJ/token=", stdout);
    number(f.j_per_token, "%.9g");
    printf("\t%s\n", f.provenance);
    return PW_OK;
}

static int print_samples(const pw_result *r)
{
    pw_sample_iter *it = NULL;
    int rc = pw_result_samples(r, &it);
    if (rc != PW_OK) return rc;
    pw_power_sample s = {.size = sizeof s};
    while ((rc = pw_sample_next(it, &s)) == 1)
        printf("sample\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%s\n", s.timestamp,
               s.cpu_power_mw, s.gpu_power_mw, s.ane_power_mw, s.dram_power_mw,
               s.total_power_mw, s.phase);
    pw_sample_iter_free(it);
    return rc < 0 ? rc : PW_OK;
}

static int print_result(const pw_trace *t)
{
    pw_result *r = NULL;
    int rc = pw_result_new(t, NULL, &r);
    if (rc != PW_OK) return rc;
    printf("method\t%s\n", pw_result_method(r));
    for (size_t i = 0; i < pw_result_warning_count(r); i++)
        printf("warning\t%s\n", pw_result_warning(r, i));
    for (size_t i = 0; rc == PW_OK && i < pw_result_phase_count(r); i++) rc = print_phase(r, i);
    if (rc == PW_OK) rc = print_samples(r);
    pw_result_free(r);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: results_example TRACE.pwt\n");
        return 2;
    }
    pw_trace *t = NULL;
    int rc = pw_trace_open(argv[1], &t);
    if (rc == PW_OK) rc = print_result(t);
    pw_trace_close(t);
    if (rc != PW_OK) {
        fprintf(stderr, "results_example: %s: %s\n", argv[1], pw_strerror(rc));
        return 1;
    }
    return 0;
}
