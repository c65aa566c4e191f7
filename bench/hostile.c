/* hostile.c — benchmark: what crafted traces cost the reader and attribution (issue 23):
 * 100 000 nested BEGINs, 100 000 track ids chosen to collide in the former, unseeded track
 * hash, and a deep and wide tree; prints the time of each and its peak resident memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/attribute.h"
#include "trace/trace.h"

#define N 100000u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double peak_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* The track hash phasewatt used before it was seeded: ids are chosen against it. */
static uint64_t former_hash(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    return h ^ (h >> 33);
}

static int event(pw_trace *t, uint32_t track, uint64_t at, uint32_t type)
{
    pw_event ev = {.t_ns = at, .id = 1, .type = type};
    return pw_trace_add_event(t, track, &ev);
}

static int event_id(pw_trace *t, uint64_t at, uint32_t type, uint32_t id)
{
    pw_event ev = {.t_ns = at, .id = id, .type = type};
    return pw_trace_add_event(t, 1, &ev);
}

static pw_trace *base(void)
{
    pw_trace *t = pw_trace_new();
    uint64_t e = 0;
    if (!t || pw_trace_add_source(t, "rapl", 1000000, 0) != PW_OK ||
        pw_trace_add_domain(t, 0, "package-0", PW_KIND_CPU, -1, 0) != PW_OK ||
        pw_trace_set_name(t, 1, "a") != PW_OK)
        return t;
    for (uint64_t i = 0; i <= 1000; i++, e += 1000) pw_trace_add_sample(t, 0, i * 1000000, &e, 0);
    t->end_ns = 1000000000;
    return t;
}

static int deep(pw_trace *t)
{
    int rc = PW_OK;
    for (uint64_t i = 0; i < N && rc == PW_OK; i++) rc = event(t, 1, 1000 + i, PW_EV_BEGIN);
    for (uint64_t i = 0; i < N && rc == PW_OK; i++) rc = event(t, 1, 500000000 + i, PW_EV_END);
    return rc;
}

/* 62 levels of 255-byte names, then 64 x 256 leaves: ~16 kB of path a node, which nodes that
 * stored their whole path paid; nodes that keep a parent link and a shared name do not. */
static int wide(pw_trace *t)
{
    char name[256];
    int rc = PW_OK;
    for (uint32_t id = 2; id <= 257 && rc == PW_OK; id++) {
        memset(name, 'a' + (int)(id % 26), 250);
        snprintf(name + 250, 6, "%u", id);
        rc = pw_trace_set_name(t, id, name);
    }
    uint64_t at = 1000;
    for (uint32_t d = 0; d < 62 && rc == PW_OK; d++) rc = event_id(t, at++, PW_EV_BEGIN, 2 + d);
    for (uint32_t a = 2; a < 2 + 64 && rc == PW_OK; a++) {
        rc = event_id(t, at++, PW_EV_BEGIN, a);
        for (uint32_t b = 2; b <= 257 && rc == PW_OK; b++) {
            rc = event_id(t, at++, PW_EV_BEGIN, b);
            if (rc == PW_OK) rc = event_id(t, at++, PW_EV_END, b);
        }
        if (rc == PW_OK) rc = event_id(t, at++, PW_EV_END, a);
    }
    return rc;
}

/* Ids whose former hash has its 12 low bits zero: they all probe from a few slots. */
static int colliding(pw_trace *t)
{
    int rc = PW_OK;
    uint32_t n = 0;
    for (uint64_t id = 1; id < UINT32_MAX && n < N && rc == PW_OK; id++) {
        if (former_hash(id) & 0xFFF) continue;
        rc = event(t, (uint32_t)id, 1000 + n, PW_EV_BEGIN);
        if (rc == PW_OK) rc = event(t, (uint32_t)id, 1001 + n, PW_EV_END);
        n++;
    }
    return rc;
}

static int run(const char *what, int (*build)(pw_trace *))
{
    const char *path = "/tmp/phasewatt-bench-hostile.pwt";
    pw_trace *t = base();
    int rc = t ? build(t) : PW_ERR_NOMEM;
    if (rc == PW_OK) rc = pw_trace_write(t, path);
    pw_trace_free(t);
    t = NULL;
    struct stat st;
    long long bytes = rc == PW_OK && stat(path, &st) == 0 ? (long long)st.st_size : -1;
    double t0 = now_s();
    if (rc == PW_OK) rc = pw_trace_open(path, &t);
    double t1 = now_s();
    pw_attribution *a = NULL;
    if (rc == PW_OK) rc = pw_attribute(t, &a);
    double t2 = now_s();
    if (rc == PW_OK)
        printf("%-34s %lld bytes: read %.3f s, attributed %.3f s: %zu tracks, %zu nodes, %llu "
               "phases dropped past depth %d; peak RSS %.0f MB\n", what, bytes, t1 - t0, t2 - t1,
               t->ntracks, a->nnodes, (unsigned long long)t->health.deep_phases, PW_MAX_DEPTH,
               peak_mb());
    pw_attribution_free(a);
    pw_trace_close(t);
    remove(path);
    if (rc != PW_OK) fprintf(stderr, "bench-hostile: %s: %s\n", what, pw_strerror(rc));
    return rc;
}

/* Each shape in its own process, so each peak RSS is its own. */
static int in_child(const char *what, int (*build)(pw_trace *))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int rc = run(what, build);
        fflush(stdout);
        _exit(rc == PW_OK ? 0 : 1);
    }
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(void)
{
    return in_child("100 000 nested BEGINs", deep) |
           in_child("100 000 ids colliding (former hash)", colliding) |
           in_child("16 384 leaves 63 levels deep", wide);
}
