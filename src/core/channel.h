/* channel.h — the cross-process phase channel: a shared-memory region that `phasewatt
 * record` creates and the library inside the recorded program writes its events into. */
#ifndef PW_CHANNEL_H
#define PW_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define PW_CHANNEL_ENV "PHASEWATT_CHANNEL"   /* the region's path, for the recorded program */

/* ---- inside the recorded program ---------------------------------------------------------
 * On first use the library looks for PHASEWATT_CHANNEL; if it names a valid region owned by
 * this user, every thread's events go to a ring there instead of a private one. */
int pw_channel_child_active(void);            /* attaches once; 1 when events go out */
pw_ring *pw_channel_claim_ring(void);         /* a free shared ring, or NULL (all taken) */
void pw_channel_publish_name(uint32_t id, const char *name);

/* ---- inside the recorder ---------------------------------------------------------------- */
typedef struct pw_channel pw_channel;

/* Creates the region (owner-only, created exclusively, links never followed) in /dev/shm,
 * else $TMPDIR or /tmp: room for nrings threads at once, ring_events events each. */
int pw_channel_create(uint32_t nrings, uint32_t ring_events, pw_channel **out, char *why,
                      size_t whylen);
const char *pw_channel_path(const pw_channel *ch);
void pw_channel_destroy(pw_channel *ch);      /* unmaps and removes the region */

/* Where drained events go; names are already this process's ids (pw_name works on them). */
typedef struct pw_channel_sink {
    /* A new track (first = 1, name NULL unless already named) or a renamed one. */
    void (*track)(void *ctx, uint32_t track, uint32_t pid, uint32_t tid, const char *name,
                  int first);
    void (*event)(void *ctx, uint32_t track, const pw_event *ev);
    void (*loss)(void *ctx, uint32_t track, uint64_t lost_total, uint64_t lost_before);
    void *ctx;
} pw_channel_sink;

/* A long-lived recorder (serve) reaps the rings of processes that died without exiting their
 * threads (crash, SIGKILL): their open phases end when the death is seen, and the rings go
 * back to the pool. record leaves this off: it closes phases at its child's exact end. */
void pw_channel_set_reaping(pw_channel *ch, int on);
/* Drains every ring; recycles the rings of threads that have exited. */
void pw_channel_poll(pw_channel *ch, const pw_channel_sink *sink);
/* Once the program is gone: ends each phase still open at t_ns; returns how many. */
uint64_t pw_channel_close_open(pw_channel *ch, const pw_channel_sink *sink, uint64_t t_ns);
/* Events that found no free ring, and names that did not fit. */
uint64_t pw_channel_lost(const pw_channel *ch);

/* ---- the session's use of it (session.c) ---------------------------------------------- */
/* While a session is open: its sampler drains the channel every tick. */
int pw_session_attach_channel(pw_channel *ch);
/* After the command ended (at end_ns): drains the rest, ends the phases left open, notes
 * losses, and lets go of the channel. Returns how many phases it ended. */
uint64_t pw_session_detach_channel(uint64_t end_ns);

#endif
