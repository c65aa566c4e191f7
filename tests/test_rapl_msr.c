/* test_rapl_msr.c — the RAPL MSR backend against fake trees: /proc/cpuinfo, the CPU topology
 * in sysfs, and sparse files standing in for /dev/cpu/N/msr with registers at their offsets. */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sources/source.h"
#include "sysfs_fixture.h"
#include "tf.h"

extern const pw_source_ops pw_source_rapl_msr;

#define UNIT_ESU14 0x000A0E03ull   /* a real Intel MSR_RAPL_POWER_UNIT: ESU 14 (61.035 µJ) */
#define UNIT_ESU16 0x000A1003ull   /* a real AMD unit register: ESU 16 (15.259 µJ) */
#define INTEL_UNIT 0x606u
#define PKG 0x611u
#define DRAM 0x619u
#define PP0 0x639u
#define PP1 0x641u
#define PSYS 0x64Du
#define AMD_UNIT 0xC0010299u
#define AMD_PKG 0xC001029Bu

/* ---- the fake tree ------------------------------------------------------------------------ */

static const char *under(const char *fmt, unsigned n)
{
    static char buf[4][1024];
    static int next;
    char rel[256], *b = buf[next++ & 3];
    snprintf(rel, sizeof rel, fmt, n);
    snprintf(b, sizeof buf[0], "%s/%s", tf_tmpdir(), rel);
    return b;
}

static const char *msr_path(unsigned cpu) { return under("dev/cpu/%u/msr", cpu); }

static pw_source_config config(void)
{
    static char proc[1024], dev[1024];
    pw_source_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(proc, sizeof proc, "%s/proc", tf_tmpdir());
    snprintf(dev, sizeof dev, "%s/dev", tf_tmpdir());
    cfg.sysfs_root = tf_tmpdir();
    cfg.proc_root = proc;
    cfg.dev_root = dev;
    cfg.interval_ns = 10000000;
    return cfg;
}

/* Two processor blocks, as the kernel writes them (only the first one is read). */
static void cpuinfo(const char *vendor, int family, int model)
{
    char text[2048];
    fx_mkdirs(under("proc", 0));
    snprintf(text, sizeof text,
             "processor\t: 0\nvendor_id\t: %s\ncpu family\t: %d\nmodel\t\t: %d\n"
             "model name\t: Fake CPU @ 2.00GHz\nstepping\t: 4\nflags\t\t: fpu msr rapl\n\n"
             "processor\t: 1\nvendor_id\t: %s\ncpu family\t: %d\nmodel\t\t: %d\n\n",
             vendor, family, model, vendor, family, model);
    fx_write(under("proc", 0), "cpuinfo", text);
}

/* A CPU in package pkg: its topology and an empty msr file. */
static void cpu(unsigned n, unsigned pkg, unsigned die)
{
    const char *topo = under("sys/devices/system/cpu/cpu%u/topology", n);
    fx_mkdirs(topo);
    fx_write_u64(topo, "physical_package_id", pkg);
    fx_write_u64(topo, "die_id", die);
    fx_mkdirs(under("dev/cpu/%u", n));
    fx_write(under("dev/cpu/%u", n), "msr", "");
}

/* The register at its offset, 8 bytes little-endian, as the msr driver returns it. */
static void set_msr(unsigned cpu_n, uint32_t addr, uint64_t value)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(value >> (8 * i));
    int fd = open(msr_path(cpu_n), O_WRONLY | O_CREAT, 0644);
    CHECK_MSG(fd >= 0, "cannot open %s: %s", msr_path(cpu_n), strerror(errno));
    ssize_t n = pwrite(fd, b, sizeof b, (off_t)addr);
    int err = errno;
    close(fd);
    if (n != 8 && addr > 0x10000000u) tf_skip("this filesystem refuses a sparse file of 3 GB");
    CHECK_MSG(n == 8, "pwrite at 0x%X: %s", addr, strerror(err));
}

