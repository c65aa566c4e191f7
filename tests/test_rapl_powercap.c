/* test_rapl_powercap.c — the RAPL powercap backend against fake /sys/class/powercap trees
 * built like the kernel's (zones as symlinks into /sys/devices), driven as the sampler does. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sources/source.h"
#include "sysfs_fixture.h"
#include "tf.h"

extern const pw_source_ops pw_source_rapl;

#define REAL_RANGE 262143328850ull   /* a common Intel max_energy_range_uj */

/* ---- the fake tree ------------------------------------------------------------------------ */

static const char *device_dir(const char *entry)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/sys/devices/virtual/powercap/intel-rapl/%s", tf_tmpdir(), entry);
    return buf;
}

static void put(const char *entry, const char *file, const char *text)
{
    fx_write(device_dir(entry), file, text);
}

static void set_energy(const char *entry, uint64_t uj)
{
    fx_write_u64(device_dir(entry), "energy_uj", uj);
}

/* A zone the way the kernel shows it: a device directory and a class symlink to it. */
static void zone(const char *entry, const char *name, uint64_t energy, uint64_t max_range)
{
    char cls[1024], link[1200], text[64];
    fx_mkdirs(device_dir(entry));
    snprintf(cls, sizeof cls, "%s/sys/class/powercap", tf_tmpdir());
    fx_mkdirs(cls);
    snprintf(link, sizeof link, "%s/%s", cls, entry);
    snprintf(text, sizeof text, "../../devices/virtual/powercap/intel-rapl/%s", entry);
    CHECK_INT(symlink(text, link), 0);
    snprintf(text, sizeof text, "%s\n", name);
    put(entry, "name", text);
    snprintf(text, sizeof text, "%llu\n", (unsigned long long)max_range);
    put(entry, "max_energy_range_uj", text);
    put(entry, "enabled", "1\n");
    set_energy(entry, energy);
}

static void remove_zone(const char *entry)
{
    static const char *const files[] = {"name", "max_energy_range_uj", "enabled", "energy_uj"};
    char path[1200];
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", device_dir(entry), files[i]);
        CHECK_INT(unlink(path), 0);
    }
    CHECK_INT(rmdir(device_dir(entry)), 0);
    snprintf(path, sizeof path, "%s/sys/class/powercap/%s", tf_tmpdir(), entry);
    CHECK_INT(unlink(path), 0);
}

/* The control type directory itself sits beside the zones and is not one. */
static void control_type(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/sys/class/powercap/intel-rapl", tf_tmpdir());
    fx_mkdirs(dir);
}

static void two_sockets(int with_psys)
{
    control_type();
    for (int s = 0; s < 2; s++) {
        char e[48];
        snprintf(e, sizeof e, "intel-rapl:%d", s);
        char name[48];
        snprintf(name, sizeof name, "package-%d", s);
        zone(e, name, 1000, REAL_RANGE);
        static const char *const subs[] = {"core", "uncore", "dram"};
        for (int k = 0; k < 3; k++) {
            char se[48];
            snprintf(se, sizeof se, "intel-rapl:%d:%d", s, k);
            zone(se, subs[k], 100, REAL_RANGE);
        }
    }
    if (with_psys) zone("intel-rapl:2", "psys", 5000, REAL_RANGE);
}

/* ---- driving the ops ---------------------------------------------------------------------- */

static int probe(void **st, pw_source_info *info, char *why, size_t whylen)
{
    return fx_probe(&pw_source_rapl, st, info, why, whylen);
}

static void *probe_ok(pw_source_info *info) { return fx_probe_ok(&pw_source_rapl, info); }

static int read_at(void *st, uint64_t t_ns, uint64_t *energy)
{
    return fx_read_at(&pw_source_rapl, st, t_ns, energy);
}

/* ---- tests -------------------------------------------------------------------------------- */

