/* sysfs.c — fuzz target: the sysfs value parsers, directly and through the backends that
 * use them. The input is cut at NUL bytes into the files of a fake sysfs tree (a powercap
 * zone with a subzone, an hwmon device) that the rapl and hwmon backends probe and read,
 * the same path a real machine takes. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "sources/source.h"
#include "sources/sysfs.h"

/* The tree's files, in the order the input's NUL-separated parts fill them. */
static const char *const files[] = {
    "sys/class/powercap/intel-rapl:0/name",
    "sys/class/powercap/intel-rapl:0/energy_uj",
    "sys/class/powercap/intel-rapl:0/max_energy_range_uj",
    "sys/class/powercap/intel-rapl:0:0/name",
    "sys/class/powercap/intel-rapl:0:0/energy_uj",
    "sys/class/hwmon/hwmon0/name",
    "sys/class/hwmon/hwmon0/energy1_input",
    "sys/class/hwmon/hwmon0/power1_average",
};
#define NFILES (sizeof files / sizeof files[0])

static char tree[256];

static int remove_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void remove_tree(void) { nftw(tree, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* The fake tree, made once under $TMPDIR (else /tmp) and removed when the process exits. */
static const char *tree_root(void)
{
    if (!tree[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(tree, sizeof tree, "%s/phasewatt-fuzz-sysfs.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(tree)) return tree;   /* the backends then find no tree: nothing to read */
        atexit(remove_tree);
        static const char *const dirs[] = {"/sys", "/sys/class", "/sys/class/powercap",
                                           "/sys/class/powercap/intel-rapl:0",
                                           "/sys/class/powercap/intel-rapl:0:0",
                                           "/sys/class/hwmon", "/sys/class/hwmon/hwmon0"};
        for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
            char d[512];
            snprintf(d, sizeof d, "%s%s", tree, dirs[i]);
            mkdir(d, 0700);
        }
    }
    return tree;
}

static void parse_directly(const char *text, size_t len)
{
    uint64_t v;
    unsigned u;
    pw_sysfs_parse_u64(text, &v);
    const char *p = text;
    pw_sysfs_digits(&p, 9, &u);
    pw_sysfs_is_name(text, 64);
    char *copy = strndup(text, len);
    if (copy) pw_sysfs_clean_name(copy), free(copy);
}

static void probe_and_read(const pw_source_ops *ops, const pw_source_config *cfg)
{
    void *state = NULL;
    pw_source_info info;
    memset(&info, 0, sizeof info);
    char why[PW_WHY_MAX];
    if (ops->probe(cfg, &state, &info, why, sizeof why) != PW_OK) return;
    uint64_t energy[PW_SOURCE_MAX_DOMAINS], t = 1000000000;
    ops->read(state, &t, energy);
    t += 1000000;
    ops->read(state, &t, energy);
    ops->close(state);
}

static int run(const uint8_t *data, size_t len)
{
    const char *root = tree_root();
    const char *p = (const char *)data, *end = p + len;
    for (size_t f = 0; f < NFILES; f++) {
        const char *cut = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
        size_t n = cut ? (size_t)(cut - p) : (size_t)(end - p);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", root, files[f]);
        FILE *out = fopen(path, "wb");
        if (out) fwrite(p, 1, n, out), fclose(out);
        char *text = strndup(p, n);
        if (text) parse_directly(text, n), free(text);
        p = cut ? cut + 1 : end;
    }
    pw_source_config cfg;
    pw_source_config_from_env(&cfg);
    cfg.sysfs_root = root;
    cfg.interval_ns = 1000000;
    probe_and_read(&pw_source_rapl, &cfg);
    probe_and_read(&pw_source_hwmon, &cfg);
    return 0;
}

static int seeds(const char *dir)
{
    static const char rapl[] = "package-0\n\0" "123456789\n\0" "262143328850\n\0"
                               "core\n\0" "5000\n\0" "amd_energy\n\0" "1000\n\0" "25000000\n";
    static const char odd[] = "dram\0" "18446744073709551615\0" "0\0" "psys\0" "-1\0"
                              "power_meter\0" "\0" "12x\n";
    return pw_fuzz_write_seed(dir, "rapl", rapl, sizeof rapl - 1) ||
           pw_fuzz_write_seed(dir, "odd", odd, sizeof odd - 1);
}

const pw_fuzz_target pw_fuzz_sysfs = {"sysfs", run, seeds};
PW_FUZZ_ENTRY(pw_fuzz_sysfs)
