/* test_ioreport.c — the ioreport backend loading a fake libIOReport + CoreFoundation
 * (build/fakes/ioreport.so) through the real dlopen path, with channel sets shaped like an
 * M1, an M3 Pro and an Ultra; and whole recordings whose energy is checked against the
 * fake's own log of what it handed out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/attribute.h"
#include "phasewatt.h"
#include "sources/source.h"
#include "sysfs_fixture.h"
#include "tf.h"
#include "trace/trace.h"

extern const pw_source_ops pw_source_ioreport;

#define FAKE PW_BUILD_DIR "/fakes/ioreport.so"
#define EM "ch Energy Model|"

/* ---- the fake frameworks -------------------------------------------------------------------- */

/* The fake re-reads the state at every call; rename() so it never sees half a file. */
static void state(const char *text)
{
    const char *tmp = tf_path("ioreport.state.tmp");
    CHECK_INT(tf_write_file(tmp, text, strlen(text)), 0);
    CHECK_INT(rename(tmp, tf_path("ioreport.state")), 0);
    CHECK_INT(setenv("PHASEWATT_FAKE_IOREPORT_STATE", tf_path("ioreport.state"), 1), 0);
    CHECK_INT(setenv("PHASEWATT_FAKE_IOREPORT_LOG", tf_path("ioreport.log"), 1), 0);
}

static char *fake_log(void)
{
    char *log = tf_read_file(tf_path("ioreport.log"), NULL);
    return log ? log : strdup("");
}

/* The fake unloaded with every object it handed out released. */
static void check_released(void)
{
    char *log = fake_log();
    CHECK_MSG(strstr(log, "unload live=0\n") && !strstr(log, "bad release"), "log: %s", log);
    free(log);
}

static pw_source_config libs(const char *ior, const char *cf)
{
    pw_source_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.ioreport_library = ior;
    cfg.corefoundation_library = cf;
    cfg.interval_ns = 10000000;
    return cfg;
}

static void *probe_ok(pw_source_info *info)
{
    pw_source_config cfg = libs(FAKE, FAKE);
    return fx_probe_with_ok(&pw_source_ioreport, &cfg, info);
}

static const char *probe_fails(const char *ior, const char *cf, int expected_rc)
{
    pw_source_config cfg = libs(ior, cf);
    return fx_probe_with_fails(&pw_source_ioreport, &cfg, expected_rc);
}

static void check_domain(const pw_source_info *info, const char *name, pw_kind kind,
                         const char *parent)
{
    int i = fx_index(info, name);
    CHECK_INT(info->domains[i].kind, kind);
    if (parent) CHECK_INT(info->domains[i].parent, fx_index(info, parent));
    else CHECK_INT(info->domains[i].parent, -1);
}

static int has_domain(const pw_source_info *info, const char *name)
{
    for (size_t i = 0; i < info->ndomains; i++)
        if (strcmp(info->domains[i].name, name) == 0) return 1;
    return 0;
}

static uint64_t energy_of(const pw_source_info *info, const uint64_t *e, const char *name)
{
    return e[fx_index(info, name)];
}

static void read_n(void *st, int n, uint64_t *e)
{
    for (int i = 0; i < n; i++) CHECK_INT(fx_read_at(&pw_source_ioreport, st, 1, e), PW_OK);
}

/* ---- chip shapes ---------------------------------------------------------------------------- */

/* An M1: per-core channels, two clusters, the CPU total, everything in mJ. */
#define M1 EM "EACC_CPU0|mJ|1|1\n" EM "EACC_CPU1|mJ|1|1\n" EM "EACC_CPU|mJ|1|2\n"       \
           EM "PACC_CPU0|mJ|1|4\n" EM "PACC_CPU1|mJ|1|4\n" EM "PACC_CPU|mJ|1|8\n"       \
           EM "CPU Energy|mJ|1|10\n" EM "GPU Energy|mJ|1|30\n" EM "ANE|mJ|1|5\n"         \
           EM "DRAM|mJ|1|7\n" EM "ISP|mJ|1|1\n" "ch PMP|DRAM BW|MB|1|99\n"

