/* test_nvml.c — the NVML backend loading a fake libnvidia-ml (build/fakes/libnvidia-ml.so)
 * through the real dlopen path, its GPUs described by a state file the test rewrites. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phasewatt.h"
#include "sources/source.h"
#include "sysfs_fixture.h"
#include "trace/trace.h"
#include "tf.h"

extern const pw_source_ops pw_source_nvml;

#define FAKE PW_BUILD_DIR "/fakes/libnvidia-ml.so"
#define H100 "name=NVIDIA H100 80GB HBM3 uuid=GPU-5e3b2d1c-0f6a-4b8e-9c7d-2a1b3c4d5e6f"
#define S 1000000000ull                     /* one second in ns */

/* ---- the fake driver ------------------------------------------------------------------------ */

/* The whole state of the fake driver; it re-reads the file at every NVML call. */
static void state(const char *text)
{
    CHECK_INT(tf_write_file(tf_path("nvml.state"), text, strlen(text)), 0);
    CHECK_INT(setenv("PHASEWATT_FAKE_NVML_STATE", tf_path("nvml.state"), 1), 0);
    CHECK_INT(setenv("PHASEWATT_FAKE_NVML_LOG", tf_path("nvml.log"), 1), 0);
}

/* What the fake logged: "init", "shutdown", and "unload" when it was dlclosed. */
static char *fake_log(void)
{
    char *log = tf_read_file(tf_path("nvml.log"), NULL);
    return log ? log : strdup("");
}

static int fake_loaded(void)
{
    void *h = dlopen(FAKE, RTLD_NOW | RTLD_NOLOAD);
    if (h) dlclose(h);
    return h != NULL;
}

/* ---- driving the ops ------------------------------------------------------------------------ */

static int probe_lib(const char *lib, void **st, pw_source_info *info, char *why, size_t whylen)
{
    pw_source_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nvml_library = lib;
    cfg.interval_ns = 10000000;
    *st = NULL;
    memset(info, 0, sizeof *info);
    return pw_source_nvml.probe(&cfg, st, info, why, whylen);
}

static void *probe_ok(pw_source_info *info)
{
    void *st;
    char why[PW_WHY_MAX] = "";
    int rc = probe_lib(FAKE, &st, info, why, sizeof why);
    CHECK_MSG(rc == PW_OK, "probe failed (%d): %s", rc, why);
    CHECK(st != NULL);
    return st;
}

/* Probes a state that must fail; returns the reason (static) after checking the code. */
static const char *probe_fails(const char *lib, int expected_rc)
{
    static char why[PW_WHY_MAX];
    void *st;
    pw_source_info info;
    why[0] = '\0';
    CHECK_INT(probe_lib(lib, &st, &info, why, sizeof why), expected_rc);
    CHECK(st == NULL);
    CHECK_INT(info.ndomains, 0);
    CHECK_MSG(why[0] && !strchr(why, '\n'), "why: '%s'", why);
    return why;
}

static int read_at(void *st, uint64_t t_ns, uint64_t *energy)
{
    return fx_read_at(&pw_source_nvml, st, t_ns, energy);
}

static void check_domain(const pw_source_info *info, size_t i, const char *name, int parent)
{
    CHECK(i < info->ndomains);
    CHECK_STR(info->domains[i].name, name);
    CHECK_INT(info->domains[i].kind, PW_KIND_GPU);
    CHECK_INT(info->domains[i].parent, parent);
    CHECK_INT(info->domains[i].flags, 0);
}

/* What describe() and finish() wrote for key (malloc'd, NULL if absent). */
static char *written(void *st, const char *key)
{
    return fx_described(&pw_source_nvml, st, key);
}

static void check_meta(void *st, const char *key, const char *expected)
{
    char *v = written(st, key);
    if (expected) CHECK_STR(v, expected);
    else CHECK_MSG(v == NULL, "%s = '%s', expected none", key, v);
    free(v);
}

/* ---- energy counters ------------------------------------------------------------------------ */

