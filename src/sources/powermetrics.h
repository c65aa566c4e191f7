/* powermetrics.h — the parser for one sample of `powermetrics -f plist` (internal: used by
 * the powermetrics source, and driven directly on raw bytes by its tests and fuzzers). */
#ifndef PW_POWERMETRICS_H
#define PW_POWERMETRICS_H

#include <stddef.h>
#include <stdint.h>

enum { PW_PM_CPU, PW_PM_GPU, PW_PM_ANE, PW_PM_DRAM, PW_PM_NDOMAINS };

#define PW_PM_INCOMPLETE 1          /* pw_pm_parse: valid so far, but the input ends first */
#define PW_PM_DEPTH_MAX 32          /* deepest nesting accepted (real samples reach 9) */
#define PW_PM_MODEL_MAX 64

/* What one sample says, in powermetrics' own units. */
typedef struct pw_pm_sample {
    uint64_t elapsed_ns;                 /* the sample's interval; 0 when absent */
    double energy_mj[PW_PM_NDOMAINS];    /* processor.<d>_energy: mJ over the interval */
    double power_mw[PW_PM_NDOMAINS];     /* processor.<d>_power: mW, the interval's mean */
    double gpu_dict_energy_mj;           /* gpu.gpu_energy (the top-level gpu dictionary) */
    unsigned has_energy, has_power;      /* bit d: the key was present */
    int has_gpu_dict_energy;
    char hw_model[PW_PM_MODEL_MAX];      /* "" when absent; non-printable bytes become '?' */
} pw_pm_sample;

/* Parses the property list at the start of buf[0, len) (no NUL terminator needed; leading
 * whitespace allowed). PW_OK: *used = bytes through its closing </plist>. PW_PM_INCOMPLETE:
 * everything so far is valid but the document goes on past len. PW_ERR_FORMAT: malformed;
 * *error (static text) says why and *used where. Never reads outside buf[0, len). */
int pw_pm_parse(const char *buf, size_t len, pw_pm_sample *out, size_t *used,
                const char **error);

/* The domain's energy over the sample's interval in µJ: its energy key if present (mJ ×
 * 1000), else its power × elapsed_ns. PW_ERR_NOT_FOUND when the sample has neither (or power
 * without elapsed_ns). *from_power (may be NULL) says which one was used. */
int pw_pm_energy_uj(const pw_pm_sample *s, int domain, double *uj, int *from_power);

const char *pw_pm_domain_name(int domain);   /* "cpu", "gpu", "ane", "dram" */

#endif