TEST(rapl_finds_two_sockets_and_psys_with_containment)
{
    two_sockets(1);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 9);
    CHECK_INT(info.period_ns, 976563);   /* 2^-10 s */
    static const char *const order[] = {"psys", "package-0", "core-0", "uncore-0", "dram-0",
                                        "package-1", "core-1", "uncore-1", "dram-1"};
    for (size_t i = 0; i < 9; i++) CHECK_STR(info.domains[i].name, order[i]);
    fx_check_domain(&info, "psys", PW_KIND_SYSTEM, NULL);
    for (int s = 0; s < 2; s++) {
        char pkg[48], core[48], uncore[48], dram[48];
        snprintf(pkg, sizeof pkg, "package-%d", s);
        snprintf(core, sizeof core, "core-%d", s);
        snprintf(uncore, sizeof uncore, "uncore-%d", s);
        snprintf(dram, sizeof dram, "dram-%d", s);
        fx_check_domain(&info, pkg, PW_KIND_CPU, "psys");
        fx_check_domain(&info, core, PW_KIND_CPU, pkg);
        fx_check_domain(&info, uncore, PW_KIND_CPU, pkg);
        fx_check_domain(&info, dram, PW_KIND_DRAM, "psys");     /* a rail of its own */
    }
    pw_source_rapl.close(st);
}

TEST(rapl_without_psys_packages_and_dram_are_top_level)
{
    two_sockets(0);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 8);
    fx_check_domain(&info, "package-0", PW_KIND_CPU, NULL);
    fx_check_domain(&info, "dram-0", PW_KIND_DRAM, NULL);
    fx_check_domain(&info, "core-1", PW_KIND_CPU, "package-1");
    char *skipped = fx_described(&pw_source_rapl, st, "rapl.skipped");
    CHECK(skipped == NULL);                              /* nothing was left out */
    pw_source_rapl.close(st);
}

TEST(rapl_reads_exact_cumulative_microjoules)
{
    two_sockets(1);
    pw_source_info info;
    void *st = probe_ok(&info);
    uint64_t e[PW_SOURCE_MAX_DOMAINS];
    CHECK_INT(read_at(st, 1000, e), PW_OK);
    for (size_t i = 0; i < info.ndomains; i++) CHECK_INT(e[i], 0);
    uint64_t pkg0 = 1000, core1 = 100, dram0 = 100, psys = 5000;
    for (int step = 1; step <= 5; step++) {
        pkg0 += 1234567u * (uint64_t)step;
        core1 += 999;
        dram0 += 42;
        psys += 3000000;
        set_energy("intel-rapl:0", pkg0);
        set_energy("intel-rapl:1:0", core1);
        set_energy("intel-rapl:0:2", dram0);
        set_energy("intel-rapl:2", psys);
        CHECK_INT(read_at(st, 1000 + (uint64_t)step * 1000000, e), PW_OK);
        CHECK_INT(e[fx_index(&info, "package-0")], pkg0 - 1000);
        CHECK_INT(e[fx_index(&info, "core-1")], core1 - 100);
        CHECK_INT(e[fx_index(&info, "dram-0")], dram0 - 100);
        CHECK_INT(e[fx_index(&info, "psys")], psys - 5000);
        CHECK_INT(e[fx_index(&info, "package-1")], 0);
    }
    pw_source_rapl.close(st);
}

/* Drives one zone through a sequence of raw readings; checks the cumulative after each. */
static void check_wraps(uint64_t max_range, uint64_t start, uint64_t step, int steps)
{
    control_type();
    zone("intel-rapl:0", "package-0", start, max_range);
    pw_source_info info;
    void *st = probe_ok(&info);
    uint64_t e[1], raw = start;
    CHECK_INT(read_at(st, 1, e), PW_OK);
    for (int i = 1; i <= steps; i++) {
        raw = (raw + step) % (max_range + 1);
        set_energy("intel-rapl:0", raw);
        CHECK_INT(read_at(st, 1 + (uint64_t)i, e), PW_OK);
        CHECK_INT(e[0], (uint64_t)i * step);
    }
    pw_source_rapl.close(st);
}

