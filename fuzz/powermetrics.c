/* powermetrics.c — fuzz target: the powermetrics plist parser, fed a stream of documents
 * as the source reads them (NUL-separated, possibly cut anywhere). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "phasewatt.h"
#include "sources/powermetrics.h"

static int run(const uint8_t *data, size_t len)
{
    const char *p = (const char *)data;
    size_t left = len;
    while (left > 0) {
        pw_pm_sample s;
        size_t used = 0;
        const char *error = NULL;
        int rc = pw_pm_parse(p, left, &s, &used, &error);
        if (rc == PW_OK)
            for (int d = 0; d < PW_PM_NDOMAINS; d++) {
                double uj;
                int from_power;
                pw_pm_energy_uj(&s, d, &uj, &from_power);
            }
        if (rc != PW_OK || used == 0 || used > left) break;
        p += used, left -= used;
        while (left > 0 && *p == '\0') p++, left--;   /* the separator between documents */
    }
    return 0;
}

static int seeds(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/powermetrics-sample.plist", PW_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    static const char minimal[] =
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>processor</key><dict>"
        "<key>cpu_energy</key><integer>12</integer><key>gpu_power</key><real>1.5</real>"
        "</dict><key>elapsed_ns</key><integer>100000000</integer></dict></plist>";
    char two[2 * sizeof minimal];
    memcpy(two, minimal, sizeof minimal);   /* with its NUL: the separator */
    memcpy(two + sizeof minimal, minimal, sizeof minimal - 1);
    return pw_fuzz_write_seed(dir, "sample.plist", buf, n) ||
           pw_fuzz_write_seed(dir, "minimal.plist", minimal, sizeof minimal - 1) ||
           pw_fuzz_write_seed(dir, "two.plist", two, 2 * sizeof minimal - 1);
}

const pw_fuzz_target pw_fuzz_powermetrics = {"powermetrics", run, seeds};
PW_FUZZ_ENTRY(pw_fuzz_powermetrics)
