/* probe.c — probing a backend, bounded in time where its probe calls into a driver. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "platform/platform.h"
#include "sources/source.h"

#define DEFAULT_PROBE_LIMIT_MS 5000u

/* One probe run on its own thread; whichever side is last (the thread finishing after the
 * caller gave up, or the caller) frees it. */
typedef struct probe_job {
    const pw_source_ops *ops;
    pw_source_config cfg;
    void *state;
    pw_source_info info;
    char why[PW_WHY_MAX];
    int rc, done, abandoned;
    pthread_mutex_t lock;
    pthread_cond_t cv;
} probe_job;

static void job_free(probe_job *j)
{
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static void *probe_thread(void *arg)
{
    probe_job *j = arg;
    int rc = j->ops->probe(&j->cfg, &j->state, &j->info, j->why, sizeof j->why);
    pthread_mutex_lock(&j->lock);
    j->rc = rc;
    j->done = 1;
    int orphan = j->abandoned;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->lock);
    if (orphan) {   /* the driver answered after all, to nobody: undo what it opened */
        if (rc == PW_OK) j->ops->close(j->state);
        job_free(j);
    }
    return NULL;
}

/* Runs j's probe on a thread for at most limit_ns: 1 when it finished (j->rc holds its
 * answer), 0 when the caller gave up on it (the thread then frees j), -1 without a thread. */
static int run_bounded(probe_job *j, uint64_t limit_ns)
{
    pthread_t th;
    if (pthread_create(&th, NULL, probe_thread, j) != 0) return -1;
    uint64_t deadline = pw_now_ns() + limit_ns;
    pthread_mutex_lock(&j->lock);
    while (!j->done && pw_now_ns() < deadline) pw_cond_wait_until(&j->cv, &j->lock, deadline);
    int done = j->done;
    if (!done) j->abandoned = 1;
    pthread_mutex_unlock(&j->lock);
    if (done) pthread_join(th, NULL);
    else pthread_detach(th);
    return done;
}

int pw_source_probe(const pw_source_ops *ops, const pw_source_config *cfg, void **state,
                    pw_source_info *info, char *why, size_t whylen)
{
    memset(info, 0, sizeof *info);
    if (!ops->calls_driver) return ops->probe(cfg, state, info, why, whylen);
    probe_job *j = calloc(1, sizeof *j);
    if (!j) return PW_ERR_NOMEM;
    j->ops = ops;
    j->cfg = *cfg;
    pthread_mutex_init(&j->lock, NULL);
    pw_cond_init(&j->cv);
    uint32_t ms = cfg->probe_limit_ms ? cfg->probe_limit_ms : DEFAULT_PROBE_LIMIT_MS;
    int done = run_bounded(j, (uint64_t)ms * 1000000u);
    if (done < 0) {   /* no thread to spare: probe here, unbounded */
        job_free(j);
        return ops->probe(cfg, state, info, why, whylen);
    }
    if (!done) {
        snprintf(why, whylen, "its driver did not answer within %.1f s (a GPU fallen off the bus, "
                 "a hung driver?); left out", (double)ms / 1000.0);
        return PW_ERR_IO;
    }
    *state = j->state;
    *info = j->info;
    snprintf(why, whylen, "%s", j->why);
    int rc = j->rc;
    job_free(j);
    return rc;
}
