/* test_phase.c — the phase-tag API: names, nesting, unbalanced ends, threads, ring loss. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "phasewatt.h"
#include "tf.h"
#include "trace/trace.h"

TEST(names_intern_once)
{
    pw_id a = pw_phase_id("prefill"), b = pw_phase_id("decode");
    CHECK(a != 0 && b != 0 && a != b);
    CHECK_INT(pw_phase_id("prefill"), a);
    CHECK_INT(pw_counter_id("prefill"), a);
    CHECK_STR(pw_name(a), "prefill");
    CHECK(pw_name(0) == NULL);
    CHECK(pw_name(999999) == NULL);
}

TEST(names_reject_bad)
{
    CHECK_INT(pw_phase_id(""), 0);
    CHECK_INT(pw_phase_id(NULL), 0);
    char *big = malloc(PW_MAX_NAME + 2);
    memset(big, 'x', PW_MAX_NAME + 1);
    big[PW_MAX_NAME + 1] = '\0';
    CHECK_INT(pw_phase_id(big), 0);
    big[PW_MAX_NAME] = '\0';
    CHECK(pw_phase_id(big) != 0);          /* exactly the limit is fine */
    free(big);
}

TEST(names_many_distinct)
{
    char buf[32];
    pw_id first = 0, last = 0;
    for (int i = 0; i < 100000; i++) {
        snprintf(buf, sizeof buf, "phase-%d", i);
        last = pw_phase_id(buf);
        CHECK(last != 0);
        if (i == 0) first = last;
    }
    CHECK_INT(last - first, 99999);
    CHECK_INT(pw_phase_id("phase-12345"), first + 12345);
    CHECK_STR(pw_name(first + 777), "phase-777");
}

TEST(nesting_and_unbalanced_end)
{
    pw_id a = pw_phase_id("a"), b = pw_phase_id("b");
    CHECK_INT(pw_end(), PW_ERR_UNBALANCED);
    CHECK_INT(pw_begin(a), PW_OK);
    CHECK_INT(pw_begin(b), PW_OK);
    CHECK_INT(pw_end(), PW_OK);
    CHECK_INT(pw_end(), PW_OK);
    CHECK_INT(pw_end(), PW_ERR_UNBALANCED);
    CHECK_INT(pw_begin(0), PW_ERR_INVALID);
    CHECK_INT(pw_mark(0), PW_ERR_INVALID);
    CHECK_INT(pw_count(0, 1), PW_ERR_INVALID);
}

TEST(nesting_too_deep_is_an_error)
{
    pw_id a = pw_phase_id("deep");
    for (int i = 0; i < PW_MAX_DEPTH; i++) CHECK_INT(pw_begin(a), PW_OK);
    CHECK_INT(pw_begin(a), PW_ERR_TOO_DEEP);
    for (int i = 0; i < PW_MAX_DEPTH; i++) CHECK_INT(pw_end(), PW_OK);
    CHECK_INT(pw_end(), PW_ERR_UNBALANCED);
}

static int scope_depth_probe(void)
{
    PW_SCOPE("scoped");
    return 1;
}

TEST(scope_macro_closes)
{
    CHECK_INT(scope_depth_probe(), 1);
    CHECK_INT(pw_end(), PW_ERR_UNBALANCED);   /* the scope closed its phase */
    {
        PW_SCOPE("outer");
        CHECK_INT(pw_begin_name("inner"), PW_OK);
        CHECK_INT(pw_end(), PW_OK);
    }
    CHECK_INT(pw_end(), PW_ERR_UNBALANCED);
}

typedef struct drain_totals { uint64_t events, lost; } drain_totals;

static void count_event(const pw_ring *r, const pw_event *ev, void *ctx)
{
    (void)r; (void)ev;
    ((drain_totals *)ctx)->events++;
}

static void drain_all(pw_ring *r, void *ctx)
{
    pw_ring_drain(r, count_event, ctx);
    ((drain_totals *)ctx)->lost += atomic_load(&r->lost);
}

TEST(ring_overflow_is_counted_exactly)
{
    pw_rings_set_capacity(64);
    atomic_store(&pw_g_recording, 1);
    pw_id a = pw_phase_id("x");
    for (int i = 0; i < 1000; i++) {
        CHECK_INT(pw_begin(a), PW_OK);
        CHECK_INT(pw_end(), PW_OK);
    }
    drain_totals t = {0, 0};
    pw_rings_visit(drain_all, &t);
    CHECK_INT(t.events, 64);                 /* the ring kept what fitted … */
    CHECK_INT(t.lost, 2000 - 64);            /* … and counted every event it dropped */
    CHECK_INT(pw_begin(a), PW_OK);           /* drained: room again */
    t = (drain_totals){0, 0};
    pw_rings_visit(drain_all, &t);
    CHECK_INT(t.events, 1);
    atomic_store(&pw_g_recording, 0);
}
