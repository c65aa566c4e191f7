/* sink.h — one interface for a trace's stream as it is made: the trace writer, serve's live
 * view and a session's intake from the channel all take it, and a backend writes its metadata
 * and truth through it. */
#ifndef PW_SINK_H
#define PW_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "trace/trace.h"

/* Any callback may be NULL (that part of the stream is not wanted). Each returns PW_OK or
 * the error that stopped it (a writer's failed write); callers say what they do with one. */
typedef struct pw_sink {
    int (*domains)(void *ctx, const pw_source_desc *src, size_t nsrc, const pw_domain_desc *dom,
                   size_t ndom);
    int (*name)(void *ctx, uint32_t id, const char *name);
    /* A new track (first = 1; name NULL unless already named) or a renamed one. */
    int (*track)(void *ctx, uint32_t track, uint32_t pid, uint32_t tid, const char *name,
                 int first);
    int (*event)(void *ctx, uint32_t track, const pw_event *ev);
    /* lost_total counts from the track's start; lost_before is what was already said. */
    int (*loss)(void *ctx, uint32_t track, uint64_t lost_total, uint64_t lost_before);
    /* t_err_ns: PW_T_ERR_UNKNOWN where the reading's instant is not stated */
    int (*sample)(void *ctx, uint32_t source, uint64_t t_ns, uint32_t t_err_ns,
                  const uint64_t *energy_uj, uint8_t flags);
    int (*meta)(void *ctx, const char *key, const char *value);
    int (*truth)(void *ctx, const char *path, double energy_j, double duration_s);
    /* After each drain of a recorder's channel: its pw_channel_lost() so far. */
    int (*channel_loss)(void *ctx, uint64_t lost_total);
    void *ctx;
} pw_sink;

/* A sink that writes into w (which stays the caller's). */
pw_sink pw_writer_sink(pw_writer *w);

static inline int pw_sink_meta(const pw_sink *s, const char *key, const char *value)
{
    return s && s->meta ? s->meta(s->ctx, key, value) : PW_OK;
}

static inline int pw_sink_truth(const pw_sink *s, const char *path, double energy_j,
                                double duration_s)
{
    return s && s->truth ? s->truth(s->ctx, path, energy_j, duration_s) : PW_OK;
}

#endif