TEST(nvml_reads_two_gpus_energy_counters_in_exact_microjoules)
{
    state("count 2\n"
          "gpu 0 " H100 " energy_mj=123456 power_mw=1 limit_mw=700000\n"
          "gpu 1 name=NVIDIA A100-SXM4-40GB uuid=GPU-1 energy_mj=5000 power_mw=1\n");
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 2);
    CHECK_INT(info.period_ns, 0);
    check_domain(&info, 0, "gpu-0", -1);
    check_domain(&info, 1, "gpu-1", -1);
    uint64_t e[2];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    CHECK_INT(e[0], 0);                               /* the first reading is the baseline */
    CHECK_INT(e[1], 0);
    uint64_t mj0 = 123456, mj1 = 5000;
    for (int step = 1; step <= 4; step++) {
        char text[512];
        mj0 += 1500u * (unsigned)step;                /* power is ignored: the counter rules */
        mj1 += 7;
        snprintf(text, sizeof text, "count 2\ngpu 0 energy_mj=%llu power_mw=1\n"
                                    "gpu 1 energy_mj=%llu power_mw=1\n",
                 (unsigned long long)mj0, (unsigned long long)mj1);
        state(text);
        CHECK_INT(read_at(st, 1 + (uint64_t)step * S, e), PW_OK);
        CHECK_INT(e[0], (mj0 - 123456) * 1000);
        CHECK_INT(e[1], (mj1 - 5000) * 1000);
    }
    pw_source_nvml.close(st);
}

TEST(nvml_counter_going_back_is_a_driver_reload_not_a_wrap)
{
    state("count 1\ngpu 0 energy_mj=900000\n");
    pw_source_info info;
    void *st = probe_ok(&info);
    uint64_t e[1];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    state("count 1\ngpu 0 energy_mj=900250\n");
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[0], 250000);
    state("count 1\ngpu 0 energy_mj=40\n");           /* reloaded: counts from 0 again */
    CHECK_INT(read_at(st, 3, e), PW_OK);
    CHECK_INT(e[0], 250000);
    state("count 1\ngpu 0 energy_mj=100\n");
    CHECK_INT(read_at(st, 4, e), PW_OK);
    CHECK_INT(e[0], 250000 + 60000);
    pw_source_nvml.close(st);
}

/* ---- integrated power ----------------------------------------------------------------------- */

TEST(nvml_pre_volta_gpu_integrates_power_exactly)
{
    state("count 1\ngpu 0 name=Tesla P100-PCIE-16GB uuid=GPU-p100 power_mw=250000\n");
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 1);
    check_domain(&info, 0, "gpu-0", -1);
    check_meta(st, "gpu.0.energy", "integrated power");
    uint64_t e[1];
    CHECK_INT(read_at(st, 1 * S, e), PW_OK);
    CHECK_INT(e[0], 0);
    CHECK_INT(read_at(st, 3 * S, e), PW_OK);          /* 250 W for 2 s */
    CHECK_INT(e[0], 500000000);
    state("count 1\ngpu 0 power_mw=350000\n");         /* linear 250 -> 350 W over 2 s */
    CHECK_INT(read_at(st, 5 * S, e), PW_OK);
    CHECK_INT(e[0], 500000000 + 600000000);
    state("count 1\ngpu 0 power_mw=1\n");              /* 350 W -> 1 mW over 10 ms */
    CHECK_INT(read_at(st, 5 * S + 10000000, e), PW_OK);
    CHECK_INT(e[0], 1100000000 + 1750005);
    CHECK_INT(read_at(st, 5 * S + 10000000, e), PW_OK);   /* no time passed: no energy */
    CHECK_INT(e[0], 1101750005);
    pw_source_nvml.close(st);
}

/* ---- power fields --------------------------------------------------------------------------- */