TEST(rapl_unwraps_at_the_real_max_energy_range)
{
    check_wraps(REAL_RANGE, REAL_RANGE - 1000, 1501, 3);         /* wraps on the first step */
}

TEST(rapl_unwraps_the_real_range_over_a_long_run)
{
    /* ~22 min at 200 W per wrap: a minute of 200 W per step, four wraps in all */
    check_wraps(REAL_RANGE, 12345, 12000000000ull, 100);
}

TEST(rapl_unwraps_a_small_range_many_times)
{
    check_wraps(999, 998, 700, 50);            /* modulus 1000: wraps on most steps */
}

TEST(rapl_sorts_zones_numerically)
{
    control_type();
    static const int order[] = {11, 2, 0, 10, 1, 9, 3, 8, 4, 7, 5, 6};
    for (int i = 0; i < 12; i++) {
        char e[48], name[48];
        snprintf(e, sizeof e, "intel-rapl:%d", order[i]);
        snprintf(name, sizeof name, "package-%d", order[i]);
        zone(e, name, 0, REAL_RANGE);
        snprintf(e, sizeof e, "intel-rapl:%d:0", order[i]);
        zone(e, "core", 0, REAL_RANGE);
    }
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 24);
    for (int p = 0; p < 12; p++) {
        char pkg[48], core[48];
        snprintf(pkg, sizeof pkg, "package-%d", p);
        snprintf(core, sizeof core, "core-%d", p);
        CHECK_STR(info.domains[2 * p].name, pkg);
        CHECK_STR(info.domains[2 * p + 1].name, core);
        CHECK_INT(info.domains[2 * p + 1].parent, 2 * p);
    }
    set_energy("intel-rapl:10", 777);          /* the 21st domain reads zone 10 */
    uint64_t e[24];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    set_energy("intel-rapl:10", 1777);
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[20], 1000);
    CHECK_INT(e[4], 0);
    pw_source_rapl.close(st);
}

TEST(rapl_leaves_out_the_mmio_duplicate_of_a_package)
{
    control_type();
    zone("intel-rapl:0", "package-0", 0, REAL_RANGE);
    zone("intel-rapl:0:0", "core", 0, REAL_RANGE);
    zone("intel-rapl:1", "psys", 0, REAL_RANGE);
    zone("intel-rapl-mmio:0", "package-0", 0, REAL_RANGE);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 3);
    fx_check_domain(&info, "package-0", PW_KIND_CPU, "psys");
    fx_check_domain(&info, "core-0", PW_KIND_CPU, "package-0");
    pw_source_rapl.close(st);
}

TEST(rapl_uses_mmio_zones_when_they_are_all_there_is)
{
    zone("intel-rapl-mmio:0", "package-0", 10, REAL_RANGE);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 1);
    fx_check_domain(&info, "package-0", PW_KIND_CPU, NULL);
    uint64_t e[1];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    set_energy("intel-rapl-mmio:0", 110);
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[0], 100);
    pw_source_rapl.close(st);
}

TEST(rapl_names_dies_and_per_package_psys)
{
    control_type();
    zone("intel-rapl:0", "package-0-die-0", 0, REAL_RANGE);
    zone("intel-rapl:0:0", "core", 0, REAL_RANGE);
    zone("intel-rapl:1", "package-1-die-0", 0, REAL_RANGE);
    zone("intel-rapl:1:0", "dram", 0, REAL_RANGE);
    zone("intel-rapl:2", "psys", 0, REAL_RANGE);
    zone("intel-rapl:3", "psys-1", 0, REAL_RANGE);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 6);
    fx_check_domain(&info, "psys", PW_KIND_SYSTEM, NULL);
    fx_check_domain(&info, "psys-1", PW_KIND_SYSTEM, NULL);
    fx_check_domain(&info, "package-0-die-0", PW_KIND_CPU, "psys");
    fx_check_domain(&info, "core-0-die-0", PW_KIND_CPU, "package-0-die-0");
    fx_check_domain(&info, "package-1-die-0", PW_KIND_CPU, "psys-1");
    fx_check_domain(&info, "dram-1-die-0", PW_KIND_DRAM, "psys-1");
    pw_source_rapl.close(st);
}

