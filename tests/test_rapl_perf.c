/* test_rapl_perf.c — the perf RAPL backend against fake power-PMU trees; perf_event_open and
 * read are stood in by files named after (cpu, config) whose counts the tests advance. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sources/rapl_perf.h"
#include "sources/source.h"
#include "sysfs_fixture.h"
#include "tf.h"

extern const pw_source_ops pw_source_rapl_perf;

#define SCALE32 "2.3283064365386962890625e-10"   /* 2^-32 J: what the kernel writes */
#define TWO32 4294967296ull
#define PMU_TYPE 33
#define MAX_OPENS 256

enum { CFG_CORES = 1, CFG_PKG = 2, CFG_RAM = 3, CFG_GPU = 4, CFG_PSYS = 5 };

/* ---- the fake kernel: a counter is a file holding its count in decimal -------------------- */

static struct fake {
    int deny_errno;                      /* every open fails so (EACCES…); 0: none */
    uint64_t fail_config;                /* opens of this config fail with fail_errno */
    int fail_errno;
    size_t nopen;
    struct { uint32_t type; uint64_t config; int cpu; } opened[MAX_OPENS];
} fake;

static const char *count_path(int cpu, uint64_t config)
{
    char name[64];
    snprintf(name, sizeof name, "count-cpu%d-config%llu", cpu, (unsigned long long)config);
    return tf_path(name);
}

/* A missing count file answers ENOENT, as the kernel does for an event the CPU lacks. */
static int fake_open(uint32_t type, uint64_t config, int cpu)
{
    if (fake.nopen < MAX_OPENS) {
        fake.opened[fake.nopen].type = type;
        fake.opened[fake.nopen].config = config;
        fake.opened[fake.nopen++].cpu = cpu;
    }
    int err = fake.deny_errno ? fake.deny_errno
              : fake.fail_errno && config == fake.fail_config ? fake.fail_errno : 0;
    if (err) {
        errno = err;
        return -1;
    }
    return open(count_path(cpu, config), O_RDONLY | O_CLOEXEC);
}

/* Anything but a decimal count (the tests write "fail") is a read error. */
static int fake_read(int fd, uint64_t *count)
{
    char buf[32], *end;
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) {
        errno = EIO;
        return -1;
    }
    buf[n] = '\0';
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end == buf || errno) {
        errno = EIO;
        return -1;
    }
    *count = v;
    return 0;
}

static void use_fake_kernel(void)
{
    static const pw_perf_hooks hooks = {fake_open, fake_read};
    memset(&fake, 0, sizeof fake);
    pw_rapl_perf_set_hooks(&hooks);
}

static void set_count(int cpu, uint64_t config, uint64_t count)
{
    char text[32];
    snprintf(text, sizeof text, "%llu\n", (unsigned long long)count);
    CHECK_INT(tf_write_file(count_path(cpu, config), text, strlen(text)), 0);
}

static void break_count(int cpu, uint64_t config)
{
    CHECK_INT(tf_write_file(count_path(cpu, config), "fail", 4), 0);
}

/* How often (cpu, config) was opened, on the PMU type the tree names. */
static int opens_of(int cpu, uint64_t config)
{
    int n = 0;
    for (size_t i = 0; i < fake.nopen; i++)
        n += fake.opened[i].type == PMU_TYPE && fake.opened[i].config == config &&
             fake.opened[i].cpu == cpu;
    return n;
}

/* ---- the fake tree ------------------------------------------------------------------------ */

static const char *pmu_dir(void)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/sys/bus/event_source/devices/power", tf_tmpdir());
    return buf;
}

static const char *events_dir(void)
{
    static char buf[1100];
    snprintf(buf, sizeof buf, "%s/events", pmu_dir());
    return buf;
}

static void pmu(const char *type, const char *cpumask)
{
    fx_mkdirs(events_dir());
    fx_write(pmu_dir(), "type", type);
    fx_write(pmu_dir(), "cpumask", cpumask);
}

