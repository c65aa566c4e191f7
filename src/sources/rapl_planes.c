/* rapl_planes.c — the RAPL planes' names, kinds and containment walk (rapl_planes.h). */
#include <stdio.h>

#include "sources/rapl_planes.h"

static const struct {
    const char *prefix;
    pw_kind kind;
} planes[PW_RAPL_NPLANES] = {
    [PW_RAPL_PSYS] = {"psys", PW_KIND_SYSTEM},  [PW_RAPL_PKG] = {"package", PW_KIND_CPU},
    [PW_RAPL_CORES] = {"core", PW_KIND_CPU},    [PW_RAPL_UNCORE] = {"uncore", PW_KIND_CPU},
    [PW_RAPL_DRAM] = {"dram", PW_KIND_DRAM},
};

pw_kind pw_rapl_plane_kind(pw_rapl_plane plane) { return planes[plane].kind; }

void pw_rapl_domain_name(pw_rapl_plane plane, const char *package_tag, char *out, size_t cap)
{
    if (plane == PW_RAPL_PSYS) snprintf(out, cap, "%s", planes[plane].prefix);
    else snprintf(out, cap, "%s-%s", planes[plane].prefix, package_tag);
}

int pw_rapl_add_planes(pw_source_info *info, size_t npackages, const int usable[PW_RAPL_NPLANES],
                       pw_rapl_add_fn add, void *ctx)
{
    int32_t psys = -1;
    int rc = 0;
    if (usable[PW_RAPL_PSYS] && npackages) {
        size_t before = info->ndomains;
        rc = add(ctx, info, 0, PW_RAPL_PSYS, -1);
        if (info->ndomains > before) psys = (int32_t)before;
    }
    for (size_t i = 0; i < npackages && rc == 0; i++) {
        int32_t pkg = -1;
        for (int p = PW_RAPL_PKG; p < PW_RAPL_NPLANES && rc == 0; p++) {
            if (!usable[p]) continue;
            size_t before = info->ndomains;
            int inside_package = (p == PW_RAPL_CORES || p == PW_RAPL_UNCORE) && pkg >= 0;
            rc = add(ctx, info, i, (pw_rapl_plane)p, inside_package ? pkg : psys);
            if (p == PW_RAPL_PKG && info->ndomains > before) pkg = (int32_t)before;
        }
    }
    return rc;
}