TEST(nvml_power_fields_are_children_only_where_the_driver_has_them)
{
    state("count 3\n"
          "gpu 0 " H100 " energy_mj=1 instant_mw=310000 avg_mw=290000\n"
          "gpu 1 energy_mj=1 instant_mw=123.5 avg_mw=7 avg_rc=3 field_type=0\n"
          "gpu 2 energy_mj=1 instant_mw=5 avg_mw=5 field_rc=3\n"
          "gpu 3 energy_mj=1 instant_mw=5 avg_mw=5\n");      /* beyond count: not there */
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 6);
    check_domain(&info, 0, "gpu-0", -1);
    check_domain(&info, 1, "gpu-0-power-instant", 0);
    check_domain(&info, 2, "gpu-0-power-avg", 0);
    check_domain(&info, 3, "gpu-1", -1);
    check_domain(&info, 4, "gpu-1-power-instant", 3);
    check_domain(&info, 5, "gpu-2", -1);
    uint64_t e[6];
    CHECK_INT(read_at(st, 2 * S, e), PW_OK);
    CHECK_INT(read_at(st, 3 * S, e), PW_OK);
    CHECK_INT(e[1], 310000000);                      /* 310 W for 1 s */
    CHECK_INT(e[2], 290000000);
    CHECK_INT(e[4], 123500);                         /* 123.5 mW for 1 s, sent as a double */
    CHECK_INT(e[0], 0);
    state("count 3\n"
          "gpu 0 energy_mj=2 instant_mw=410000 avg_mw=290000 field_type=3\n"
          "gpu 1 energy_mj=3 instant_mw=123.5 field_type=0\n"
          "gpu 2 energy_mj=1\n");
    CHECK_INT(read_at(st, 5 * S, e), PW_OK);
    CHECK_INT(e[0], 1000);
    CHECK_INT(e[1], 310000000 + 720000000);          /* 310 -> 410 W over 2 s, as u64 */
    CHECK_INT(e[2], 290000000 + 580000000);
    CHECK_INT(e[3], 2000);
    CHECK_INT(e[4], 123500 + 247000);
    pw_source_nvml.close(st);
}

TEST(nvml_field_that_stops_answering_is_a_gap)
{
    state("count 1\ngpu 0 energy_mj=10 instant_mw=100000 avg_mw=100000\n");
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 3);
    uint64_t e[3];
    CHECK_INT(read_at(st, 0, e), PW_OK);
    state("count 1\ngpu 0 energy_mj=10 instant_mw=100000 avg_rc=15\n");
    CHECK_INT(read_at(st, 1 * S, e), PW_ERR_IO);
    state("count 1\ngpu 0 energy_mj=10 instant_mw=-5 avg_mw=100000 field_type=0\n");
    CHECK_INT(read_at(st, 2 * S, e), PW_ERR_FORMAT);
    state("count 1\ngpu 0 energy_mj=11 instant_mw=100000 avg_mw=100000\n");
    CHECK_INT(read_at(st, 3 * S, e), PW_OK);
    CHECK_INT(e[0], 1000);
    CHECK_INT(e[1], 300000000);                      /* the gap bridged: 100 W for 3 s */
    CHECK_INT(e[2], 300000000);
    check_meta(st, "gpu.0.read_errors", "2 failed reads, last: power field out of range");
    pw_source_nvml.close(st);
}

/* ---- metadata ------------------------------------------------------------------------------- */

TEST(nvml_describe_writes_names_uuids_limits_and_the_driver)
{
    state("driver 550.54.15\ncount 2\n"
          "gpu 0 " H100 " energy_mj=1 limit_mw=700000\n"
          "gpu 1 name=Tesla T4 uuid=GPU-t4 power_mw=20000 limit_mw=70500\n");
    pw_source_info info;
    void *st = probe_ok(&info);
    check_meta(st, "nvml.library", FAKE);
    check_meta(st, "nvml.driver", "550.54.15");
    check_meta(st, "gpu.0.name", "NVIDIA H100 80GB HBM3");
    check_meta(st, "gpu.0.uuid", "GPU-5e3b2d1c-0f6a-4b8e-9c7d-2a1b3c4d5e6f");
    check_meta(st, "gpu.0.power_limit_w", "700.000");
    check_meta(st, "gpu.0.energy", "counter");
    check_meta(st, "gpu.1.name", "Tesla T4");
    check_meta(st, "gpu.1.power_limit_w", "70.500");
    check_meta(st, "gpu.1.energy", "integrated power");
    check_meta(st, "gpu.0.read_errors", NULL);
    check_meta(st, "nvml.skipped", NULL);
    pw_source_nvml.close(st);
    state("count 1\ngpu 0 energy_mj=1\n");           /* no driver version, no limit */
    st = probe_ok(&info);
    check_meta(st, "nvml.driver", NULL);
    check_meta(st, "gpu.0.power_limit_w", NULL);
    check_meta(st, "gpu.0.name", NULL);
    pw_source_nvml.close(st);
}

/* ---- probe failures ------------------------------------------------------------------------- */

