/* agent.h — the wire format between `phasewatt agent` (which reads root-only sensors) and
 * the `agent` source of an unprivileged recorder: fixed-size messages over a Unix socket. */
#ifndef PW_AGENT_H
#define PW_AGENT_H

#include <stdint.h>

#include "sources/source.h"

#define PW_AGENT_SOCKET_DEFAULT "/run/phasewatt/agent.sock"
#define PW_AGENT_MAGIC 0x47415750u       /* "PWAG" in a little-endian dump */
#define PW_AGENT_VERSION 2u             /* 2: the read message carries the read's bracket */
#define PW_AGENT_SOURCE_MAX 32

/* A request is these 4 bytes: 'P', 'W', the version, then the operation. Anything else
 * makes the agent drop the connection. */
#define PW_AGENT_REQ_LEN 4
enum { PW_AGENT_OP_INFO = 'I', PW_AGENT_OP_READ = 'R' };

typedef struct pw_agent_domain {
    char name[PW_DOMAIN_NAME_MAX];       /* NUL-terminated */
    int32_t kind;                        /* pw_kind */
    int32_t parent;                      /* index among the domains, or -1 */
    uint32_t flags;                      /* PW_DOMAIN_ESTIMATED */
    uint32_t reserved;
} pw_agent_domain;

/* The answer to PW_AGENT_OP_INFO: the source the agent runs, as its probe found it. */
typedef struct pw_agent_info_msg {
    uint32_t magic, version;
    uint64_t epoch;                      /* random per agent run: counters restart with it */
    char source[PW_AGENT_SOURCE_MAX];    /* "rapl" */
    uint32_t ndomains;
    uint32_t current_at_read;
    uint64_t period_ns;
    pw_agent_domain domains[PW_SOURCE_MAX_DOMAINS];
} pw_agent_info_msg;

/* The answer to PW_AGENT_OP_READ: one read of the source, made when the request came. */
typedef struct pw_agent_read_msg {
    uint32_t magic;
    int32_t rc;                          /* the source's read result: PW_OK or a gap */
    uint64_t epoch;
    uint64_t t_ns;                       /* the source's own stamp where self_timed */
    uint32_t self_timed;                 /* the source replaced the time of its reading */
    uint32_t ndomains;
    uint64_t read_t0_ns, read_t1_ns;     /* the agent's clock just before and after its read:
                                            a bracket the round trip does not widen */
    uint64_t energy_uj[PW_SOURCE_MAX_DOMAINS];
} pw_agent_read_msg;

#endif
