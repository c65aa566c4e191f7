/* seeds.c — writing seed files, shared by every fuzz target. */
#include <stdio.h>

#include "fuzz.h"

int pw_fuzz_write_seed(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}
