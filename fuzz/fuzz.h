/* fuzz.h — the fuzz targets: each takes any bytes, must never crash, leak or read out of
 * bounds, and writes its own seed corpus. libFuzzer drives them (`make fuzz`); the test
 * runner replays their seeds, every truncation of the seeds, and the crash regressions in
 * tests/fuzz/TARGET/ through the same functions. */
#ifndef PW_FUZZ_H
#define PW_FUZZ_H

#include <stddef.h>
#include <stdint.h>

typedef struct pw_fuzz_target {
    const char *name;
    int (*run)(const uint8_t *data, size_t len);
    int (*seeds)(const char *dir);   /* writes seed files into dir (which exists); 0 on success */
} pw_fuzz_target;

extern const pw_fuzz_target pw_fuzz_trace, pw_fuzz_scenario, pw_fuzz_powermetrics,
    pw_fuzz_sysfs, pw_fuzz_checkpoint, pw_fuzz_channel;

/* Writes one seed file dir/name; 0 on success. */
int pw_fuzz_write_seed(const char *dir, const char *name, const void *data, size_t len);

/* libFuzzer's entry point for one target, compiled only into the fuzzer binaries. */
#ifdef PW_FUZZ_MAIN
#define PW_FUZZ_ENTRY(target)                                                   \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);                \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)                 \
    {                                                                           \
        (target).run(data, len);                                                \
        return 0;                                                               \
    }
#else
#define PW_FUZZ_ENTRY(target)
#endif

#endif
