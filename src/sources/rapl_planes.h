/* rapl_planes.h — what the RAPL backends that read counters per package (perf, MSR) share:
 * the planes RAPL meters, their domain names and kinds, and the parent-first walk that
 * records their containment the way rapl_powercap.c does. */
#ifndef PW_RAPL_PLANES_H
#define PW_RAPL_PLANES_H

#include <stddef.h>

#include "sources/source.h"

typedef enum pw_rapl_plane {
    PW_RAPL_PSYS,        /* the platform: contains packages and DRAM */
    PW_RAPL_PKG,
    PW_RAPL_CORES,       /* PP0, inside its package */
    PW_RAPL_UNCORE,      /* PP1 (the client iGPU plane), inside its package */
    PW_RAPL_DRAM,        /* a rail of its own */
    PW_RAPL_NPLANES
} pw_rapl_plane;

pw_kind pw_rapl_plane_kind(pw_rapl_plane plane);
/* "psys" (one for the platform), else "<plane>-<package tag>": "core-1", "dram-0-die-1". */
void pw_rapl_domain_name(pw_rapl_plane plane, const char *package_tag, char *out, size_t cap);

/* Adds the domain of one plane of one package under parent, or leaves it out (adding
 * nothing, with a note); a non-zero return stops the walk. */
typedef int (*pw_rapl_add_fn)(void *ctx, pw_source_info *info, size_t package,
                              pw_rapl_plane plane, int32_t parent);
/* psys first (once, on package 0), then each package followed by its planes: cores and
 * uncore inside their package, packages and DRAM inside psys when there is one. Only the
 * planes with usable[plane] set are offered to add. */
int pw_rapl_add_planes(pw_source_info *info, size_t npackages, const int usable[PW_RAPL_NPLANES],
                       pw_rapl_add_fn add, void *ctx);

#endif