/* An Intel client part (Kaby Lake): unit, package, cores, iGPU plane, psys; DRAM reads 0. */
static void intel_laptop(void)
{
    cpuinfo("GenuineIntel", 6, 142);
    for (unsigned c = 0; c < 4; c++) cpu(c, 0, 0);
    set_msr(0, INTEL_UNIT, UNIT_ESU14);
    set_msr(0, PKG, 1000);
    set_msr(0, DRAM, 0);
    set_msr(0, PP0, 500);
    set_msr(0, PP1, 20);
    set_msr(0, PSYS, 77);
}

/* A two-socket Skylake-SP (DRAM counts 2^-16 J there), CPUs interleaved between sockets;
 * no psys (beyond the file: unreadable) and PP1 reads 0, as on servers. */
static void intel_server(void)
{
    cpuinfo("GenuineIntel", 6, 85);
    for (unsigned c = 0; c < 8; c++) cpu(c, c % 2, 0);
    for (unsigned s = 0; s < 2; s++) {
        set_msr(s, INTEL_UNIT, UNIT_ESU14);
        set_msr(s, PKG, 100 + s);
        set_msr(s, DRAM, 200 + s);
        set_msr(s, PP0, 300 + s);
        set_msr(s, PP1, 0);
    }
}

/* ---- driving the ops ---------------------------------------------------------------------- */

static void *probe_ok(pw_source_info *info)
{
    pw_source_config cfg = config();
    return fx_probe_with_ok(&pw_source_rapl_msr, &cfg, info);
}

/* Probes expecting failure rc; returns the one-line reason (static). */
static const char *probe_fails(int rc)
{
    pw_source_config cfg = config();
    return fx_probe_with_fails(&pw_source_rapl_msr, &cfg, rc);
}

static int read_at(void *st, uint64_t t_ns, uint64_t *energy)
{
    return fx_read_at(&pw_source_rapl_msr, st, t_ns, energy);
}

/* ---- tests -------------------------------------------------------------------------------- */

TEST(rapl_msr_intel_single_socket_domains_and_containment)
{
    intel_laptop();
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 4);
    CHECK_INT(info.period_ns, 976563);   /* 2^-10 s */
    static const char *const order[] = {"psys", "package-0", "core-0", "uncore-0"};
    for (size_t i = 0; i < 4; i++) CHECK_STR(info.domains[i].name, order[i]);
    fx_check_domain(&info, "psys", PW_KIND_SYSTEM, NULL);
    fx_check_domain(&info, "package-0", PW_KIND_CPU, "psys");
    fx_check_domain(&info, "core-0", PW_KIND_CPU, "package-0");
    fx_check_domain(&info, "uncore-0", PW_KIND_CPU, "package-0");
    char *skipped = fx_described(&pw_source_rapl_msr, st, "rapl-msr.skipped");
    CHECK_MSG(skipped && strstr(skipped, "dram-0 left out: MSR 0x619 (DRAM_ENERGY_STATUS) on "
                                         "CPU 0 reads 0"), "%s", skipped);
    free(skipped);
    pw_source_rapl_msr.close(st);
}

TEST(rapl_msr_intel_esu14_converts_the_cumulative_count_exactly)
{
    intel_laptop();
    pw_source_info info;
    void *st = probe_ok(&info);
    int pkg = fx_index(&info, "package-0"), core = fx_index(&info, "core-0");
    int psys = fx_index(&info, "psys");
    uint64_t e[4];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    for (size_t i = 0; i < 4; i++) CHECK_INT(e[i], 0);
    set_msr(0, PKG, 1000 + 16384);               /* 2^14 counts: exactly one joule */
    set_msr(0, PSYS, 77 + 3);                    /* 3 × 61.03515625 = 183.1 */
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[pkg], 1000000);
    CHECK_INT(e[psys], 183);
    CHECK_INT(e[core], 0);
    /* One count per tick, 1000 ticks: summing rounded steps would give 61 000 µJ. */
    for (uint64_t i = 1; i <= 1000; i++) {
        set_msr(0, PP0, 500 + i);
        CHECK_INT(read_at(st, 2 + i, e), PW_OK);
    }
    CHECK_INT(e[core], 61035);                   /* 1000 × 61.03515625 = 61035.16 */
    CHECK_INT(e[pkg], 1000000);
    pw_source_rapl_msr.close(st);
}

