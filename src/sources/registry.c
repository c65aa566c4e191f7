/* registry.c — the list of power backends, in the order `auto` tries them. */
#include <stdlib.h>
#include <string.h>

#include "sources/source.h"

static const pw_source_ops *const all_sources[] = {
    &pw_source_rapl,
    &pw_source_rapl_perf,
    &pw_source_rapl_msr,
    &pw_source_hwmon,
    &pw_source_nvml,
    &pw_source_ioreport,        /* before powermetrics: the same rails, and no root */
    &pw_source_powermetrics,
    &pw_source_synthetic,
    &pw_source_estimate,
    &pw_source_agent,           /* named only: a feed from `phasewatt agent`, never auto */
};

size_t pw_source_count(void) { return sizeof all_sources / sizeof all_sources[0]; }

const pw_source_ops *pw_source_at(size_t i)
{
    return i < pw_source_count() ? all_sources[i] : NULL;
}

const char *pw_source_name(size_t i)
{
    return i < pw_source_count() ? all_sources[i]->name : NULL;
}

const pw_source_ops *pw_source_find(const char *name)
{
    for (size_t i = 0; i < pw_source_count(); i++)
        if (strcmp(all_sources[i]->name, name) == 0) return all_sources[i];
    return NULL;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

void pw_source_config_from_env(pw_source_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->sysfs_root = env_or("PHASEWATT_SYSFS_ROOT", "");
    cfg->proc_root = env_or("PHASEWATT_PROC_ROOT", "/proc");
    cfg->dev_root = env_or("PHASEWATT_DEV_ROOT", "/dev");
    cfg->nvml_library = env_or("PHASEWATT_NVML_LIBRARY", "libnvidia-ml.so.1");
    cfg->powermetrics = env_or("PHASEWATT_POWERMETRICS", "powermetrics");
    cfg->ioreport_library = env_or("PHASEWATT_IOREPORT_LIBRARY", "");
    cfg->corefoundation_library = env_or("PHASEWATT_COREFOUNDATION_LIBRARY", "");
    cfg->estimate = env_or("PHASEWATT_ESTIMATE", "");
    cfg->agent_socket = env_or("PHASEWATT_AGENT_SOCKET", "/run/phasewatt/agent.sock");
    cfg->interval_ns = 10000000;
    cfg->probe_limit_ms = (uint32_t)strtoul(env_or("PHASEWATT_PROBE_LIMIT_MS", "0"), NULL, 10);
}