/* events/<name> = "event=<code>", with its .scale and .unit as the kernel writes them. */
static void event(const char *name, const char *code, const char *scale)
{
    char file[64], text[64];
    snprintf(text, sizeof text, "event=%s\n", code);
    fx_write(events_dir(), name, text);
    snprintf(file, sizeof file, "%s.scale", name);
    snprintf(text, sizeof text, "%s\n", scale);
    fx_write(events_dir(), file, text);
    snprintf(file, sizeof file, "%s.unit", name);
    fx_write(events_dir(), file, "Joules\n");
}

static void event_file(const char *file, const char *text) { fx_write(events_dir(), file, text); }

static void topology(int cpu, const char *file, unsigned value)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/sys/devices/system/cpu/cpu%d/topology", tf_tmpdir(), cpu);
    fx_mkdirs(dir);
    fx_write_u64(dir, file, value);
}

static const char *paranoid_path(void)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/proc/sys/kernel/perf_event_paranoid", tf_tmpdir());
    return buf;
}

static void set_paranoid(const char *level)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/proc/sys/kernel", tf_tmpdir());
    fx_mkdirs(dir);
    fx_write(dir, "perf_event_paranoid", level);
}

/* Every event of a client part (psys optional), and a count file for each on every CPU. */
static void all_events(int with_psys, const int *cpus, size_t ncpus)
{
    event("energy-cores", "0x01", SCALE32);
    event("energy-pkg", "0x02", SCALE32);
    event("energy-ram", "0x03", SCALE32);
    event("energy-gpu", "0x04", SCALE32);
    if (with_psys) event("energy-psys", "0x05", SCALE32);
    for (size_t i = 0; i < ncpus; i++)
        for (uint64_t c = CFG_CORES; c <= CFG_PSYS; c++) set_count(cpus[i], c, 1000 * c);
}

static void one_socket(int with_psys)
{
    static const int cpus[] = {0};
    pmu("33\n", "0\n");
    topology(0, "physical_package_id", 0);
    all_events(with_psys, cpus, 1);
}

static void two_sockets(int with_psys)
{
    static const int cpus[] = {0, 8};
    pmu("33\n", "0,8\n");
    topology(0, "physical_package_id", 0);
    topology(8, "physical_package_id", 1);
    all_events(with_psys, cpus, 2);
}

/* ---- driving the ops ---------------------------------------------------------------------- */

static pw_source_config config(void)
{
    static char proc[1024];
    snprintf(proc, sizeof proc, "%s/proc", tf_tmpdir());
    pw_source_config cfg = fx_config();
    cfg.proc_root = proc;
    return cfg;
}

static void *probe_ok(pw_source_info *info)
{
    pw_source_config cfg = config();
    return fx_probe_with_ok(&pw_source_rapl_perf, &cfg, info);
}

/* Probes expecting failure rc; returns the reason (static). */
static const char *probe_fails(int rc)
{
    pw_source_config cfg = config();
    return fx_probe_with_fails(&pw_source_rapl_perf, &cfg, rc);
}

static void check_order(const pw_source_info *info, const char *const *names, size_t n)
{
    CHECK_INT(info->ndomains, n);
    for (size_t i = 0; i < n; i++) CHECK_STR(info->domains[i].name, names[i]);
}

static int read_all(void *st, uint64_t *e)
{
    return fx_read_at(&pw_source_rapl_perf, st, 1000, e);
}

static void check_has(const char *text, const char *part)
{
    CHECK_MSG(text && strstr(text, part), "\"%s\" lacks \"%s\"", text ? text : "(null)", part);
}

/* ---- domains ------------------------------------------------------------------------------ */

TEST(rapl_perf_ops_table)
{
    CHECK_STR(pw_source_rapl_perf.name, "rapl-perf");
    CHECK_STR(pw_source_rapl_perf.group, "rapl");
    CHECK_INT(pw_source_rapl_perf.measured, 1);
    CHECK_INT(pw_source_rapl_perf.auto_probe, 1);
    CHECK(pw_source_rapl_perf.probe && pw_source_rapl_perf.read && pw_source_rapl_perf.close);
}