TEST(rapl_msr_intel_two_sockets_read_the_first_cpu_of_each)
{
    intel_server();
    set_msr(2, PKG, 999999);                     /* CPU 2 is package 0 too: never read */
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 6);
    static const char *const order[] = {"package-0", "core-0", "dram-0",
                                        "package-1", "core-1", "dram-1"};
    for (size_t i = 0; i < 6; i++) CHECK_STR(info.domains[i].name, order[i]);
    fx_check_domain(&info, "package-0", PW_KIND_CPU, NULL);
    fx_check_domain(&info, "dram-0", PW_KIND_DRAM, NULL);
    fx_check_domain(&info, "core-1", PW_KIND_CPU, "package-1");
    fx_check_domain(&info, "dram-1", PW_KIND_DRAM, NULL);
    uint64_t e[6];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    set_msr(1, PKG, 101 + 3 * 16384);            /* package 1 (CPU 1): 3 J */
    set_msr(0, PP0, 300 + 8192);                 /* core 0: 0.5 J */
    set_msr(1, DRAM, 201 + 65536);               /* Skylake-SP DRAM: 2^-16 J units -> 1 J */
    set_msr(0, DRAM, 200 + 16384);               /* 0.25 J, not 1 J */
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[fx_index(&info, "package-1")], 3000000);
    CHECK_INT(e[fx_index(&info, "package-0")], 0);
    CHECK_INT(e[fx_index(&info, "core-0")], 500000);
    CHECK_INT(e[fx_index(&info, "dram-1")], 1000000);
    CHECK_INT(e[fx_index(&info, "dram-0")], 250000);
    char *skipped = fx_described(&pw_source_rapl_msr, st, "rapl-msr.skipped");
    CHECK_MSG(skipped && strstr(skipped, "psys left out: MSR 0x64D (PLATFORM_ENERGY_STATUS) on "
                                         "CPU 0 is not readable: the CPU lacks it") &&
              strstr(skipped, "uncore-1 left out: MSR 0x641 (PP1_ENERGY_STATUS) on CPU 1 "
                              "reads 0"), "%s", skipped);
    free(skipped);
    char *dram = fx_described(&pw_source_rapl_msr, st, "rapl-msr.dram-1");
    CHECK_MSG(dram && strstr(dram, "/dev/cpu/1/msr msr=0x619 (DRAM_ENERGY_STATUS) "
                                   "unit=2^-16 J (15.259 uJ)"), "%s", dram);
    free(dram);
    pw_source_rapl_msr.close(st);
}

TEST(rapl_msr_sapphire_rapids_psys_counts_whole_joules)
{
    cpuinfo("GenuineIntel", 6, 143);
    cpu(0, 0, 0);
    set_msr(0, INTEL_UNIT, UNIT_ESU14);
    set_msr(0, PKG, 10);
    set_msr(0, PSYS, 10);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 2);
    uint64_t e[2];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    set_msr(0, PSYS, 15);
    set_msr(0, PKG, 15);
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[fx_index(&info, "psys")], 5000000);
    CHECK_INT(e[fx_index(&info, "package-0")], 305);   /* 5 × 61.035 */
    pw_source_rapl_msr.close(st);
}

TEST(rapl_msr_intel_dies_are_counted_apart)
{
    cpuinfo("GenuineIntel", 6, 85);
    cpu(0, 0, 0);
    cpu(1, 0, 1);
    cpu(2, 0, 1);
    for (unsigned c = 0; c < 2; c++) {
        set_msr(c, INTEL_UNIT, UNIT_ESU14);
        set_msr(c, PKG, 1);
    }
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 2);
    CHECK_STR(info.domains[0].name, "package-0-die-0");
    CHECK_STR(info.domains[1].name, "package-0-die-1");
    uint64_t e[2];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    set_msr(1, PKG, 1 + 16384);
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[1], 1000000);
    CHECK_INT(e[0], 0);
    pw_source_rapl_msr.close(st);
}

