/* sink.c — the trace writer as a sink (sink.h). */
#include "trace/sink.h"

static int w_domains(void *ctx, const pw_source_desc *src, size_t nsrc, const pw_domain_desc *dom,
                     size_t ndom)
{
    return pw_writer_domains(ctx, src, nsrc, dom, ndom);
}

static int w_name(void *ctx, uint32_t id, const char *name) { return pw_writer_name(ctx, id, name); }

static int w_track(void *ctx, uint32_t track, uint32_t pid, uint32_t tid, const char *name,
                   int first)
{
    (void)first;
    return pw_writer_track(ctx, track, pid, tid, name);
}

static int w_event(void *ctx, uint32_t track, const pw_event *ev)
{
    return pw_writer_event(ctx, track, ev);
}

static int w_loss(void *ctx, uint32_t track, uint64_t lost_total, uint64_t lost_before)
{
    (void)lost_before;
    return pw_writer_loss(ctx, track, lost_total);
}

static int w_sample(void *ctx, uint32_t source, uint64_t t_ns, uint32_t t_err_ns,
                    const uint64_t *energy_uj, uint8_t flags)
{
    return pw_writer_sample_stamped(ctx, source, t_ns, t_err_ns, energy_uj, flags);
}

static int w_meta(void *ctx, const char *key, const char *value)
{
    return pw_writer_meta(ctx, key, value);
}

static int w_truth(void *ctx, const char *path, double energy_j, double duration_s)
{
    return pw_writer_truth(ctx, path, energy_j, duration_s);
}

pw_sink pw_writer_sink(pw_writer *w)
{
    return (pw_sink){.domains = w_domains, .name = w_name, .track = w_track, .event = w_event,
                     .loss = w_loss, .sample = w_sample, .meta = w_meta, .truth = w_truth,
                     .ctx = w};
}