TEST(rapl_perf_one_socket_domains_kinds_and_containment)
{
    use_fake_kernel();
    one_socket(1);
    pw_source_info info;
    void *st = probe_ok(&info);
    static const char *const order[] = {"psys", "package-0", "core-0", "uncore-0", "dram-0"};
    check_order(&info, order, 5);
    CHECK_INT(info.period_ns, 976563);   /* 2^-10 s */
    fx_check_domain(&info, "psys", PW_KIND_SYSTEM, NULL);
    fx_check_domain(&info, "package-0", PW_KIND_CPU, "psys");
    fx_check_domain(&info, "core-0", PW_KIND_CPU, "package-0");
    fx_check_domain(&info, "uncore-0", PW_KIND_CPU, "package-0");
    fx_check_domain(&info, "dram-0", PW_KIND_DRAM, "psys");       /* a rail of its own */
    CHECK_INT(fake.nopen, 5);                                   /* one counter per event */
    for (uint64_t c = CFG_CORES; c <= CFG_PSYS; c++) CHECK_INT(opens_of(0, c), 1);
    char *pkg = fx_described(&pw_source_rapl_perf, st, "rapl-perf.package-0");
    CHECK_STR(pkg, "energy-pkg cpu=0 type=33 config=0x2 scale=" SCALE32 " J");
    free(pkg);
    char *psys = fx_described(&pw_source_rapl_perf, st, "rapl-perf.psys");
    CHECK_STR(psys, "energy-psys cpu=0 type=33 config=0x5 scale=" SCALE32 " J");
    free(psys);
    CHECK(fx_described(&pw_source_rapl_perf, st, "rapl-perf.skipped") == NULL);
    pw_source_rapl_perf.close(st);
}

TEST(rapl_perf_two_sockets_open_one_counter_per_package_cpu)
{
    use_fake_kernel();
    two_sockets(1);
    pw_source_info info;
    void *st = probe_ok(&info);
    static const char *const order[] = {"psys", "package-0", "core-0", "uncore-0", "dram-0",
                                        "package-1", "core-1", "uncore-1", "dram-1"};
    check_order(&info, order, 9);
    fx_check_domain(&info, "package-1", PW_KIND_CPU, "psys");
    fx_check_domain(&info, "core-1", PW_KIND_CPU, "package-1");
    fx_check_domain(&info, "uncore-1", PW_KIND_CPU, "package-1");
    fx_check_domain(&info, "dram-1", PW_KIND_DRAM, "psys");
    CHECK_INT(opens_of(0, CFG_PSYS), 1);                /* psys once, on the first package */
    CHECK_INT(opens_of(8, CFG_PSYS), 0);
    for (uint64_t c = CFG_CORES; c <= CFG_GPU; c++) {
        CHECK_INT(opens_of(0, c), 1);
        CHECK_INT(opens_of(8, c), 1);
    }
    CHECK_INT(fake.nopen, 9);
    uint64_t e[PW_SOURCE_MAX_DOMAINS];
    CHECK_INT(read_all(st, e), PW_OK);
    for (size_t i = 0; i < info.ndomains; i++) CHECK_INT(e[i], 0);
    set_count(8, CFG_PKG, 2000 + 7 * TWO32);             /* socket 1 only: 7 J */
    set_count(8, CFG_RAM, 3000 + TWO32 / 2);
    CHECK_INT(read_all(st, e), PW_OK);
    CHECK_INT(e[fx_index(&info, "package-1")], 7000000);
    CHECK_INT(e[fx_index(&info, "dram-1")], 500000);
    CHECK_INT(e[fx_index(&info, "package-0")], 0);
    CHECK_INT(e[fx_index(&info, "dram-0")], 0);
    char *pkg1 = fx_described(&pw_source_rapl_perf, st, "rapl-perf.package-1");
    check_has(pkg1, "energy-pkg cpu=8 ");
    free(pkg1);
    pw_source_rapl_perf.close(st);
}