static void check_amd(const char *vendor)
{
    cpuinfo(vendor, 25, 1);
    for (unsigned c = 0; c < 4; c++) cpu(c, c / 2, c % 2);     /* AMD dies are not split */
    /* Neighbouring MSR numbers share bytes in a flat file: the package counter, written
     * after the unit, covers only the unit's upper bytes, not its ESU field (byte 1). */
    for (unsigned s = 0; s < 4; s += 2) {
        set_msr(s, PKG, 555);                    /* Intel registers are not AMD's */
        set_msr(s, AMD_UNIT, UNIT_ESU16);
        set_msr(s, AMD_PKG, 0xDEAD000000001000ull + s);   /* high bits are reserved */
    }
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 2);
    CHECK_STR(info.domains[0].name, "package-0");
    CHECK_STR(info.domains[1].name, "package-1");
    fx_check_domain(&info, "package-1", PW_KIND_CPU, NULL);
    uint64_t e[2];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    set_msr(2, AMD_PKG, 0xDEAD000000001000ull + 2 + 65536 + 1);   /* 1 J and one count */
    set_msr(0, AMD_PKG, 0x1000 + 32768);
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[1], 1000015);                    /* 15.2587890625 rounds to 15 */
    CHECK_INT(e[0], 500000);
    char *pkg = fx_described(&pw_source_rapl_msr, st, "rapl-msr.package-1");
    CHECK_MSG(pkg && strstr(pkg, "/dev/cpu/2/msr msr=0xC001029B (PKG_ENERGY_STATUS) "
                                  "unit=2^-16 J (15.259 uJ)"), "%s", pkg);
    free(pkg);
    char *v = fx_described(&pw_source_rapl_msr, st, "rapl-msr.vendor");
    char want[64];
    snprintf(want, sizeof want, "%s family 25 model 1", vendor);
    CHECK_STR(v, want);
    free(v);
    pw_source_rapl_msr.close(st);
}

TEST(rapl_msr_amd_units_and_package_registers) { check_amd("AuthenticAMD"); }

TEST(rapl_msr_hygon_reads_like_amd) { check_amd("HygonGenuine"); }

TEST(rapl_msr_unwraps_the_32_bit_counter)
{
    intel_laptop();
    set_msr(0, PKG, 0xFFFFFF00u);
    pw_source_info info;
    void *st = probe_ok(&info);
    int pkg = fx_index(&info, "package-0");
    uint64_t e[4];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    set_msr(0, PKG, 0x00000100u | 0x5A5A5A5A00000000ull);   /* 0x200 counts on, wrapped */
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[pkg], 31250);                    /* 512 × 10^6 / 2^14 */
    uint64_t raw = 0x100, counts = 0x200;
    for (int i = 0; i < 6; i++) {                /* 3 × 2^30 counts a step: wraps often */
        raw = (raw + 3 * (UINT64_C(1) << 30)) & 0xFFFFFFFFu;
        counts += 3 * (UINT64_C(1) << 30);
        set_msr(0, PKG, raw);
        CHECK_INT(read_at(st, 3 + (uint64_t)i, e), PW_OK);
    }
    CHECK_INT(e[pkg], counts * 1000000 / 16384);  /* divides exactly: 1 179 648 031 250 µJ */
    pw_source_rapl_msr.close(st);
}

TEST(rapl_msr_permission_denied_names_the_device_and_the_fix)
{
    intel_laptop();
    CHECK_INT(chmod(msr_path(0), 0600), 0);
    fx_drop_privileges();
    const char *why = probe_fails(PW_ERR_PERMISSION);
    CHECK_MSG(strstr(why, "permission denied on ") && strstr(why, "/dev/cpu/0/msr: ") &&
              strstr(why, "run as root") && strstr(why, "CAP_SYS_RAWIO"), "why: %s", why);
}

