/* test_hwmon.c — the hwmon backend against fake /sys/class/hwmon trees built like the
 * kernel's (hwmonN symlinks into /sys/devices), driven exactly as the sampler does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sources/source.h"
#include "sysfs_fixture.h"
#include "tf.h"

extern const pw_source_ops pw_source_hwmon;

/* ---- the fake tree ------------------------------------------------------------------------ */

static const char *dev_dir(int n)
{
    static char buf[8][1024];
    static int next;
    char *b = buf[next++ & 7];
    snprintf(b, sizeof buf[0], "%s/sys/devices/platform/dev%d/hwmon/hwmon%d", tf_tmpdir(), n, n);
    return b;
}

/* hwmonN with its driver name, reachable as /sys/class/hwmon/hwmonN like on a real box. */
static void device(int n, const char *driver)
{
    char cls[1024], link[1200], target[256];
    fx_mkdirs(dev_dir(n));
    snprintf(cls, sizeof cls, "%s/sys/class/hwmon", tf_tmpdir());
    fx_mkdirs(cls);
    snprintf(link, sizeof link, "%s/hwmon%d", cls, n);
    snprintf(target, sizeof target, "../../devices/platform/dev%d/hwmon/hwmon%d", n, n);
    CHECK_INT(symlink(target, link), 0);
    char text[64];
    snprintf(text, sizeof text, "%s\n", driver);
    fx_write(dev_dir(n), "name", text);
}

static void put(int n, const char *file, const char *text) { fx_write(dev_dir(n), file, text); }
static void put_u64(int n, const char *file, uint64_t v) { fx_write_u64(dev_dir(n), file, v); }

/* A sensor: its value file and, when label is not NULL, its label file. */
static void sensor(int n, const char *file, uint64_t value, const char *label)
{
    put_u64(n, file, value);
    if (!label) return;
    char lf[64], text[64];
    snprintf(lf, sizeof lf, "%.*s_label", (int)(strchr(file, '_') - file), file);
    snprintf(text, sizeof text, "%s\n", label);
    put(n, lf, text);
}

static void remove_device(int n)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s/sys/class/hwmon/hwmon%d'", dev_dir(n),
             tf_tmpdir(), n);
    CHECK_INT(system(cmd), 0);
}

/* ---- driving the ops ---------------------------------------------------------------------- */

static int probe(void **st, pw_source_info *info, char *why, size_t whylen)
{
    return fx_probe(&pw_source_hwmon, st, info, why, whylen);
}

static void *probe_ok(pw_source_info *info) { return fx_probe_ok(&pw_source_hwmon, info); }

static int read_at(void *st, uint64_t t_ns, uint64_t *energy)
{
    return fx_read_at(&pw_source_hwmon, st, t_ns, energy);
}

static void check_domain(const pw_source_info *info, size_t i, const char *name, pw_kind kind,
                         int parent)
{
    CHECK(i < info->ndomains);
    CHECK_STR(info->domains[i].name, name);
    CHECK_INT(info->domains[i].kind, kind);
    CHECK_INT(info->domains[i].parent, parent);
    CHECK_INT(info->domains[i].flags, 0);
}

#define MS 1000000ull

/* ---- tests -------------------------------------------------------------------------------- */

TEST(hwmon_prefers_energy_counters_and_nests_parts_in_the_card)
{
    device(0, "xe");
    sensor(0, "energy1_input", 5000, "pkg");         /* the total comes second on disk */
    sensor(0, "energy2_input", 9000, "card");
    sensor(0, "power1_input", 30000000, "pkg");      /* ignored: the counters win */
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 2);
    check_domain(&info, 0, "xe-0:card", PW_KIND_GPU, -1);
    check_domain(&info, 1, "xe-0:pkg", PW_KIND_GPU, 0);
    uint64_t e[2];
    CHECK_INT(read_at(st, 1 * MS, e), PW_OK);
    CHECK_INT(e[0], 0);
    CHECK_INT(e[1], 0);
    put_u64(0, "energy2_input", 9000 + 7000);
    put_u64(0, "energy1_input", 5000 + 3000);
    CHECK_INT(read_at(st, 2 * MS, e), PW_OK);
    CHECK_INT(e[0], 7000);
    CHECK_INT(e[1], 3000);
    char *meta = fx_described(&pw_source_hwmon, st, "hwmon.xe-0:card");
    CHECK_MSG(meta && strstr(meta, "hwmon0/energy2_input (energy counter"), "%s", meta);
    free(meta);
    pw_source_hwmon.close(st);
}