TEST(rapl_perf_without_psys_packages_and_dram_are_top_level)
{
    use_fake_kernel();
    two_sockets(0);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 8);
    fx_check_domain(&info, "package-0", PW_KIND_CPU, NULL);
    fx_check_domain(&info, "dram-1", PW_KIND_DRAM, NULL);
    fx_check_domain(&info, "core-1", PW_KIND_CPU, "package-1");
    pw_source_rapl_perf.close(st);
}

TEST(rapl_perf_package_numbers_come_from_topology)
{
    use_fake_kernel();
    pmu("33\n", "0-1\n");                                /* a range, in reverse packages */
    event("energy-pkg", "0x02", SCALE32);
    topology(0, "physical_package_id", 1);
    topology(1, "physical_package_id", 0);
    set_count(0, CFG_PKG, 0);
    set_count(1, CFG_PKG, 0);
    pw_source_info info;
    void *st = probe_ok(&info);
    static const char *const order[] = {"package-1", "package-0"};
    check_order(&info, order, 2);
    uint64_t e[2];
    CHECK_INT(read_all(st, e), PW_OK);
    set_count(0, CFG_PKG, 3 * TWO32);                    /* CPU 0 counts package 1 */
    CHECK_INT(read_all(st, e), PW_OK);
    CHECK_INT(e[fx_index(&info, "package-1")], 3000000);
    CHECK_INT(e[fx_index(&info, "package-0")], 0);
    pw_source_rapl_perf.close(st);
}

TEST(rapl_perf_without_topology_packages_go_by_position_in_cpumask)
{
    use_fake_kernel();
    pmu("33\n", "2,5\n");
    event("energy-pkg", "0x02", SCALE32);
    topology(5, "physical_package_id", 7);               /* CPU 2 has none: all by position */
    set_count(2, CFG_PKG, 0);
    set_count(5, CFG_PKG, 0);
    pw_source_info info;
    void *st = probe_ok(&info);
    static const char *const order[] = {"package-0", "package-1"};
    check_order(&info, order, 2);
    CHECK_INT(opens_of(2, CFG_PKG), 1);
    CHECK_INT(opens_of(5, CFG_PKG), 1);
    pw_source_rapl_perf.close(st);
}

TEST(rapl_perf_dies_of_one_package_are_named_like_powercap)
{
    use_fake_kernel();
    pmu("33\n", "0,4\n");
    event("energy-pkg", "0x02", SCALE32);
    event("energy-cores", "0x01", SCALE32);
    for (int cpu = 0; cpu <= 4; cpu += 4) {
        topology(cpu, "physical_package_id", 0);
        topology(cpu, "die_id", (unsigned)cpu / 4);
        set_count(cpu, CFG_PKG, 0);
        set_count(cpu, CFG_CORES, 0);
    }
    pw_source_info info;
    void *st = probe_ok(&info);
    static const char *const order[] = {"package-0-die-0", "core-0-die-0", "package-0-die-1",
                                        "core-0-die-1"};
    check_order(&info, order, 4);
    fx_check_domain(&info, "core-0-die-1", PW_KIND_CPU, "package-0-die-1");
    pw_source_rapl_perf.close(st);
}

/* ---- energy ------------------------------------------------------------------------------- */

TEST(rapl_perf_converts_2_to_the_minus_32_joules_exactly)
{
    use_fake_kernel();
    one_socket(0);
    pw_source_info info;
    void *st = probe_ok(&info);
    uint64_t e[PW_SOURCE_MAX_DOMAINS];
    CHECK_INT(read_all(st, e), PW_OK);
    set_count(0, CFG_PKG, 2000 + TWO32);                 /* 2^32 counts = 1 J */
    set_count(0, CFG_CORES, 1000 + 3 * (TWO32 / 2));     /* 1.5 J */
    set_count(0, CFG_RAM, 3000 + 1);                     /* 0.000233 µJ: rounds to 0 */
    CHECK_INT(read_all(st, e), PW_OK);
    CHECK_INT(e[fx_index(&info, "package-0")], 1000000);
    CHECK_INT(e[fx_index(&info, "core-0")], 1500000);
    CHECK_INT(e[fx_index(&info, "dram-0")], 0);
    CHECK_INT(e[fx_index(&info, "uncore-0")], 0);
    set_count(0, CFG_RAM, 3000 + TWO32 - 1);             /* 999999.9998 µJ */
    set_count(0, CFG_GPU, 4000 + TWO32 / 1000000 * 3);   /* 4294 × 3 counts = 2.99938 µJ */
    CHECK_INT(read_all(st, e), PW_OK);
    CHECK_INT(e[fx_index(&info, "dram-0")], 1000000);
    CHECK_INT(e[fx_index(&info, "uncore-0")], 3);
    pw_source_rapl_perf.close(st);
}