TEST(ioreport_m1_clusters_under_the_cpu_total_cores_left_out)
{
    state(M1);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 7);
    check_domain(&info, "cpu", PW_KIND_CPU, NULL);
    check_domain(&info, "eacc_cpu", PW_KIND_CPU, "cpu");
    check_domain(&info, "pacc_cpu", PW_KIND_CPU, "cpu");
    check_domain(&info, "gpu", PW_KIND_GPU, NULL);
    check_domain(&info, "ane", PW_KIND_ANE, NULL);
    check_domain(&info, "dram", PW_KIND_DRAM, NULL);
    check_domain(&info, "isp", PW_KIND_SOC, NULL);
    CHECK(!has_domain(&info, "eacc_cpu0") && !has_domain(&info, "dram_bw"));
    uint64_t e[PW_SOURCE_MAX_DOMAINS];
    read_n(st, 3, e);
    CHECK_INT(energy_of(&info, e, "cpu"), 30000);        /* 3 samples x 10 mJ, in µJ */
    CHECK_INT(energy_of(&info, e, "eacc_cpu"), 6000);
    CHECK_INT(energy_of(&info, e, "gpu"), 90000);
    CHECK_INT(energy_of(&info, e, "dram"), 21000);
    pw_source_ioreport.close(st);
    check_released();
}

/* An M3 Pro: a unit per channel, read from its label; a GPU total with SRAM under it. */
#define M3PRO EM "ECPU|uJ|1|1500\n" EM "PCPU|nJ|1|7500500\n" EM "CPU Energy|mJ|1|9\n"      \
              EM "GPU Energy|nJ|1|20000333\n" EM "GPU SRAM|uJ|1|800\n" EM "ANE|uJ|1|2500\n"  \
              EM "DRAM|mJ|1|4\n" EM "AVE|nJ|1|999\n"

TEST(ioreport_m3_pro_units_come_from_each_channels_label)
{
    state(M3PRO EM "BOGUS|W|1|5\n" EM "STATES|mJ|2|5\n");
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 8);
    check_domain(&info, "ecpu", PW_KIND_CPU, "cpu");
    check_domain(&info, "pcpu", PW_KIND_CPU, "cpu");
    check_domain(&info, "gpu_sram", PW_KIND_GPU, "gpu");
    check_domain(&info, "ave", PW_KIND_SOC, NULL);
    uint64_t e[PW_SOURCE_MAX_DOMAINS];
    read_n(st, 3, e);
    CHECK_INT(energy_of(&info, e, "ecpu"), 4500);
    CHECK_INT(energy_of(&info, e, "pcpu"), 22501);       /* 22 501 500 nJ: no nJ dropped */
    CHECK_INT(energy_of(&info, e, "cpu"), 27000);
    CHECK_INT(energy_of(&info, e, "gpu"), 60000);        /* 60 000 999 nJ */
    CHECK_INT(energy_of(&info, e, "ave"), 2);            /* 2997 nJ */
    char *skipped = fx_described(&pw_source_ioreport, st, "ioreport.skipped");
    CHECK_MSG(skipped && strstr(skipped, "BOGUS: unknown unit") &&
              strstr(skipped, "STATES: not a simple counter"), "skipped: %s", skipped);
    free(skipped);
    char *model = fx_described(&pw_source_ioreport, st, "ioreport.model");
    CHECK(model && strstr(model, "model") && strstr(model, "not a shunt"));
    free(model);
    pw_source_ioreport.close(st);
    check_released();
}

/* An Ultra: two dies, each with its own CPU total over its own clusters. */
#define DIE(n) EM "DIE_" #n "_CPU Energy|mJ|1|12\n" EM "DIE_" #n "_EACC_CPU|mJ|1|2\n"      \
               EM "DIE_" #n "_PACC0_CPU|mJ|1|5\n" EM "DIE_" #n "_PACC1_CPU|mJ|1|5\n"        \
               EM "DIE_" #n "_EACC_CPU1|mJ|1|1\n"
#define ULTRA DIE(0) DIE(1) EM "GPU Energy|mJ|1|40\n" EM "ANE0|mJ|1|3\n" EM "ANE1|mJ|1|3\n" \
              EM "DRAM0|mJ|1|6\n" EM "DRAM1|mJ|1|6\n"

