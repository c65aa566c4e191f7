/* rapl_perf.h — the two kernel calls of the perf RAPL backend, replaceable so that tests
 * stand in for perf_event_open and read while everything else runs for real. */
#ifndef PW_RAPL_PERF_H
#define PW_RAPL_PERF_H

#include <stdint.h>

typedef struct pw_perf_hooks {
    /* Opens a counting event (pid -1) of PMU type on cpu: a descriptor, or -1 and errno. */
    int (*open)(uint32_t type, uint64_t config, int cpu);
    /* The event's 64-bit count: 0, or -1 and errno. */
    int (*read)(int fd, uint64_t *count);
} pw_perf_hooks;

/* Hooks for the probes that follow (copied; NULL restores the real system calls). A probed
 * source keeps the hooks it was probed with. Not thread-safe: set it before probing. */
void pw_rapl_perf_set_hooks(const pw_perf_hooks *hooks);

#endif
