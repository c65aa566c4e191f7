/* channel.h — the cross-process phase channel: a shared-memory region that `phasewatt
 * record` (or `serve`) creates and the library inside the recorded program writes its events
 * into. */
#ifndef PW_CHANNEL_H
#define PW_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "trace/sink.h"

#define PW_CHANNEL_ENV "PHASEWATT_CHANNEL"   /* the region's path, for the recorded program */
#define PW_CHANNEL_MIN_RINGS 16u             /* the least a channel is shrunk to, to fit */
#define PW_CHANNEL_MIN_EVENTS 1024u
#define PW_CHANNEL_MAX_RINGS 4096u

/* ---- inside the recorded program ---------------------------------------------------------
 * On first use the library looks for PHASEWATT_CHANNEL; if it names a valid region of this
 * user whose recorder is alive, every thread's events go to a ring there instead of a
 * private one. */
int pw_channel_child_active(void);            /* attaches once; 1 when events go out */
pw_ring *pw_channel_claim_ring(void);         /* a free shared ring, or NULL (all taken) */
void pw_channel_publish_name(uint32_t id, const char *name);
/* Gives a ring back at its thread's (or process's) exit, stamped with the time of it;
 * returns 0 when r is not a ring of the channel. */
int pw_channel_release_ring(pw_ring *r);

/* ---- inside the recorder ---------------------------------------------------------------- */
typedef struct pw_channel pw_channel;

/* Creates the region (owner-only, created exclusively, links never followed, every page
 * reserved so that no touch of it can fault) in /dev/shm, else $TMPDIR or /tmp: room for
 * nrings threads at once, ring_events events each. A region that does not fit the space
 * there is gets fewer rings, then shorter ones (down to the minimums above): it succeeds
 * with *why saying so (why[0] is '\0' when nothing was cut). When even that does not fit it
 * fails with *why naming the space there is and what would fit. Orphaned regions of this
 * user (their recorder gone) are removed first. */
int pw_channel_create(uint32_t nrings, uint32_t ring_events, pw_channel **out, char *why,
                      size_t whylen);
const char *pw_channel_path(const pw_channel *ch);
uint32_t pw_channel_rings(const pw_channel *ch);
uint32_t pw_channel_ring_events(const pw_channel *ch);
void pw_channel_destroy(pw_channel *ch);      /* unmaps and removes the region */
/* Where the region's parts lie, in bytes from its start: for the fuzzer that attacks it. */
typedef struct pw_channel_regions {
    uint64_t size, names_offset, names_bytes, meta_offset, rings_offset, ring_stride;
    uint32_t nrings, ring_events;
} pw_channel_regions;
void pw_channel_regions_of(const pw_channel *ch, pw_channel_regions *out);
size_t pw_channel_names_used_at(void);        /* the header's name-log counter */
/* The region this process attached to (NULL if none) and where its parts lie: for the
 * hostile writers of the tests and benchmarks, which write into it as they please. */
void *pw_channel_attached(pw_channel_regions *out);

/* Writes the channel's path into file for programs started later: through a private
 * temporary file renamed over it (mode 0600, this user's), so no file another user prepared
 * is ever written into. 0, or -1 with *why. */
int pw_channel_publish_path(const char *file, const char *channel_path, char *why,
                            size_t whylen);

/* Drained events go to a sink's track, event and loss (trace/sink.h); their names are
 * already this process's ids (pw_name works on them). */

/* Rings of processes that died without exiting their threads (crash, SIGKILL, _exit) are
 * taken back once the death is seen from /proc: their open phases end then. On by default;
 * off only for tests of the recorder's own close. */
void pw_channel_set_reaping(pw_channel *ch, int on);
/* record's own child: its rings are closed at the end waitpid gives, not when seen dead. */
void pw_channel_spare_pid(pw_channel *ch, uint32_t pid);
/* Drains every ring; recycles the rings of threads and processes that have exited. */
void pw_channel_poll(pw_channel *ch, const pw_sink *sink);
/* Once the program is gone: ends each phase still open at t_ns; returns how many. */
uint64_t pw_channel_close_open(pw_channel *ch, const pw_sink *sink, uint64_t t_ns);

/* What the channel lost or cut, each counted where it happened. */
typedef enum pw_channel_count {
    PW_CH_NO_RING,         /* threads that found every ring taken: their events are lost */
    PW_CH_NAMES_DROPPED,   /* names with no room in the log */
    PW_CH_UNNAMED,         /* events whose name never arrived */
    PW_CH_BAD_TIME,        /* events stamped outside the session */
    PW_CH_TOO_DEEP,        /* BEGINs past PW_MAX_DEPTH, cut with their ENDs */
    PW_CH_PIDS_OVER,       /* processes past the recorder's cap: their names are not kept */
    PW_CH_NAMES_OVER,      /* names past the recorder's cap */
    PW_CH_CORRUPT,         /* name-log entries that made no sense */
    PW_CH_FORGED,          /* rings claimed under the pid of a live process that does not
                              map the channel: refused, their events dropped */
    PW_CH_EXITED_OPEN,     /* phases ended when their thread or process exited */
    PW_CH_REAPED,          /* rings taken back from processes that died */
    PW_CH_NCOUNTS
} pw_channel_count;
uint64_t pw_channel_count_of(const pw_channel *ch, pw_channel_count which);
/* The metadata key ("channel.no_ring") and one phrase with a %llu for each count; NULL
 * past the last. The report reads the keys back with these phrases. */
const char *pw_channel_count_key(pw_channel_count which);
const char *pw_channel_count_phrase(pw_channel_count which);
/* Events and names lost (the counts before PW_CH_EXITED_OPEN). */
uint64_t pw_channel_lost(const pw_channel *ch);
/* "3 thread(s) found every ring taken, ..." for every count that is not zero; 0 if none. */
int pw_channel_describe(const pw_channel *ch, char *buf, size_t cap);

/* ---- the session's use of it (session.c) ---------------------------------------------- */
/* While a session is open: its sampler drains the channel every tick. */
int pw_session_attach_channel(pw_channel *ch);
/* After the command ended (at end_ns): drains the rest, ends the phases left open, notes
 * losses, and lets go of the channel. Returns how many phases it ended. */
uint64_t pw_session_detach_channel(uint64_t end_ns);

#endif