TEST(ioreport_ultra_two_dies_each_cluster_under_its_own_die)
{
    state(ULTRA);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 13);
    check_domain(&info, "die_0_cpu", PW_KIND_CPU, NULL);
    check_domain(&info, "die_1_cpu", PW_KIND_CPU, NULL);
    check_domain(&info, "die_0_pacc1_cpu", PW_KIND_CPU, "die_0_cpu");
    check_domain(&info, "die_1_eacc_cpu", PW_KIND_CPU, "die_1_cpu");
    check_domain(&info, "ane1", PW_KIND_ANE, NULL);
    check_domain(&info, "dram0", PW_KIND_DRAM, NULL);
    uint64_t e[PW_SOURCE_MAX_DOMAINS], top_cpu = 0;
    read_n(st, 2, e);
    for (size_t d = 0; d < info.ndomains; d++)
        if (info.domains[d].kind == PW_KIND_CPU && info.domains[d].parent < 0) top_cpu += e[d];
    CHECK_INT(top_cpu, 48000);                           /* 2 dies x 2 samples x 12 mJ */
    pw_source_ioreport.close(st);
    check_released();
}

/* ---- failures ------------------------------------------------------------------------------- */

TEST(ioreport_channel_that_disappears_is_a_gap_and_nothing_is_lost)
{
    state(M1);
    pw_source_info info;
    void *st = probe_ok(&info);
    uint64_t e[PW_SOURCE_MAX_DOMAINS];
    read_n(st, 1, e);
    state(EM "CPU Energy|mJ|1|10\n" EM "GPU Energy|mJ|1|30\n" EM "DRAM|mJ|1|7\n");
    CHECK_INT(fx_read_at(&pw_source_ioreport, st, 1, e), PW_ERR_IO);
    CHECK_INT(fx_read_at(&pw_source_ioreport, st, 1, e), PW_ERR_IO);
    state(M1);
    read_n(st, 1, e);
    CHECK_INT(energy_of(&info, e, "cpu"), 40000);        /* the two samples of the gap kept */
    CHECK_INT(energy_of(&info, e, "ane"), 10000);        /* not counted while it was away */
    char *errors = fx_described(&pw_source_ioreport, st, "ioreport.read_errors");
    CHECK_MSG(errors && strstr(errors, "2 failed reads") && strstr(errors, "EACC_CPU"),
              "read_errors: %s", errors);
    free(errors);
    pw_source_ioreport.close(st);
    check_released();
}

TEST(ioreport_failed_sample_is_a_gap_then_reads_recover)
{
    state(M1);
    pw_source_info info;
    void *st = probe_ok(&info);
    uint64_t e[PW_SOURCE_MAX_DOMAINS];
    state(M1 "samples_fail\n");
    CHECK_INT(fx_read_at(&pw_source_ioreport, st, 1, e), PW_ERR_IO);
    state(M1 "delta_fails\n");
    CHECK_INT(fx_read_at(&pw_source_ioreport, st, 1, e), PW_ERR_IO);
    state(M1);
    read_n(st, 1, e);
    CHECK_INT(energy_of(&info, e, "gpu"), 60000);        /* the delta-failed sample's too */
    pw_source_ioreport.close(st);
    check_released();
}

TEST(ioreport_failing_subscription_is_a_clear_reason_and_unloads)
{
    state(M1 "subscribe_fails\n");
    const char *why = probe_fails(FAKE, FAKE, PW_ERR_IO);
    CHECK_MSG(strstr(why, "subscription"), "why: %s", why);
    check_released();
}

TEST(ioreport_no_energy_model_group_says_so)
{
    state(M1 "copy_fails\n");
    const char *why = probe_fails(FAKE, FAKE, PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "Energy Model"), "why: %s", why);
    state("ch PMP|DRAM BW|MB|1|99\n");
    why = probe_fails(FAKE, FAKE, PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "no energy channel"), "why: %s", why);
    check_released();
}

TEST(ioreport_missing_framework_names_the_variable_to_set)
{
    state(M1);
    const char *why = probe_fails(tf_path("nowhere/libIOReport.dylib"), FAKE, PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "nowhere/libIOReport.dylib") && strstr(why, "macOS only") &&
              strstr(why, "PHASEWATT_IOREPORT_LIBRARY"), "why: %s", why);
    why = probe_fails(FAKE, tf_path("nowhere/CoreFoundation"), PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "nowhere/CoreFoundation"), "why: %s", why);
    why = probe_fails(PW_BUILD_DIR "/fakes/libnvidia-ml.so", FAKE, PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "has no IOReportCopyChannelsInGroup"), "why: %s", why);
}

