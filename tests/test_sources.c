/* test_sources.c — the source layer: counter unwrapping, the estimate backend against a
 * fake /proc tree, the synthetic backend's spec handling, and the registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sources/counter.h"
#include "sources/source.h"
#include "tf.h"

TEST(counter_unwraps_at_32_bits)
{
    pw_counter c;
    pw_counter_init(&c, 1ull << 32);
    CHECK_INT(pw_counter_update(&c, 0xFFFFFF00u), 0);
    CHECK_INT(pw_counter_update(&c, 0xFFFFFFF0u), 0xF0);
    CHECK_INT(pw_counter_update(&c, 0x10u), 0xF0 + 0x20);       /* wrapped once */
    uint64_t total = 0x110;
    uint64_t raw = 0x10;
    for (int i = 0; i < 10; i++) {                               /* ten more wraps */
        raw = (raw + 0xC0000000u) & 0xFFFFFFFFu;
        total += 0xC0000000u;
        CHECK_INT(pw_counter_update(&c, raw), total);
    }
}

TEST(counter_unwraps_at_powercap_range)
{
    const uint64_t range = 262143328850ull;                      /* max_energy_range_uj */
    pw_counter c;
    pw_counter_init(&c, range + 1);
    pw_counter_update(&c, range - 1000);
    CHECK_INT(pw_counter_update(&c, 500), 1501);
}

TEST(counter_without_modulus_treats_backwards_as_reset)
{
    pw_counter c;
    pw_counter_init(&c, 0);
    pw_counter_update(&c, 1000);
    CHECK_INT(pw_counter_update(&c, 1500), 500);
    CHECK_INT(pw_counter_update(&c, 100), 500);                  /* reset: no jump */
    CHECK_INT(pw_counter_update(&c, 300), 700);
}

static void write_stat(const char *dir, unsigned long long user, unsigned long long idle)
{
    char path[512], text[512];
    snprintf(path, sizeof path, "%s/stat", dir);
    snprintf(text, sizeof text,
             "cpu  %llu 0 0 %llu 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n"
             "cpu1 0 0 0 0 0 0 0 0 0 0\nintr 0\n", user, idle);
    CHECK_INT(tf_write_file(path, text, strlen(text)), 0);
}

static pw_source_config fake_proc_config(void)
{
    pw_source_config cfg;
    pw_source_config_from_env(&cfg);
    cfg.proc_root = tf_tmpdir();
    cfg.estimate = "idle_w=2,active_w=10";
    return cfg;
}

TEST(estimate_models_power_from_fake_proc_stat)
{
    write_stat(tf_tmpdir(), 1000, 5000);
    pw_source_config cfg = fake_proc_config();
    void *st = NULL;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    CHECK_INT(pw_source_estimate.probe(&cfg, &st, &info, why, sizeof why), PW_OK);
    CHECK_INT(info.ndomains, 1);
    CHECK(info.domains[0].flags & PW_DOMAIN_ESTIMATED);
    uint64_t t = 1000000000, e = 0;
    CHECK_INT(pw_source_estimate.read(st, &t, &e), PW_OK);
    CHECK_INT(e, 0);
    write_stat(tf_tmpdir(), 1000 + 150, 5000 + 50);   /* 1.5 cores busy for 1 s */
    t += 1000000000;
    CHECK_INT(pw_source_estimate.read(st, &t, &e), PW_OK);
    CHECK_NEAR((double)e, (2 * 2 + 8 * 1.5) * 1e6, 1e-6);   /* 2 cores idle + 1.5 busy */
    write_stat(tf_tmpdir(), 1000 + 150, 5000 + 250);   /* idle for 1 s */
    t += 1000000000;
    CHECK_INT(pw_source_estimate.read(st, &t, &e), PW_OK);
    CHECK_NEAR((double)e, (16 + 4) * 1e6, 1e-6);
    pw_source_estimate.close(st);
}

TEST(estimate_explains_missing_and_bad_input)
{
    pw_source_config cfg = fake_proc_config();
    void *st = NULL;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    CHECK(pw_source_estimate.probe(&cfg, &st, &info, why, sizeof why) != PW_OK);
    CHECK_MSG(strstr(why, tf_tmpdir()) != NULL, "reason names the file: %s", why);
    CHECK(tf_write_file(tf_path("stat"), "garbage\n", 8) == 0);
    CHECK(pw_source_estimate.probe(&cfg, &st, &info, why, sizeof why) != PW_OK);
    write_stat(tf_tmpdir(), 1, 1);
    cfg.estimate = "idle_w=abc";
    CHECK_INT(pw_source_estimate.probe(&cfg, &st, &info, why, sizeof why), PW_ERR_INVALID);
    CHECK(strstr(why, "idle_w=abc") != NULL);
}

TEST(synthetic_inline_spec_and_errors)
{
    pw_source_config cfg = fake_proc_config();
    void *st = NULL;
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    cfg.synthetic = "decode=30W,background=2W,period=1ms,quantum=15.3uJ,bits=32";
    CHECK_INT(pw_source_synthetic.probe(&cfg, &st, &info, why, sizeof why), PW_OK);
    CHECK_INT(info.ndomains, 1);
    CHECK_INT(info.period_ns, 1000000);
    uint64_t t = 5000000000ull, e = 0;
    CHECK_INT(pw_source_synthetic.read(st, &t, &e), PW_OK);
    t += 100000000;                                   /* 100 ms of background, 2 W */
    CHECK_INT(pw_source_synthetic.read(st, &t, &e), PW_OK);
    CHECK_NEAR((double)e, 0.2e6, 0.001);
    pw_source_synthetic.close(st);
    cfg.synthetic = "not a spec";
    CHECK(pw_source_synthetic.probe(&cfg, &st, &info, why, sizeof why) != PW_OK);
    CHECK(why[0] != '\0');
}

TEST(registry_finds_every_backend_once)
{
    CHECK(pw_source_count() >= 2);
    for (size_t i = 0; i < pw_source_count(); i++) {
        const pw_source_ops *ops = pw_source_at(i);
        CHECK(ops && ops->name && ops->probe && ops->read && ops->close && ops->summary);
        CHECK(pw_source_find(ops->name) == ops);
    }
    CHECK(pw_source_find("nope") == NULL);
    CHECK(pw_source_at(pw_source_count()) == NULL);
}