TEST(rapl_msr_without_the_msr_device_says_modprobe)
{
    cpuinfo("GenuineIntel", 6, 142);
    cpu(0, 0, 0);
    CHECK_INT(unlink(msr_path(0)), 0);
    const char *why = probe_fails(PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "/dev/cpu/0/msr not found: sudo modprobe msr"), "why: %s", why);
}

/* A FIFO at the device's path would hang a blocking open(): it is refused at once. */
TEST(rapl_msr_fifo_at_the_device_path_is_refused_not_waited_on)
{
    intel_laptop();
    CHECK_INT(unlink(msr_path(0)), 0);
    CHECK_INT(mkfifo(msr_path(0), 0600), 0);
    const char *why = probe_fails(PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "/dev/cpu/0/msr is not a device"), "why: %s", why);
}

TEST(rapl_msr_empty_tree_and_foreign_cpus_say_why)
{
    const char *why = probe_fails(PW_ERR_NOT_FOUND);               /* no cpuinfo at all */
    CHECK_MSG(strstr(why, "/proc/cpuinfo does not exist"), "why: %s", why);
    fx_mkdirs(under("proc", 0));
    fx_write(under("proc", 0), "cpuinfo", "processor\t: 0\nBogoMIPS\t: 48.00\n"
                                          "CPU implementer\t: 0x41\n\n");   /* an ARM */
    why = probe_fails(PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "no vendor_id in ") && strstr(why, "not an x86 CPU"), "why: %s", why);
    cpuinfo("CentaurHauls", 6, 15);
    why = probe_fails(PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "CPU vendor CentaurHauls (") && strstr(why, "AuthenticAMD"),
              "why: %s", why);
    cpuinfo("GenuineIntel", 6, 142);                                /* no topology */
    why = probe_fails(PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "/sys/devices/system/cpu does not exist"), "why: %s", why);
    fx_mkdirs(under("sys/devices/system/cpu/cpu0", 0));             /* an offline CPU */
    why = probe_fails(PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "no CPU under ") && strstr(why, "physical_package_id"), "why: %s", why);
}

TEST(rapl_msr_malformed_cpuinfo_names_the_line)
{
    static const char *const bad[] = {
        "vendor_id\t: \ncpu family\t: 6\n",
        "vendor_id\t: GenuineIntel\ncpu family\t: six\n",
        "vendor_id\t: Genuine Intel\n",
        "vendor_id\t: GenuineIntel\nmodel\t\t: 0x55\n",
    };
    fx_mkdirs(under("proc", 0));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fx_write(under("proc", 0), "cpuinfo", bad[i]);
        const char *why = probe_fails(PW_ERR_FORMAT);
        CHECK_MSG(strstr(why, "/proc/cpuinfo: malformed line \"") && strstr(why, "want"),
                  "why: %s", why);
    }
}

TEST(rapl_msr_unsupported_registers_are_left_out_and_none_left_fails)
{
    cpuinfo("GenuineIntel", 6, 142);
    cpu(0, 0, 0);
    set_msr(0, INTEL_UNIT, UNIT_ESU14);
    set_msr(0, PP0, 42);                         /* the file ends here: PP1, psys give EIO */
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 1);
    fx_check_domain(&info, "core-0", PW_KIND_CPU, NULL);   /* no package read: top level */
    char *skipped = fx_described(&pw_source_rapl_msr, st, "rapl-msr.skipped");
    CHECK_MSG(skipped && strstr(skipped, "package-0 left out: MSR 0x611 (PKG_ENERGY_STATUS) on "
                                         "CPU 0 reads 0") &&
              strstr(skipped, "uncore-0 left out: MSR 0x641 (PP1_ENERGY_STATUS) on CPU 0 is "
                              "not readable: the CPU lacks it (Input/output error)"),
              "%s", skipped);
    free(skipped);
    pw_source_rapl_msr.close(st);
    set_msr(0, PP0, 0);
    int fds = fx_open_fds();
    const char *why = probe_fails(PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "no RAPL energy MSR counts on this CPU: ") &&
              strstr(why, "core-0 left out"), "why: %s", why);
    CHECK_INT(fx_open_fds(), fds);
}