TEST(hwmon_integrates_constant_power_exactly)
{
    device(0, "amdgpu");
    sensor(0, "power1_average", 25000000, "PPT");    /* 25 W */
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 1);
    check_domain(&info, 0, "amdgpu-0:PPT", PW_KIND_GPU, -1);
    uint64_t e[1];
    for (int i = 0; i <= 100; i++) {                  /* 10 ms apart: 250 mJ each */
        CHECK_INT(read_at(st, 5000 * MS + (uint64_t)i * 10 * MS, e), PW_OK);
        CHECK_INT(e[0], (uint64_t)i * 250000);
    }
    CHECK_INT(read_at(st, 5000 * MS + 1000 * MS + 3, e), PW_OK);   /* 3 ns more: 0.075 µJ */
    CHECK_INT(e[0], 25000000);
    char *meta = fx_described(&pw_source_hwmon, st, "hwmon.amdgpu-0:PPT");
    CHECK_MSG(meta && strstr(meta, "power1_average (power in uW, integrated"), "%s", meta);
    free(meta);
    pw_source_hwmon.close(st);
}

TEST(hwmon_integrates_a_ramp_with_the_trapezoid_rule_across_a_gap)
{
    device(0, "ina226");
    sensor(0, "power1_input", 10000000, NULL);       /* 10 W */
    pw_source_info info;
    void *st = probe_ok(&info);
    check_domain(&info, 0, "ina226-0:power1", PW_KIND_OTHER, -1);
    uint64_t e[1];
    CHECK_INT(read_at(st, 0, e), PW_OK);
    put_u64(0, "power1_input", 20000000);            /* 10 W -> 20 W over 1 s: 15 J */
    CHECK_INT(read_at(st, 1000 * MS, e), PW_OK);
    CHECK_INT(e[0], 15000000);
    remove_device(0);
    CHECK(read_at(st, 1500 * MS, e) != PW_OK);       /* gone: a gap */
    device(0, "ina226");
    sensor(0, "power1_input", 30000000, NULL);       /* back at 30 W: the gap is bridged */
    CHECK_INT(read_at(st, 3000 * MS, e), PW_OK);
    CHECK_INT(e[0], 15000000 + 50000000);            /* (20 + 30) / 2 W × 2 s */
    pw_source_hwmon.close(st);
}

TEST(hwmon_names_kinds_order_and_update_period)
{
    device(0, "k10temp");
    put(0, "temp1_input", "45000\n");                /* no power: not a domain */
    device(1, "amdgpu");
    sensor(1, "power1_average", 1, "PPT");
    device(2, "ina226");
    sensor(2, "power1_input", 1, "VDD IN");
    put(2, "update_interval", "2\n");
    device(10, "amdgpu");
    sensor(10, "power1_input", 1, "PPT");
    device(3, "power_meter");
    sensor(3, "power1_average", 1, NULL);
    put(3, "power1_average_interval", "1000\n");
    device(4, "nouveau");
    sensor(4, "power1_input", 1, "x");
    sensor(4, "power2_input", 1, "x");               /* one label twice: the channel decides */
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 6);
    check_domain(&info, 0, "amdgpu-0:PPT", PW_KIND_GPU, -1);
    check_domain(&info, 1, "ina226-0:VDD_IN", PW_KIND_OTHER, -1);
    check_domain(&info, 2, "power_meter-0:power1", PW_KIND_SYSTEM, -1);
    check_domain(&info, 3, "nouveau-0:x", PW_KIND_GPU, -1);
    check_domain(&info, 4, "nouveau-0:power2", PW_KIND_GPU, -1);
    check_domain(&info, 5, "amdgpu-1:PPT", PW_KIND_GPU, -1);   /* hwmon10 after hwmon4 */
    CHECK_INT(info.period_ns, 1000 * MS);
    pw_source_hwmon.close(st);
}