TEST(rapl_permission_denied_names_the_file_and_the_fix)
{
    two_sockets(0);
    char path[1200];
    snprintf(path, sizeof path, "%s/energy_uj", device_dir("intel-rapl:0"));
    CHECK_INT(chmod(path, 0), 0);
    fx_drop_privileges();
    void *st;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    CHECK_INT(probe(&st, &info, why, sizeof why), PW_ERR_PERMISSION);
    CHECK_MSG(strstr(why, "permission denied on ") && strstr(why, "intel-rapl:0/energy_uj") &&
              strstr(why, "run as root") && strstr(why, "udev"), "why: %s", why);
    CHECK(!strchr(why, '\n'));
    CHECK(st == NULL);
}

TEST(rapl_zone_removed_mid_run_is_a_gap_and_then_continues)
{
    two_sockets(0);
    pw_source_info info;
    void *st = probe_ok(&info);
    int p1 = fx_index(&info, "package-1"), p0 = fx_index(&info, "package-0");
    uint64_t e[8];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    set_energy("intel-rapl:1", 1000 + 5000);
    set_energy("intel-rapl:0", 1000 + 70);
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[p1], 5000);
    remove_zone("intel-rapl:1");
    set_energy("intel-rapl:0", 1000 + 90);
    CHECK(read_at(st, 3, e) != PW_OK);                 /* a gap */
    CHECK(read_at(st, 4, e) != PW_OK);                 /* still gone */
    zone("intel-rapl:1", "package-1", 1000 + 5000 + 250000, REAL_RANGE);   /* ran meanwhile */
    set_energy("intel-rapl:0", 1000 + 100);
    CHECK_INT(read_at(st, 5, e), PW_OK);
    CHECK_INT(e[p1], 5000 + 250000);
    CHECK_INT(e[p0], 100);
    set_energy("intel-rapl:1", 1000 + 5000 + 250000 + 1);
    CHECK_INT(read_at(st, 6, e), PW_OK);
    CHECK_INT(e[p1], 5000 + 250000 + 1);
    pw_source_rapl.close(st);
}

TEST(rapl_malformed_reading_is_a_gap_and_keeps_the_count)
{
    control_type();
    zone("intel-rapl:0", "package-0", 100, 999999);
    pw_source_info info;
    void *st = probe_ok(&info);
    uint64_t e[1];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    static const char *const bad[] = {"abc\n", "", "\n", "99999999999999999999999999\n",
                                      "1000000\n" /* beyond max_energy_range_uj */, "-5\n",
                                      "12 34\n", "0x10\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put("intel-rapl:0", "energy_uj", bad[i]);
        CHECK_MSG(read_at(st, 2 + i, e) == PW_ERR_FORMAT, "'%s' was accepted", bad[i]);
    }
    set_energy("intel-rapl:0", 600);
    CHECK_INT(read_at(st, 20, e), PW_OK);
    CHECK_INT(e[0], 500);
    pw_source_rapl.close(st);
}

TEST(rapl_malformed_zone_at_probe_is_left_out)
{
    two_sockets(1);
    put("intel-rapl:2", "energy_uj", "abc\n");           /* psys unreadable */
    put("intel-rapl:1:1", "name", "un core\n");          /* not a name */
    int fds = fx_open_fds();
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 7);
    fx_check_domain(&info, "package-0", PW_KIND_CPU, NULL); /* no psys to sit in */
    fx_check_domain(&info, "core-1", PW_KIND_CPU, "package-1");
    char *skipped = fx_described(&pw_source_rapl, st, "rapl.skipped");
    CHECK_MSG(skipped && strstr(skipped, "intel-rapl:2/energy_uj: malformed value") &&
              strstr(skipped, "intel-rapl:1:1/name: malformed value"), "%s", skipped);
    free(skipped);
    char *zone0 = fx_described(&pw_source_rapl, st, "rapl.package-0");
    CHECK_STR(zone0, "intel-rapl:0 max_energy_range_uj=262143328850");
    free(zone0);
    pw_source_rapl.close(st);
    CHECK_INT(fx_open_fds(), fds);
}

