/* test_fuzz.c — the fuzz targets without libFuzzer: each writes its seed corpus (into
 * $PW_FUZZ_SEEDS, or the build's fuzz-seeds/, where `make fuzz` starts from), and every seed,
 * every truncation and single-byte change of it, and every crash regression under
 * tests/fuzz/TARGET/ goes through the target. Under ASan this is the fuzzers' smoke test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../fuzz/fuzz.h"
#include "tf.h"

static const pw_fuzz_target *const targets[] = {&pw_fuzz_trace, &pw_fuzz_scenario,
                                                 &pw_fuzz_powermetrics, &pw_fuzz_sysfs,
                                                 &pw_fuzz_checkpoint, &pw_fuzz_channel};

/* Runs every file of dir through the target; with mutate, also its truncations and flips.
 * Returns how many files there were. */
static int replay_dir(const pw_fuzz_target *t, const char *dir, int mutate)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        unsigned char *data = (unsigned char *)tf_read_file(path, &len);
        CHECK_MSG(data != NULL, "cannot read %s", path);
        t->run(data, len);
        /* bounded work: a big seed is a hostile shape whose every parse is costly (8 000
         * tracks, deep nesting), 256 cuts of it, where a small one gets up to 4 096; under
         * TSan on two loaded cores the trace target ran past the runner's 120 s before */
        size_t cuts = len > 16384 ? 256 : 4096, step = len > cuts ? len / cuts : 1;
        for (size_t cut = 0; mutate && cut < len; cut += step) t->run(data, cut);
        for (size_t at = 0; mutate && at < len; at += step * 7 + 1) {
            unsigned char keep = data[at];
            data[at] ^= (unsigned char)(0x80 | at);
            t->run(data, len);
            data[at] = keep;
        }
        free(data);
        files++;
    }
    closedir(d);
    return files;
}

/* One target: its seeds written and replayed mutated, then its crash regressions. A test per
 * target, so each has the runner's whole time limit under a sanitizer's slowdown. */
static void check_target(const pw_fuzz_target *t)
{
    const char *env = getenv("PW_FUZZ_SEEDS");
    char root[1024], dir[1100], regressions[1100];
    snprintf(root, sizeof root, "%s", env && *env ? env : tf_path("fuzz-seeds"));
    mkdir(root, 0755);
    snprintf(dir, sizeof dir, "%s/%s", root, t->name);
    mkdir(dir, 0755);
    CHECK_MSG(t->seeds(dir) == 0, "%s: writing seeds into %s failed", t->name, dir);
    int seeds = replay_dir(t, dir, 1);
    CHECK_MSG(seeds >= 2, "%s: %d seeds", t->name, seeds);
    snprintf(regressions, sizeof regressions, "%s/tests/fuzz/%s", PW_SOURCE_DIR, t->name);
    replay_dir(t, regressions, 0);
}

TEST(fuzz_targets_trace_seeds_survive_mutation_and_regressions) { check_target(targets[0]); }
TEST(fuzz_targets_scenario_seeds_survive_mutation_and_regressions) { check_target(targets[1]); }
TEST(fuzz_targets_powermetrics_seeds_survive_mutation_and_regressions) { check_target(targets[2]); }
TEST(fuzz_targets_sysfs_seeds_survive_mutation_and_regressions) { check_target(targets[3]); }
TEST(fuzz_targets_checkpoint_seeds_survive_mutation_and_regressions) { check_target(targets[4]); }
TEST(fuzz_targets_channel_seeds_survive_mutation_and_regressions) { check_target(targets[5]); }