TEST(rapl_msr_without_the_unit_register_there_is_no_rapl)
{
    cpuinfo("AuthenticAMD", 21, 2);              /* family 15h: no RAPL, the file is empty */
    cpu(0, 0, 0);
    int fds = fx_open_fds();
    const char *why = probe_fails(PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "RAPL power unit MSR 0xC0010299 on CPU 0 (") &&
              strstr(why, "this CPU has no RAPL") && strstr(why, "AMD before family 17h"),
              "why: %s", why);
    CHECK_INT(fx_open_fds(), fds);
    set_msr(0, AMD_UNIT, 0);                     /* readable, but all zero */
    why = probe_fails(PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "reads 0: this CPU has no RAPL"), "why: %s", why);
}

TEST(rapl_msr_device_failing_mid_run_is_a_gap_and_then_continues)
{
    intel_server();
    pw_source_info info;
    void *st = probe_ok(&info);
    int p0 = fx_index(&info, "package-0"), p1 = fx_index(&info, "package-1");
    int d1 = fx_index(&info, "dram-1");
    uint64_t e[6];
    CHECK_INT(read_at(st, 1, e), PW_OK);
    set_msr(1, PKG, 101 + 16384);
    CHECK_INT(read_at(st, 2, e), PW_OK);
    CHECK_INT(e[p1], 1000000);
    CHECK_INT(truncate(msr_path(1), 0x610), 0);            /* the registers stop reading */
    CHECK(read_at(st, 3, e) != PW_OK);                     /* a gap */
    CHECK_INT(unlink(msr_path(1)), 0);                     /* and the device goes away */
    CHECK_INT(read_at(st, 4, e), PW_ERR_NOT_FOUND);
    set_msr(1, INTEL_UNIT, UNIT_ESU14);                    /* back, having counted 2 J more */
    set_msr(1, PKG, 101 + 3 * 16384);
    set_msr(1, DRAM, 201 + 65536);
    set_msr(1, PP0, 301);
    set_msr(0, PKG, 100 + 16384);
    CHECK_INT(read_at(st, 5, e), PW_OK);
    CHECK_INT(e[p1], 3000000);
    CHECK_INT(e[d1], 1000000);
    CHECK_INT(e[p0], 1000000);
    set_msr(1, PKG, 101 + 4 * 16384);
    CHECK_INT(read_at(st, 6, e), PW_OK);
    CHECK_INT(e[p1], 4000000);
    pw_source_rapl_msr.close(st);
}

TEST(rapl_msr_keeps_one_descriptor_per_package_and_closes_them)
{
    int fds = fx_open_fds();
    intel_server();
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(fx_open_fds(), fds + 2);           /* one per package, kept between reads */
    uint64_t e[6];
    for (int i = 0; i < 3; i++) CHECK_INT(read_at(st, 1 + (uint64_t)i, e), PW_OK);
    CHECK_INT(fx_open_fds(), fds + 2);
    pw_source_rapl_msr.close(st);
    CHECK_INT(fx_open_fds(), fds);
    CHECK_INT(chmod(msr_path(1), 0600), 0);      /* a probe failing on package 1 */
    fx_drop_privileges();
    const char *why = probe_fails(PW_ERR_PERMISSION);
    CHECK_MSG(strstr(why, "/dev/cpu/1/msr"), "why: %s", why);
    CHECK_INT(fx_open_fds(), fds);
}

TEST(rapl_msr_ops_table)
{
    CHECK_STR(pw_source_rapl_msr.name, "rapl-msr");
    CHECK_STR(pw_source_rapl_msr.group, "rapl");
    CHECK_INT(pw_source_rapl_msr.measured, 1);
    CHECK_INT(pw_source_rapl_msr.auto_probe, 1);
}