TEST(nvml_without_the_library_says_there_is_no_driver)
{
    const char *why = probe_fails("libnvidia-ml-phasewatt-absent.so.1", PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "no NVIDIA driver (libnvidia-ml-phasewatt-absent.so.1 not found)") &&
              strstr(why, "PHASEWATT_NVML_LIBRARY"), "why: %s", why);
    why = probe_fails(tf_path("lib/libnvidia-ml.so.1"), PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "no NVIDIA driver (") && strstr(why, "/lib/libnvidia-ml.so.1 not found)"),
              "why: %s", why);
}

TEST(nvml_library_that_is_not_nvml_is_refused)
{
    CHECK_INT(tf_write_file(tf_path("libbogus.so"), "not an ELF\n", 11), 0);
    const char *why = probe_fails(tf_path("libbogus.so"), PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "cannot load ") && strstr(why, "libbogus.so: "), "why: %s", why);
    why = probe_fails("libc.so.6", PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "libc.so.6 has no nvmlInit_v2") && strstr(why, "update the driver"),
              "why: %s", why);
}

TEST(nvml_init_failure_gives_nvml_error_string_and_unloads)
{
    int fds = fx_open_fds();
    state("init 9\ncount 1\ngpu 0 energy_mj=1\n");
    const char *why = probe_fails(FAKE, PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "NVIDIA driver present but nvmlInit failed: Driver Not Loaded") &&
              strstr(why, "modprobe nvidia"), "why: %s", why);
    state("init 4\n");
    why = probe_fails(FAKE, PW_ERR_PERMISSION);
    CHECK_MSG(strstr(why, "nvmlInit failed: Insufficient Permissions") &&
              strstr(why, "/dev/nvidia"), "why: %s", why);
    state("init 18\n");
    why = probe_fails(FAKE, PW_ERR_IO);
    CHECK_MSG(strstr(why, "nvmlInit failed: RM has detected an NVML/RM version mismatch."),
              "why: %s", why);
    char *log = fake_log();                          /* no shutdown after a failed init */
    CHECK_STR(log, "init\nunload\ninit\nunload\ninit\nunload\n");
    free(log);
    CHECK(!fake_loaded());
    CHECK_INT(fx_open_fds(), fds);
}

TEST(nvml_zero_gpus_is_a_clear_reason)
{
    state("count 0\n");
    const char *why = probe_fails(FAKE, PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "NVML sees no GPU") && strstr(why, "nvidia-smi -L"), "why: %s", why);
    state("count 2\ncount_rc 999\n");
    why = probe_fails(FAKE, PW_ERR_IO);
    CHECK_MSG(strstr(why, "nvmlDeviceGetCount failed: Unknown Error"), "why: %s", why);
    char *log = fake_log();
    CHECK_STR(log, "init\nshutdown\nunload\ninit\nshutdown\nunload\n");
    free(log);
}

TEST(nvml_unusable_gpu_is_left_out_with_a_note)
{
    state("count 3\n"
          "gpu 0 handle_rc=4 energy_mj=1\n"
          "gpu 1 energy_mj=1\n"
          "gpu 2 energy_rc=15\n");
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 1);
    check_domain(&info, 0, "gpu-1", -1);             /* NVML's index, holes and all */
    check_meta(st, "nvml.skipped",
               "gpu 0 left out: nvmlDeviceGetHandleByIndex: Insufficient Permissions; "
               "gpu 2 left out: nvmlDeviceGetTotalEnergyConsumption: GPU is lost");
    pw_source_nvml.close(st);
    state("count 2\ngpu 0 handle_rc=4\ngpu 1 power_rc=4\n");   /* neither reading works */
    const char *why = probe_fails(FAKE, PW_ERR_PERMISSION);
    CHECK_STR(why, "no usable NVIDIA GPU: gpu 0 left out: nvmlDeviceGetHandleByIndex: "
                   "Insufficient Permissions; gpu 1 left out: no energy counter, and "
                   "nvmlDeviceGetPowerUsage: Insufficient Permissions");
}

/* ---- failures mid-run ----------------------------------------------------------------------- */