/* A counter that ran long before the probe, advanced by steps of 100.49995 µJ: converting
 * each step alone would lose half a µJ per step (1 mJ over the run). */
TEST(rapl_perf_cumulative_conversion_does_not_drift)
{
    use_fake_kernel();
    pmu("33\n", "0\n");
    event("energy-pkg", "0x02", SCALE32);
    const uint64_t start = (1ull << 62) + 12345, step = 431644;
    set_count(0, CFG_PKG, start);
    pw_source_info info;
    void *st = probe_ok(&info);
    uint64_t e[1];
    CHECK_INT(read_all(st, e), PW_OK);
    for (uint64_t i = 1; i <= 2000; i++) {
        set_count(0, CFG_PKG, start + i * step);
        CHECK_INT(read_all(st, e), PW_OK);
        /* i × step × 10^6 < 2^63: exact in long double, and so is the division by 2^32 */
        uint64_t want = (uint64_t)roundl((long double)(i * step) * 1e6L / (long double)TWO32);
        CHECK_INT(e[0], want);
    }
    CHECK_INT(e[0], 201000);                             /* 200 999.90 µJ */
    pw_source_rapl_perf.close(st);
}

TEST(rapl_perf_converts_other_scales)
{
    use_fake_kernel();
    pmu("33\n", "0\n");
    event("energy-pkg", "0x02", "6.103515625e-05");      /* 2^-14 J: Intel ESU 14 */
    event("energy-cores", "0x01", "1e-06");              /* 1 µJ per count */
    event("energy-ram", "0x03", "1.5e-05");              /* 15 µJ per count */
    event("energy-gpu", "0x04", "0.5");                  /* 2^-1 J */
    for (uint64_t c = CFG_CORES; c <= CFG_GPU; c++) set_count(0, c, 0);
    pw_source_info info;
    void *st = probe_ok(&info);
    uint64_t e[4];
    CHECK_INT(read_all(st, e), PW_OK);
    set_count(0, CFG_PKG, 3);
    set_count(0, CFG_CORES, 123456789);
    set_count(0, CFG_RAM, 1000);
    set_count(0, CFG_GPU, 3);
    CHECK_INT(read_all(st, e), PW_OK);
    CHECK_INT(e[fx_index(&info, "package-0")], 183);     /* 183.1054… µJ */
    CHECK_INT(e[fx_index(&info, "core-0")], 123456789);
    CHECK_INT(e[fx_index(&info, "dram-0")], 15000);
    CHECK_INT(e[fx_index(&info, "uncore-0")], 1500000);
    set_count(0, CFG_PKG, 16384 + 3);                    /* 2^14 counts more: 1 J more */
    CHECK_INT(read_all(st, e), PW_OK);
    CHECK_INT(e[fx_index(&info, "package-0")], 1000183);
    char *ram = fx_described(&pw_source_rapl_perf, st, "rapl-perf.dram-0");
    CHECK_STR(ram, "energy-ram cpu=0 type=33 config=0x3 scale=1.5e-05 J");
    free(ram);
    pw_source_rapl_perf.close(st);
}