TEST(rapl_probe_fails_with_the_reason_when_no_zone_is_usable)
{
    control_type();
    zone("intel-rapl:0", "package-0", 0, REAL_RANGE);
    put("intel-rapl:0", "max_energy_range_uj", "lots\n");
    int fds = fx_open_fds();
    void *st;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    CHECK_INT(probe(&st, &info, why, sizeof why), PW_ERR_FORMAT);
    CHECK_MSG(strstr(why, "intel-rapl:0/max_energy_range_uj: malformed value"), "why: %s", why);
    CHECK(st == NULL);
    CHECK_INT(fx_open_fds(), fds);
}

TEST(rapl_empty_tree_says_why)
{
    void *st;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    CHECK_INT(probe(&st, &info, why, sizeof why), PW_ERR_NOT_FOUND);   /* no powercap at all */
    CHECK_MSG(strstr(why, "no RAPL zones under ") && strstr(why, "/sys/class/powercap: ") &&
              strstr(why, "intel_rapl_common") && strstr(why, "not an Intel/AMD CPU"),
              "why: %s", why);
    control_type();                                        /* only the control type */
    why[0] = '\0';
    CHECK_INT(probe(&st, &info, why, sizeof why), PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "no RAPL zones under "), "why: %s", why);
    CHECK(st == NULL);
}

/* ---- a writer thread advancing the counters at known watts -------------------------------- */

typedef struct writer {
    uint64_t max_range, start, uj_per_step;
    int steps;
    volatile int done;
} writer;

/* Updates the way a concurrent producer must: a new file renamed over the old one, so a
 * reader never sees a half-written number. */
static void replace_energy(const char *entry, uint64_t uj)
{
    char tmp[1200], path[1200], text[32];
    snprintf(tmp, sizeof tmp, "%s/.energy_uj.new", device_dir(entry));
    snprintf(path, sizeof path, "%s/energy_uj", device_dir(entry));
    snprintf(text, sizeof text, "%llu\n", (unsigned long long)uj);
    if (tf_write_file(tmp, text, strlen(text)) != 0 || rename(tmp, path) != 0) abort();
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    uint64_t raw = w->start;
    struct timespec ms = {0, 200000};
    for (int i = 0; i < w->steps; i++) {
        raw = (raw + w->uj_per_step) % (w->max_range + 1);
        replace_energy("intel-rapl:0", raw);
        nanosleep(&ms, NULL);
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

TEST(rapl_follows_a_counter_another_thread_advances_at_known_watts)
{
    control_type();
    writer w = {.max_range = 9999999, .start = 9000000, .uj_per_step = 50000, .steps = 600};
    zone("intel-rapl:0", "package-0", w.start, w.max_range);   /* 50 W in 1 ms steps */
    CHECK_INT(setenv("PHASEWATT_SYSFS_ROOT", tf_tmpdir(), 1), 0);
    pw_source_config cfg;
    pw_source_config_from_env(&cfg);
    void *st = NULL;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    CHECK_MSG(pw_source_rapl.probe(&cfg, &st, &info, why, sizeof why) == PW_OK, "%s", why);
    uint64_t e[1], last = 0, t = 0;
    CHECK_INT(pw_source_rapl.read(st, &t, e), PW_OK);
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, writer_main, &w), 0);
    int reads = 0;
    while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) {   /* reads far faster than a wrap */
        t++;
        CHECK_INT(pw_source_rapl.read(st, &t, e), PW_OK);
        CHECK(e[0] >= last && e[0] % 50000 == 0);
        last = e[0];
        reads++;
    }
    pthread_join(th, NULL);
    CHECK_INT(pw_source_rapl.read(st, &t, e), PW_OK);
    CHECK_INT(e[0], 600ull * 50000);                        /* 30 J, three wraps of 10 J */
    CHECK(reads > 10);
    pw_source_rapl.close(st);
}