TEST(nvml_gpu_lost_mid_run_is_a_gap_and_later_reads_recover)
{
    state("count 3\ngpu 0 energy_mj=1000\ngpu 1 energy_mj=2000\ngpu 2 power_mw=100000\n");
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 3);
    uint64_t e[3];
    CHECK_INT(read_at(st, 0, e), PW_OK);
    state("count 3\ngpu 0 energy_mj=1010\ngpu 1 energy_rc=15\ngpu 2 power_rc=15\n");
    CHECK_INT(read_at(st, 1 * S, e), PW_ERR_IO);     /* the whole tick is a gap */
    CHECK_INT(read_at(st, 2 * S, e), PW_ERR_IO);     /* retried, still lost */
    state("count 3\ngpu 0 energy_mj=1020\ngpu 1 energy_mj=2500\ngpu 2 power_mw=100000\n");
    CHECK_INT(read_at(st, 3 * S, e), PW_OK);
    CHECK_INT(e[0], 20000);                          /* GPU 0 was read all along */
    CHECK_INT(e[1], 500000);                         /* the counter kept counting */
    CHECK_INT(e[2], 300000000);                      /* 100 W bridged over the gap */
    check_meta(st, "gpu.1.read_errors", "2 failed reads, last: GPU is lost");
    check_meta(st, "gpu.2.read_errors", "2 failed reads, last: GPU is lost");
    check_meta(st, "gpu.0.read_errors", NULL);
    state("count 3\ngpu 0 energy_mj=1020\ngpu 1 energy_mj=2500\ngpu 2 power_mw=4000000000\n");
    CHECK_INT(read_at(st, 4 * S, e), PW_ERR_FORMAT); /* 4 MW is no reading */
    pw_source_nvml.close(st);
}

/* ---- a driver that never returns ------------------------------------------------------------- */

/* Waits (bounded, for a broken build only) until the fake logged `what`. */
static void wait_for_log(const char *what)
{
    for (int i = 0; i < 12000; i++) {
        char *log = fake_log();
        int seen = strstr(log, what) != NULL;
        free(log);
        if (seen) return;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    CHECK_MSG(0, "the fake never logged %s", what);
}

/* A GPU that falls off the bus leaves NVML calls hanging. The profiled program's pw_close must
 * still return, with a valid trace that says which sensor it left behind. */
TEST(nvml_read_stuck_in_the_driver_does_not_hold_pw_close)
{
    state("count 1\ngpu 0 energy_mj=1000\n");
    CHECK_INT(setenv("PHASEWATT_NVML_LIBRARY", FAKE, 1), 0);
    pw_options o;
    pw_options_init(&o);
    o.output_path = tf_path("stuck.pwt");
    o.sources = "nvml";
    o.quiet = 1;
    o.read_limit_ms = 200;
    CHECK_INT(pw_open(&o), PW_OK);
    state("count 1\ngpu 0 energy_mj=1010\nhang 1\n");
    wait_for_log("hang");                        /* the sampler is inside the stuck read */
    CHECK_INT(pw_close(), PW_OK);
    pw_stats st = {.size = sizeof st};
    CHECK_INT(pw_get_stats(&st), PW_OK);
    CHECK_INT(st.stuck_reads, 1);
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(o.output_path, &t), PW_OK);
    const char *said = pw_trace_meta(t, "sensor.nvml.stuck_read_s");
    CHECK_MSG(said && strtod(said, NULL) >= 0.2, "stuck_read_s: %s", said ? said : "(none)");
    CHECK(t->series[0].n >= 1);                  /* the baseline reading is kept */
    pw_trace_close(t);
    char *out = tf_run_expect("\"$PW\" report stuck.pwt", 0, NULL);
    CHECK_MSG(out && strstr(out, "a read had not returned"), "report says nothing of it:\n%s",
              out ? out : "");
    free(out);
    state("count 1\ngpu 0 energy_mj=1020\n");  /* the driver comes back: the thread leaves */
    CHECK_INT(pw_open(&o), PW_OK);               /* and a new session can start */
    CHECK_INT(pw_close(), PW_OK);
    unsetenv("PHASEWATT_NVML_LIBRARY");
}

/* nvmlInit that never returns: the probe gives up in bounded time with the reason, and the
 * library, once it answers, is shut down by the thread that was left with it. */