TEST(rapl_perf_read_error_is_a_gap_then_recovers)
{
    use_fake_kernel();
    pmu("33\n", "0\n");
    event("energy-pkg", "0x02", SCALE32);
    event("energy-ram", "0x03", SCALE32);
    set_count(0, CFG_PKG, 100);
    set_count(0, CFG_RAM, 200);
    pw_source_info info;
    void *st = probe_ok(&info);
    int pkg = fx_index(&info, "package-0"), ram = fx_index(&info, "dram-0");
    uint64_t e[2];
    CHECK_INT(read_all(st, e), PW_OK);
    set_count(0, CFG_PKG, 100 + TWO32);
    CHECK_INT(read_all(st, e), PW_OK);
    CHECK_INT(e[pkg], 1000000);
    break_count(0, CFG_PKG);
    set_count(0, CFG_RAM, 200 + 2 * TWO32);
    CHECK_INT(read_all(st, e), PW_ERR_IO);              /* a gap... */
    CHECK_INT(e[ram], 2000000);                          /* ...but the others were read */
    set_count(0, CFG_PKG, 100 + 5 * TWO32);              /* the kernel kept counting */
    CHECK_INT(read_all(st, e), PW_OK);
    CHECK_INT(e[pkg], 5000000);
    CHECK_INT(e[ram], 2000000);
    pw_source_rapl_perf.close(st);
}

TEST(rapl_perf_close_releases_every_descriptor)
{
    use_fake_kernel();
    two_sockets(1);
    int fds = fx_open_fds();
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(fx_open_fds(), fds + 9);                   /* one per counter, kept open */
    uint64_t e[PW_SOURCE_MAX_DOMAINS];
    CHECK_INT(read_all(st, e), PW_OK);
    pw_source_rapl_perf.close(st);
    CHECK_INT(fx_open_fds(), fds);
}

/* ---- events left out ---------------------------------------------------------------------- */

TEST(rapl_perf_event_the_cpu_lacks_is_left_out_with_a_note)
{
    use_fake_kernel();
    pmu("33\n", "0\n");
    event("energy-pkg", "0x02", SCALE32);
    event("energy-cores", "0x01", SCALE32);
    event("energy-ram", "0x03", SCALE32);                /* listed, but no counter: ENOENT */
    event("energy-gpu", "0x04", SCALE32);
    set_count(0, CFG_PKG, 0);
    set_count(0, CFG_CORES, 0);
    set_count(0, CFG_GPU, 0);
    fake.fail_config = CFG_GPU;
    fake.fail_errno = EINVAL;
    int fds = fx_open_fds();
    pw_source_info info;
    void *st = probe_ok(&info);
    static const char *const order[] = {"package-0", "core-0"};
    check_order(&info, order, 2);
    char *skipped = fx_described(&pw_source_rapl_perf, st, "rapl-perf.skipped");
    check_has(skipped, "energy-gpu on CPU 0 left out: the CPU lacks it (perf_event_open: ");
    check_has(skipped, "energy-ram on CPU 0 left out: the CPU lacks it (perf_event_open: ");
    CHECK(strstr(skipped, "psys") == NULL);              /* not listed: not offered */
    free(skipped);
    uint64_t e[2];
    CHECK_INT(read_all(st, e), PW_OK);
    pw_source_rapl_perf.close(st);
    CHECK_INT(fx_open_fds(), fds);
}

TEST(rapl_perf_no_usable_event_fails_with_the_notes)
{
    use_fake_kernel();
    pmu("33\n", "0\n");
    event("energy-pkg", "0x02", SCALE32);                /* no count file: ENOENT */
    const char *why = probe_fails(PW_ERR_NOT_FOUND);
    check_has(why, "no usable RAPL perf event under ");
    check_has(why, "energy-pkg on CPU 0 left out: the CPU lacks it");
}

/* ---- permission --------------------------------------------------------------------------- */

TEST(rapl_perf_permission_denied_names_perf_event_paranoid)
{
    use_fake_kernel();
    one_socket(1);
    set_paranoid("2\n");
    fake.deny_errno = EACCES;
    int fds = fx_open_fds();
    const char *why = probe_fails(PW_ERR_PERMISSION);
    char want[1400];
    snprintf(want, sizeof want, "perf_event_paranoid is 2 (%s): run as root, grant "
             "CAP_PERFMON, or sysctl kernel.perf_event_paranoid=0", paranoid_path());
    check_has(why, want);
    check_has(why, "permission denied opening perf event energy-psys on CPU 0: ");
    CHECK_INT(fx_open_fds(), fds);
}