TEST(hwmon_prefers_instant_power_and_nests_fast_ppt)
{
    device(0, "amdgpu");
    sensor(0, "power1_average", 40000000, "slowPPT");
    sensor(0, "power1_input", 10000000, "slowPPT");  /* instant beats average */
    sensor(0, "power2_average", 80000000, "fastPPT");
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 2);
    check_domain(&info, 0, "amdgpu-0:slowPPT", PW_KIND_GPU, -1);
    check_domain(&info, 1, "amdgpu-0:fastPPT", PW_KIND_GPU, 0);   /* same rail: no double count */
    uint64_t e[2];
    CHECK_INT(read_at(st, 0, e), PW_OK);
    CHECK_INT(read_at(st, 100 * MS, e), PW_OK);
    CHECK_INT(e[0], 1000000);                        /* 10 W, from power1_input */
    CHECK_INT(e[1], 8000000);
    pw_source_hwmon.close(st);
}

static void amd_energy(void)
{
    device(0, "amd_energy");
    char file[32], label[32];
    for (int i = 1; i <= 4; i++) {
        snprintf(file, sizeof file, "energy%d_input", i);
        snprintf(label, sizeof label, "Ecore%03d", i - 1);
        sensor(0, file, 100, label);
    }
    sensor(0, "energy5_input", 1000, "Esocket0");
    sensor(0, "energy6_input", 2000, "Esocket1");
}

TEST(hwmon_amd_energy_takes_sockets_only)
{
    amd_energy();
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 2);
    check_domain(&info, 0, "amd_energy-0:Esocket0", PW_KIND_CPU, -1);
    check_domain(&info, 1, "amd_energy-0:Esocket1", PW_KIND_CPU, -1);
    uint64_t e[2];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    put_u64(0, "energy6_input", 2000 + 123456789);
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[0], 0);
    CHECK_INT(e[1], 123456789);
    pw_source_hwmon.close(st);
}

TEST(hwmon_leaves_cpu_drivers_to_rapl_when_powercap_has_zones)
{
    amd_energy();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/sys/class/powercap/intel-rapl:0", tf_tmpdir());
    fx_mkdirs(dir);
    void *st;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    CHECK_INT(probe(&st, &info, why, sizeof why), PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "hwmon0 left out: RAPL"), "why: %s", why);
    device(1, "amdgpu");                              /* a GPU still counts */
    sensor(1, "power1_average", 1, "PPT");
    st = probe_ok(&info);
    CHECK_INT(info.ndomains, 1);
    check_domain(&info, 0, "amdgpu-0:PPT", PW_KIND_GPU, -1);
    pw_source_hwmon.close(st);
}

TEST(hwmon_energy_counter_going_back_is_a_reset)
{
    device(0, "i915");
    sensor(0, "energy1_input", 1000000, NULL);
    pw_source_info info;
    void *st = probe_ok(&info);
    check_domain(&info, 0, "i915-0:energy1", PW_KIND_GPU, -1);
    uint64_t e[1];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    put_u64(0, "energy1_input", 1500000);
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[0], 500000);
    put_u64(0, "energy1_input", 200);                 /* driver reloaded */
    CHECK_INT(read_at(st, 3, e), PW_OK);
    CHECK_INT(e[0], 500000);
    put_u64(0, "energy1_input", 900);
    CHECK_INT(read_at(st, 4, e), PW_OK);
    CHECK_INT(e[0], 500700);
    pw_source_hwmon.close(st);
}

