/* tap.h — lets an in-process consumer (phasewatt serve) see everything a session writes to
 * its trace, as it writes it, without reading the file back. */
#ifndef PW_TAP_H
#define PW_TAP_H

#include <stddef.h>
#include <stdint.h>

#include "trace/trace.h"

/* Every callback runs on the sampler thread, in trace order, with the session's lock held:
 * keep them short and never call back into the session. Any may be NULL. */
typedef struct pw_session_tap {
    void (*domains)(void *ctx, const pw_source_desc *src, size_t nsrc, const pw_domain_desc *dom,
                    size_t ndom);
    void (*name)(void *ctx, uint32_t id, const char *name);
    void (*track)(void *ctx, uint32_t track, uint32_t pid, uint32_t tid, const char *name);
    void (*event)(void *ctx, uint32_t track, const pw_event *ev);
    void (*loss)(void *ctx, uint32_t track, uint64_t lost_total);
    void (*sample)(void *ctx, uint32_t source, uint64_t t_ns, const uint64_t *energy_uj,
                   uint8_t flags);
    /* After each drain of a recorder's channel: its pw_channel_lost() so far. */
    void (*channel_loss)(void *ctx, uint64_t lost_total);
    void *ctx;
} pw_session_tap;

/* The tap the next pw_open() uses (copied; NULL: none). */
void pw_session_set_tap(const pw_session_tap *tap);

#endif