/* EPERM after some counters were opened: they are closed again. */
TEST(rapl_perf_permission_denied_late_closes_what_was_opened)
{
    use_fake_kernel();
    two_sockets(0);
    set_paranoid("4\n");
    fake.fail_config = CFG_RAM;
    fake.fail_errno = EPERM;
    int fds = fx_open_fds();
    const char *why = probe_fails(PW_ERR_PERMISSION);
    check_has(why, "opening perf event energy-ram on CPU 0: perf_event_paranoid is 4 (");
    CHECK_INT(opens_of(0, CFG_PKG), 1);
    CHECK_INT(fx_open_fds(), fds);
}

TEST(rapl_perf_permission_denied_without_a_readable_paranoid_file)
{
    use_fake_kernel();
    one_socket(0);
    fake.deny_errno = EACCES;
    const char *why = probe_fails(PW_ERR_PERMISSION);
    check_has(why, "perf_event_paranoid is unknown (");
    check_has(why, "grant CAP_PERFMON");
}

TEST(rapl_perf_unreadable_event_file_is_permission_denied)
{
    use_fake_kernel();
    one_socket(0);
    char path[1200];
    snprintf(path, sizeof path, "%s/energy-pkg", events_dir());
    CHECK_INT(chmod(path, 0), 0);
    fx_drop_privileges();
    const char *why = probe_fails(PW_ERR_PERMISSION);
    check_has(why, "permission denied on ");
    check_has(why, "/events/energy-pkg: run as root");
}

/* ---- malformed and missing ---------------------------------------------------------------- */

TEST(rapl_perf_malformed_type_or_cpumask_fails)
{
    use_fake_kernel();
    one_socket(0);
    fx_write(pmu_dir(), "type", "rapl\n");
    check_has(probe_fails(PW_ERR_FORMAT), "/power/type: malformed value");
    fx_write(pmu_dir(), "type", "4294967296\n");         /* wider than attr.type */
    check_has(probe_fails(PW_ERR_FORMAT), "/power/type: malformed value");
    fx_write(pmu_dir(), "type", "33\n");
    static const char *const masks[] = {"0-\n", "\n", "0,,8\n", "8,0\n", "x\n", "3-1\n"};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        fx_write(pmu_dir(), "cpumask", masks[i]);
        const char *why = probe_fails(PW_ERR_FORMAT);
        check_has(why, "/power/cpumask: malformed \"");
        check_has(why, "(want ascending CPU numbers such as 0,8 or 0-1)");
    }
    fx_write(pmu_dir(), "cpumask", "0-99\n");
    check_has(probe_fails(PW_ERR_LIMIT), "/power/cpumask: more than 64 CPUs");
}