TEST(ioreport_shares_apples_group_with_powermetrics_and_auto_prefers_it)
{
    const pw_source_ops *io = pw_source_find("ioreport"), *pm = pw_source_find("powermetrics");
    CHECK(io && pm && io->group && pm->group);
    CHECK_STR(io->group, pm->group);
    CHECK(io->auto_probe && io->measured && strstr(io->summary, "model"));
    size_t at_io = 0, at_pm = 0;
    for (size_t i = 0; i < pw_source_count(); i++) {
        if (pw_source_at(i) == io) at_io = i;
        if (pw_source_at(i) == pm) at_pm = i;
    }
    CHECK(at_io < at_pm);
}

/* ---- whole recordings ----------------------------------------------------------------------- */

typedef struct handed {                 /* what the fake's log says it handed out in an epoch */
    double j[PW_KIND_COUNT];
    unsigned samples;                   /* samples that carried energy */
} handed;

#define E2E_CH EM "CPU Energy|mJ|1|%d\n" EM "ECPU|uJ|1|%d\n" EM "PCPU|nJ|1|%d\n"           \
               EM "GPU Energy|nJ|1|%d\n" EM "ANE|uJ|1|%d\n" EM "DRAM|mJ|1|%d\n"

static void e2e_state(long epoch, int cpu_mj, int gpu_mj, int ane_mj, int dram_mj)
{
    char text[1024];
    int n = snprintf(text, sizeof text, "epoch %ld\n", epoch);
    snprintf(text + n, sizeof text - (size_t)n, E2E_CH, cpu_mj, cpu_mj * 300, cpu_mj * 700000,
             gpu_mj * 1000000, ane_mj * 1000, dram_mj);
    state(text);
}

/* Top-level channels only, as the trace's per-kind sums count them. */
static void add_step(handed *h, const char *name, double step)
{
    static const struct { const char *name; pw_kind kind; double j; } top[] = {
        {"CPU Energy", PW_KIND_CPU, 1e-3}, {"GPU Energy", PW_KIND_GPU, 1e-9},
        {"ANE", PW_KIND_ANE, 1e-6}, {"DRAM", PW_KIND_DRAM, 1e-3},
    };
    for (size_t i = 0; i < sizeof top / sizeof *top; i++)
        if (strcmp(name, top[i].name) == 0) h->j[top[i].kind] += step * top[i].j;
}

static handed from_log(long epoch)
{
    handed h = {{0}, 0};
    char *log = fake_log(), *save = NULL, pattern[48];
    snprintf(pattern, sizeof pattern, " epoch %ld|", epoch);
    for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "sample ", 7) != 0 || !strstr(line, pattern)) continue;
        double before = h.j[PW_KIND_CPU];
        for (char *f = strchr(line, '|'); f; f = strchr(f + 1, '|')) {
            char name[64];
            long long step;
            if (sscanf(f + 1, "%63[^=]=%lld", name, &step) == 2) add_step(&h, name, (double)step);
        }
        h.samples += h.j[PW_KIND_CPU] > before;
    }
    free(log);
    return h;
}

/* Holds the phase until the fake has handed out n samples' energy in this epoch. */
static void hold(long epoch, unsigned n)
{
    for (int tries = 0; from_log(epoch).samples < n; tries++) {
        CHECK_MSG(tries < 120000, "the sampler took no sample in epoch %ld", epoch);
        nanosleep(&(struct timespec){0, 500000}, NULL);
    }
}

/* The state says epoch e only between pw_begin and pw_end, and the fake gives energy only to
 * samples whose interval lies inside one epoch: so each phase's energy is exactly what the
 * log says it handed out during that phase, whatever the timing. */
static void phase(const char *name, long epoch, int cpu, int gpu, int ane, int dram)
{
    CHECK_INT(pw_begin_name(name), PW_OK);
    e2e_state(epoch, cpu, gpu, ane, dram);
    hold(epoch, 8);
    e2e_state(epoch + 1, 0, 0, 0, 0);   /* nothing between phases: no sample crossing pw_end
                                           or pw_begin can carry energy across it */
    CHECK_INT(pw_end(), PW_OK);
}