TEST(nvml_driver_that_never_answers_its_probe_is_left_out_in_bounded_time)
{
    state("hang_init 1\ncount 1\ngpu 0 energy_mj=1\n");
    pw_source_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nvml_library = FAKE;
    cfg.interval_ns = 10000000;
    cfg.probe_limit_ms = 200;
    void *st = NULL;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    CHECK_INT(pw_source_probe(&pw_source_nvml, &cfg, &st, &info, why, sizeof why), PW_ERR_IO);
    CHECK_MSG(strstr(why, "did not answer within 0.2 s"), "why: %s", why);
    CHECK(st == NULL);
    char *out = tf_run_expect("PHASEWATT_NVML_LIBRARY=" FAKE " PHASEWATT_PROBE_LIMIT_MS=200 "
                              "\"$PW\" sources", 0, NULL);
    CHECK_MSG(out && strstr(out, "did not answer"), "sources says:\n%s", out ? out : "");
    free(out);
    state("count 1\ngpu 0 energy_mj=1\n");   /* it answers: both probes finish, to nobody */
    wait_for_log("shutdown");
}

/* ---- limits and resources ------------------------------------------------------------------- */

static void many_gpus(unsigned count, const char *extra)
{
    static char text[32768];
    size_t len = (size_t)snprintf(text, sizeof text, "count %u\n", count);
    for (unsigned i = 0; i < count; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "gpu %u energy_mj=%u %s\n", i,
                                i, extra);
    state(text);
}

TEST(nvml_many_gpus_fill_the_domains_gpus_first)
{
    many_gpus(30, "instant_mw=1 avg_mw=1");          /* 90 domains wanted: fields go */
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 30);
    check_domain(&info, 29, "gpu-29", -1);
    check_meta(st, "nvml.skipped", "power fields left out: more than 64 domains");
    pw_source_nvml.close(st);
    many_gpus(21, "instant_mw=1 avg_mw=1");          /* 63 domains: all fit */
    st = probe_ok(&info);
    CHECK_INT(info.ndomains, 63);
    check_domain(&info, 62, "gpu-20-power-avg", 60);
    pw_source_nvml.close(st);
    many_gpus(70, "");
    st = probe_ok(&info);
    CHECK_INT(info.ndomains, PW_SOURCE_MAX_DOMAINS);
    check_domain(&info, 63, "gpu-63", -1);
    check_meta(st, "nvml.skipped", "more GPUs than domains: the rest left out");
    uint64_t e[PW_SOURCE_MAX_DOMAINS];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    pw_source_nvml.close(st);
}

TEST(nvml_close_shuts_nvml_down_and_unloads_the_library)
{
    int fds = fx_open_fds();
    state("count 1\ngpu 0 energy_mj=1 instant_mw=1 avg_mw=1\n");
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK(fake_loaded());
    uint64_t e[3];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    pw_source_nvml.close(st);
    CHECK(!fake_loaded());
    char *log = fake_log();
    CHECK_STR(log, "init\nshutdown\nunload\n");
    free(log);
    CHECK_INT(fx_open_fds(), fds);
    pw_source_nvml.close(NULL);
}

/* ---- a real driver, where there is one ------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * S + (uint64_t)ts.tv_nsec;
}

/* On a machine with an NVIDIA GPU: the same code against the real libnvidia-ml. Bounds,
 * not timings: no GPU draws more than 1.5 kW. */
TEST(nvml_real_driver_when_present)
{
    unsetenv("PHASEWATT_NVML_LIBRARY");
    pw_source_config cfg;
    pw_source_config_from_env(&cfg);
    void *st = NULL;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    if (pw_source_nvml.probe(&cfg, &st, &info, why, sizeof why) != PW_OK) tf_skip(why);
    uint64_t e0[PW_SOURCE_MAX_DOMAINS], e[PW_SOURCE_MAX_DOMAINS], t0 = now_ns(), t = t0;
    CHECK_INT(pw_source_nvml.read(st, &t, e0), PW_OK);
    struct timespec pause = {0, 300000000};
    nanosleep(&pause, NULL);
    t = now_ns();
    CHECK_INT(pw_source_nvml.read(st, &t, e), PW_OK);
    double max_uj = (double)(t - t0) / 1e9 * 1500.0 * 1e6;
    for (size_t i = 0; i < info.ndomains; i++) {
        fprintf(stderr, "  %s: %.3f J in %.3f s\n", info.domains[i].name, (double)e[i] / 1e6,
                (double)(t - t0) / 1e9);
        CHECK_INT(e0[i], 0);
        CHECK((double)e[i] <= max_uj);
    }
    char *name = written(st, "gpu.0.name");
    CHECK(name && name[0]);
    fprintf(stderr, "  gpu.0.name = %s\n", name);
    free(name);
    pw_source_nvml.close(st);
}