/* The only event malformed in each of its three files in turn: the probe fails naming it. */
TEST(rapl_perf_malformed_event_scale_or_unit_fails_naming_the_file)
{
    use_fake_kernel();
    pmu("33\n", "0\n");
    set_count(0, CFG_PKG, 0);
    static const struct { const char *file, *text, *want; } cases[] = {
        {"energy-pkg", "event=zz\n", "/events/energy-pkg: malformed \"event=zz\" (want event=0xNN)"},
        {"energy-pkg", "umask=0x02\n", "/events/energy-pkg: malformed \"umask=0x02\""},
        {"energy-pkg", "event=0x\n", "/events/energy-pkg: malformed \"event=0x\""},
        {"energy-pkg.scale", "fast\n", "/events/energy-pkg.scale: malformed \"fast\" (want joules"},
        {"energy-pkg.scale", "-1e-10\n", "/events/energy-pkg.scale: malformed \"-1e-10\""},
        {"energy-pkg.scale", "0\n", "/events/energy-pkg.scale: malformed \"0\""},
        {"energy-pkg.scale", "2.3e-10 J\n", "/events/energy-pkg.scale: malformed"},
        {"energy-pkg.unit", "Watts\n", "/events/energy-pkg.unit: malformed \"Watts\" (want Joules)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        event("energy-pkg", "0x02", SCALE32);
        event_file(cases[i].file, cases[i].text);
        const char *why = probe_fails(PW_ERR_FORMAT);
        check_has(why, "no usable RAPL perf event under ");
        check_has(why, cases[i].want);
    }
    event("energy-pkg", "0x02", SCALE32);
    char path[1200];
    snprintf(path, sizeof path, "%s/energy-pkg.scale", events_dir());
    CHECK_INT(unlink(path), 0);
    check_has(probe_fails(PW_ERR_NOT_FOUND), "/events/energy-pkg.scale does not exist");
}

TEST(rapl_perf_one_malformed_event_leaves_the_others)
{
    use_fake_kernel();
    one_socket(0);
    event_file("energy-ram.scale", "lots\n");
    pw_source_info info;
    void *st = probe_ok(&info);
    static const char *const order[] = {"package-0", "core-0", "uncore-0"};
    check_order(&info, order, 3);
    char *skipped = fx_described(&pw_source_rapl_perf, st, "rapl-perf.skipped");
    check_has(skipped, "/events/energy-ram.scale: malformed \"lots\"");
    free(skipped);
    CHECK_INT(opens_of(0, CFG_RAM), 0);
    pw_source_rapl_perf.close(st);
}

TEST(rapl_perf_empty_tree_says_why)
{
    use_fake_kernel();
    const char *why = probe_fails(PW_ERR_NOT_FOUND);
    char want[1400];
    snprintf(want, sizeof want, "no RAPL perf PMU (%s not found): kernel lacks "
             "CONFIG_PERF_EVENTS_INTEL_RAPL or not x86", pmu_dir());
    CHECK_STR(why, want);
    pmu("33\n", "0\n");                                  /* a PMU without events */
    check_has(probe_fails(PW_ERR_NOT_FOUND), "no RAPL energy events under ");
    CHECK_INT(fake.nopen, 0);
}

/* ---- the real kernel ---------------------------------------------------------------------- */

/* The real perf_event_open and read: where the machine has no power PMU the probe must say
 * so; where it has one, the counters must read (or the reason must name the fix). */
TEST(rapl_perf_real_kernel)
{
    pw_rapl_perf_set_hooks(NULL);
    pw_source_config cfg = fx_config();
    cfg.sysfs_root = "";
    cfg.proc_root = "/proc";
    void *st = NULL;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    memset(&info, 0, sizeof info);
    int present = access("/sys/bus/event_source/devices/power", F_OK) == 0;
    int rc = pw_source_rapl_perf.probe(&cfg, &st, &info, why, sizeof why);
    if (!present) {
        CHECK_INT(rc, PW_ERR_NOT_FOUND);
        CHECK_STR(why, "no RAPL perf PMU (/sys/bus/event_source/devices/power not found): "
                       "kernel lacks CONFIG_PERF_EVENTS_INTEL_RAPL or not x86");
        return;
    }
    if (rc == PW_ERR_PERMISSION) {
        check_has(why, "perf_event_paranoid is ");
        tf_skip("the power PMU is here but perf_event_open is not permitted");
    }
    CHECK_MSG(rc == PW_OK, "probe failed (%d): %s", rc, why);
    CHECK(info.ndomains >= 1);
    uint64_t a[PW_SOURCE_MAX_DOMAINS], b[PW_SOURCE_MAX_DOMAINS];
    CHECK_INT(read_all(st, a), PW_OK);
    usleep(20000);
    CHECK_INT(read_all(st, b), PW_OK);
    for (size_t i = 0; i < info.ndomains; i++) {
        CHECK_INT(a[i], 0);
        CHECK(b[i] < 1000000000ull);                     /* < 1 kJ in 20 ms */
        printf("  %s: %llu uJ in ~20 ms\n", info.domains[i].name, (unsigned long long)b[i]);
    }
    pw_source_rapl_perf.close(st);
}