TEST(hwmon_permission_denied_alone_names_the_file_and_the_fix)
{
    device(0, "amd_energy");
    sensor(0, "energy1_input", 1, "Esocket0");
    char path[1200];
    snprintf(path, sizeof path, "%s/energy1_input", dev_dir(0));
    CHECK_INT(chmod(path, 0), 0);
    fx_drop_privileges();
    void *st;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    CHECK_INT(probe(&st, &info, why, sizeof why), PW_ERR_PERMISSION);
    CHECK_MSG(strstr(why, "permission denied on ") && strstr(why, "hwmon0/energy1_input") &&
              strstr(why, "run as root"), "why: %s", why);
    CHECK(st == NULL);
}

TEST(hwmon_permission_denied_beside_a_readable_sensor_is_noted)
{
    device(0, "amd_energy");
    sensor(0, "energy1_input", 1, "Esocket0");
    device(1, "amdgpu");
    sensor(1, "power1_average", 1, "PPT");
    char path[1200];
    snprintf(path, sizeof path, "%s/energy1_input", dev_dir(0));
    CHECK_INT(chmod(path, 0), 0);
    fx_drop_privileges();
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 1);
    check_domain(&info, 0, "amdgpu-0:PPT", PW_KIND_GPU, -1);
    pw_source_hwmon.close(st);
}

TEST(hwmon_energy_device_removed_mid_run_continues_when_back)
{
    device(0, "xe");
    sensor(0, "energy1_input", 1000, "card");
    pw_source_info info;
    void *st = probe_ok(&info);
    uint64_t e[1];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    remove_device(0);
    CHECK(read_at(st, 2, e) != PW_OK);
    CHECK(read_at(st, 3, e) != PW_OK);
    device(0, "xe");
    sensor(0, "energy1_input", 1000 + 42000, "card");
    CHECK_INT(read_at(st, 4, e), PW_OK);
    CHECK_INT(e[0], 42000);
    pw_source_hwmon.close(st);
}

TEST(hwmon_malformed_values_are_left_out_or_gaps)
{
    device(0, "ina226");
    put(0, "power1_input", "abc\n");                  /* left out at probe */
    sensor(0, "power2_input", 2000000, NULL);
    put(0, "power3_input", "200000000000\n");         /* 200 kW: not a real reading */
    int fds = fx_open_fds();
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 1);
    check_domain(&info, 0, "ina226-0:power2", PW_KIND_OTHER, -1);
    char *skipped = fx_described(&pw_source_hwmon, st, "hwmon.skipped");
    CHECK_MSG(skipped && strstr(skipped, "power1_input: malformed value") &&
              strstr(skipped, "power3_input: malformed value"), "%s", skipped);
    free(skipped);
    uint64_t e[1];
    CHECK_INT(read_at(st, 0, e), PW_OK);
    static const char *const bad[] = {"abc\n", "", "-5\n", "99999999999999999999999\n",
                                      "200000000000\n", "1.5\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put(0, "power2_input", bad[i]);
        CHECK_MSG(read_at(st, (i + 1) * MS, e) == PW_ERR_FORMAT, "'%s' was accepted", bad[i]);
    }
    put_u64(0, "power2_input", 2000000);             /* 2 W throughout: 2 W × 1 s */
    CHECK_INT(read_at(st, 1000 * MS, e), PW_OK);
    CHECK_INT(e[0], 2000000);
    pw_source_hwmon.close(st);
    CHECK_INT(fx_open_fds(), fds);
}

TEST(hwmon_empty_tree_says_why)
{
    void *st;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    CHECK_INT(probe(&st, &info, why, sizeof why), PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "no power or energy sensors under ") &&
              strstr(why, "/sys/class/hwmon: "), "why: %s", why);
    device(0, "k10temp");
    put(0, "temp1_input", "45000\n");
    device(1, "nvme");
    CHECK_INT(probe(&st, &info, why, sizeof why), PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "no power or energy sensors under "), "why: %s", why);
    CHECK(!strchr(why, '\n'));
    CHECK(st == NULL);
}