static void check_phase(const pw_trace *t, const pw_attribution *a, const char *path,
                        handed want)
{
    static const pw_kind kinds[] = {PW_KIND_CPU, PW_KIND_GPU, PW_KIND_ANE, PW_KIND_DRAM};
    int node = pw_attribution_find(a, path);
    CHECK_MSG(node > 0, "no phase %s", path);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        CHECK_MSG(want.j[kinds[k]] > 0, "%s: the fake handed out no %s energy", path,
                  pw_kind_name(kinds[k]));
        CHECK_NEAR(pw_energy_kind(t, a->nodes[node].incl_j, kinds[k]), want.j[kinds[k]], 0.005);
    }
}

TEST(ioreport_record_per_phase_energy_matches_what_the_fake_handed_out)
{
    e2e_state(0, 0, 0, 0, 0);
    CHECK_INT(setenv("PHASEWATT_IOREPORT_LIBRARY", FAKE, 1), 0);
    CHECK_INT(setenv("PHASEWATT_COREFOUNDATION_LIBRARY", FAKE, 1), 0);
    pw_options o;
    pw_options_init(&o);
    o.output_path = tf_path("ioreport.pwt");
    o.sources = "ioreport";
    o.interval_ns = 2000000;
    o.quiet = 1;
    CHECK_INT(pw_open(&o), PW_OK);
    phase("prefill", 10, 40, 25, 9, 3);
    phase("decode", 20, 12, 60, 1, 8);
    phase("prefill", 30, 40, 25, 9, 3);
    CHECK_INT(pw_close(), PW_OK);

    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path("ioreport.pwt"), &t), PW_OK);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    handed pre = from_log(10), pre2 = from_log(30);
    for (int k = 0; k < PW_KIND_COUNT; k++) pre.j[k] += pre2.j[k];
    check_phase(t, a, "prefill", pre);
    check_phase(t, a, "decode", from_log(20));
    pw_attribution_free(a);
    pw_trace_close(t);
}

/* Sums the run's energy (J) in one column of `report --samples`: a row per interval, stamped
 * with its end (s since the first reading), its power in mW. */
static double column_j(const char *csv, int col, unsigned *rows)
{
    double sum = 0, last_t = 0;
    char *copy = strdup(csv), *save = NULL;
    *rows = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        double v[6];
        if (sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
            continue;                                    /* the header */
        sum += v[col] * 1e-3 * (v[0] - last_t);
        last_t = v[0];
        (*rows)++;
    }
    free(copy);
    return sum;
}

TEST(ioreport_cli_record_fills_the_classic_power_columns)
{
    static const pw_kind cols[] = {PW_KIND_CPU, PW_KIND_GPU, PW_KIND_ANE, PW_KIND_DRAM};
    static const double step_j[] = {10e-3, 30e-3, 5e-3, 7e-3};
    e2e_state(-1, 10, 30, 5, 7);                         /* no gating: every sample counts */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "PHASEWATT_IOREPORT_LIBRARY='%s' PHASEWATT_COREFOUNDATION_LIBRARY="
             "'%s' \"$PW\" record --source ioreport --interval 5ms -o m.pwt --no-report -- "
             "sleep 0.2 && \"$PW\" report m.pwt --samples", FAKE, FAKE);
    char *csv = tf_run_expect(cmd, 0, NULL);
    CHECK_MSG(strncmp(csv, "timestamp,cpu_power_mw,gpu_power_mw,ane_power_mw,dram_power_mw", 61)
              == 0, "csv: %.200s", csv);
    handed h = from_log(-1);
    /* the log's first sample is the probe's baseline and its second the first reading: the
     * rows (the intervals after it) hold what the fake handed out from its third on */
    for (int c = 0; c < 4; c++) {
        unsigned rows;
        double got = column_j(csv, c + 1, &rows);
        CHECK_INT(rows + 2, h.samples);
        CHECK(got > 0);
        CHECK_NEAR(got, h.j[cols[c]] - 2 * step_j[c], 0.005);
    }
    free(csv);
}
