/* test_trace.c — the trace module: the model's builders, CRC-32C, the writer and the
 * reader, round trips, and the reader's behaviour on torn, corrupt and foreign files. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tf.h"
#include "trace/format.h"
#include "trace/trace.h"

/* ---- fixtures --------------------------------------------------------------------------- */

static void add_model_samples(pw_trace *t, size_t n)
{
    uint64_t e[3] = {0, 0, UINT64_MAX - 5000};   /* the third counts down and wraps */
    for (size_t i = 0; i < n; i++) {
        e[0] += 1000 + i % 13;
        e[1] += 400 + (i * 7) % 5;
        e[2] -= 3 + i % 4;
        uint8_t fl = i % 50 == 49 ? PW_SAMPLE_GAP : 0;
        CHECK_INT(pw_trace_add_sample(t, 0, 1000000 + i * 1000 + i % 3, e, fl), PW_OK);
    }
    uint64_t g[2] = {1ull << 40, 7};
    for (size_t i = 0; i < n / 2; i++) {
        g[0] += 25000 + i % 101;
        g[1] += i % 2;
        CHECK_INT(pw_trace_add_sample(t, 1, 1000500 + i * 2000, g, i == 10), PW_OK);
    }
}

static void add_model_events(pw_trace *t, size_t n)
{
    pw_track *main_track = pw_trace_track(t, 7);
    CHECK(main_track != NULL);
    main_track->pid = 100;
    main_track->tid = 101;
    main_track->name = strdup("main");
    static const uint32_t types[] = {PW_EV_BEGIN, PW_EV_COUNT, PW_EV_MARK, PW_EV_END};
    for (size_t i = 0; i < n; i++) {
        uint32_t type = types[i % 4];
        int64_t value = type == PW_EV_COUNT ? (i % 8 ? (int64_t)i : INT64_MIN + 1) : 0;
        pw_event ev = {1000000 + i * 250, value, 1 + (uint32_t)(i % 3), type};
        CHECK_INT(pw_trace_add_event(t, 7, &ev), PW_OK);
    }
    /* a second track, out of time order on purpose: events need not be sorted */
    pw_event a = {5000000, 0, 2, PW_EV_BEGIN}, b = {4000000, -3, 3, PW_EV_COUNT},
             c = {UINT64_MAX, 0, 2, PW_EV_END};
    CHECK_INT(pw_trace_add_event(t, 9, &a), PW_OK);
    CHECK_INT(pw_trace_add_event(t, 9, &b), PW_OK);
    CHECK_INT(pw_trace_add_event(t, 9, &c), PW_OK);
    pw_trace_track(t, 9)->lost = 4;
}

/* Two sources with parented domains, sparse names, two tracks, truth, meta. */
static pw_trace *make_model(size_t nsamples, size_t nevents)
{
    pw_trace *t = pw_trace_new();
    CHECK(t != NULL);
    t->start_ns = 999000;
    t->realtime_offset_ns = -1234567;
    t->missed_deadlines = 3;
    CHECK_INT(pw_trace_add_source(t, "rapl", 1000000, 0), PW_OK);
    CHECK_INT(pw_trace_add_source(t, "nvml", 0, PW_DOMAIN_ESTIMATED), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "package-0", PW_KIND_CPU, -1, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "core", PW_KIND_CPU, 0, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "dram", PW_KIND_DRAM, 0, PW_DOMAIN_ESTIMATED), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 1, "gpu-0", PW_KIND_GPU, -1, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 1, "gpu-0-mem", PW_KIND_OTHER, 3, 0), PW_OK);
    CHECK_INT(pw_trace_set_name(t, 1, "decode"), PW_OK);
    CHECK_INT(pw_trace_set_name(t, 2, "attention"), PW_OK);
    CHECK_INT(pw_trace_set_name(t, 3, "tokens"), PW_OK);
    CHECK_INT(pw_trace_set_name(t, 5, "sparse \xc3\xa9"), PW_OK);
    add_model_samples(t, nsamples);
    add_model_events(t, nevents);
    CHECK_INT(pw_trace_add_truth(t, "", 12.5, 1.0), PW_OK);
    CHECK_INT(pw_trace_add_truth(t, "decode/attention", 1.0 / 3.0, NAN), PW_OK);
    CHECK_INT(pw_trace_set_meta(t, "command", "run --fast"), PW_OK);
    CHECK_INT(pw_trace_set_meta(t, "empty", ""), PW_OK);
    t->end_ns = 1000000 + nsamples * 1000 + 77;
    return t;
}

static int same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_same_series(const pw_series *a, const pw_series *b)
{
    CHECK_INT(a->source, b->source);
    CHECK_INT(a->first_domain, b->first_domain);
    CHECK_INT(a->ndomains, b->ndomains);
    CHECK_INT(a->n, b->n);
    if (!a->n) return;
    CHECK(memcmp(a->t_ns, b->t_ns, a->n * sizeof *a->t_ns) == 0);
    CHECK(memcmp(a->flags, b->flags, a->n) == 0);
    CHECK(memcmp(a->energy_uj, b->energy_uj, a->n * a->ndomains * sizeof *a->energy_uj) == 0);
}

static void check_same_tracks(const pw_trace *a, const pw_trace *b)
{
    CHECK_INT(a->ntracks, b->ntracks);
    for (size_t k = 0; k < a->ntracks; k++) {
        const pw_track *x = &a->tracks[k], *y = &b->tracks[k];
        CHECK_INT(x->id, y->id);
        CHECK_INT(x->pid, y->pid);
        CHECK_INT(x->tid, y->tid);
        CHECK(same_str(x->name, y->name));
        CHECK_INT(x->lost, y->lost);
        CHECK_INT(x->n, y->n);
        for (size_t i = 0; i < x->n; i++) {
            CHECK_INT(x->events[i].t_ns, y->events[i].t_ns);
            CHECK_INT(x->events[i].value, y->events[i].value);
            CHECK_INT(x->events[i].id, y->events[i].id);
            CHECK_INT(x->events[i].type, y->events[i].type);
        }
    }
}

/* Everything a round trip must keep, bit for bit. */
static void check_same(const pw_trace *a, const pw_trace *b)
{
    CHECK_INT(a->start_ns, b->start_ns);
    CHECK_INT(a->realtime_offset_ns, b->realtime_offset_ns);
    CHECK_INT(a->end_ns, b->end_ns);
    CHECK_INT(a->missed_deadlines, b->missed_deadlines);
    CHECK_INT(a->nsources, b->nsources);
    for (size_t i = 0; i < a->nsources; i++) {
        CHECK_STR(a->sources[i].name, b->sources[i].name);
        CHECK_INT(a->sources[i].period_ns, b->sources[i].period_ns);
        CHECK_INT(a->sources[i].flags, b->sources[i].flags);
        check_same_series(&a->series[i], &b->series[i]);
    }
    CHECK_INT(a->ndomains, b->ndomains);
    for (size_t i = 0; i < a->ndomains; i++) {
        CHECK_STR(a->domains[i].name, b->domains[i].name);
        CHECK_INT(a->domains[i].source, b->domains[i].source);
        CHECK_INT(a->domains[i].kind, b->domains[i].kind);
        CHECK_INT(a->domains[i].parent, b->domains[i].parent);
        CHECK_INT(a->domains[i].flags, b->domains[i].flags);
    }
    CHECK_INT(a->nnames, b->nnames);
    for (size_t i = 0; i < a->nnames; i++) CHECK(same_str(a->names[i], b->names[i]));
    check_same_tracks(a, b);
    CHECK_INT(a->ntruth, b->ntruth);
    for (size_t i = 0; i < a->ntruth; i++) {
        CHECK_STR(a->truth[i].path, b->truth[i].path);
        CHECK(same_double(a->truth[i].energy_j, b->truth[i].energy_j));
        CHECK(same_double(a->truth[i].duration_s, b->truth[i].duration_s));
    }
    CHECK_INT(a->nmeta, b->nmeta);
    for (size_t i = 0; i < a->nmeta; i++) {
        CHECK_STR(a->meta[i].key, b->meta[i].key);
        CHECK_STR(a->meta[i].value, b->meta[i].value);
    }
}

static pw_trace *read_file(const char *path)
{
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(path, &t), PW_OK);
    CHECK(t != NULL);
    return t;
}

static uint8_t *load(const char *path, size_t *len)
{
    uint8_t *buf = (uint8_t *)tf_read_file(path, len);
    CHECK(buf != NULL);
    return buf;
}

/* Offsets of the chunks in a well-formed image; returns how many (at most max). */
static size_t chunk_offsets(const uint8_t *buf, size_t len, size_t *offs, size_t max)
{
    size_t n = 0;
    for (size_t off = PW_TRACE_HEADER_SIZE; off + PW_CHUNK_FRAME <= len && n < max;) {
        offs[n++] = off;
        off += PW_CHUNK_FRAME + pw_get_u32le(buf + off + 4);
    }
    return n;
}

static size_t total_rows(const pw_trace *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nsources; i++) n += t->series[i].n;
    for (size_t i = 0; i < t->ntracks; i++) n += t->tracks[i].n;
    return n;
}

static pw_trace_health health(const pw_trace *t)
{
    pw_trace_health h = {.size = sizeof h};
    CHECK_INT(pw_trace_get_health(t, &h), PW_OK);
    return h;
}

/* ---- CRC and codec ---------------------------------------------------------------------- */

static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

TEST(trace_crc32c_check_vector)
{
    CHECK_INT(pw_crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_INT(pw_crc32c(0, "", 0), 0);
    uint8_t buf[1031];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t n = 0; n < sizeof buf; n += 37) {   /* every alignment and tail length */
        CHECK_INT(pw_crc32c(0, buf + 1, n), crc_bitwise(buf + 1, n));
        uint32_t chained = pw_crc32c(pw_crc32c(0, buf, n / 3), buf + n / 3, n - n / 3);
        CHECK_INT(chained, crc_bitwise(buf, n));
    }
}

TEST(trace_varint_and_zigzag_edges)
{
    static const int64_t sv[] = {0, 1, -1, 63, -64, 64, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    pw_buf b = {0};
    CHECK_INT(pw_buf_reserve(&b, 64 * PW_VARINT_MAX), PW_OK);
    for (size_t i = 0; i < sizeof sv / sizeof sv[0]; i++) {
        CHECK_INT(pw_unzigzag(pw_zigzag(sv[i])), sv[i]);
        pw_buf_sv(&b, sv[i]);
    }
    pw_buf_uv(&b, UINT64_MAX);
    pw_cur c = {b.p, b.p + b.n};
    for (size_t i = 0; i < sizeof sv / sizeof sv[0]; i++) {
        int64_t v;
        CHECK_INT(pw_cur_sv(&c, &v), 0);
        CHECK_INT(v, sv[i]);
    }
    uint64_t u;
    CHECK_INT(pw_cur_uv(&c, &u), 0);
    CHECK(u == UINT64_MAX);
    CHECK_INT(pw_cur_uv(&c, &u), -1);                        /* nothing left */
    static const uint8_t overlong[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02};
    c = (pw_cur){overlong, overlong + sizeof overlong};
    CHECK_INT(pw_cur_uv(&c, &u), -1);                        /* more than 64 bits */
    c = (pw_cur){overlong, overlong + 3};
    CHECK_INT(pw_cur_uv(&c, &u), -1);                        /* cut short */
    pw_buf_free(&b);
}

/* ---- the model -------------------------------------------------------------------------- */

TEST(trace_builders_reject_bad_arguments)
{
    pw_trace *t = pw_trace_new();
    uint64_t e[2] = {1, 2};
    CHECK_INT(pw_trace_add_domain(t, 0, "x", PW_KIND_CPU, -1, 0), PW_ERR_INVALID);  /* no source */
    CHECK_INT(pw_trace_add_source(t, "a", 0, 0), PW_OK);
    CHECK_INT(pw_trace_add_source(t, "b", 0, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "a0", PW_KIND_CPU, 0, 0), PW_ERR_INVALID);  /* self */
    CHECK_INT(pw_trace_add_domain(t, 0, "a0", PW_KIND_COUNT, -1, 0), PW_ERR_INVALID);
    CHECK_INT(pw_trace_add_domain(t, 0, "a0", PW_KIND_CPU, -2, 0), PW_ERR_INVALID);
    CHECK_INT(pw_trace_add_domain(t, 0, "a0", PW_KIND_CPU, -1, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 1, "b0", PW_KIND_GPU, -1, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "a1", PW_KIND_CPU, 0, 0), PW_ERR_INVALID);  /* gap */
    CHECK_INT(pw_trace_add_domain(t, 1, "b1", PW_KIND_GPU, 1, 0), PW_OK);
    CHECK_INT(pw_trace_add_sample(t, 2, 10, e, 0), PW_ERR_INVALID);
    CHECK_INT(pw_trace_add_sample(t, 1, 10, NULL, 0), PW_ERR_INVALID);
    CHECK_INT(pw_trace_add_sample(t, 1, 10, e, 0), PW_OK);
    CHECK_INT(pw_trace_add_sample(t, 1, 9, e, 0), PW_ERR_INVALID);   /* time went back */
    CHECK_INT(pw_trace_add_domain(t, 1, "b2", PW_KIND_GPU, 1, 0), PW_ERR_INVALID);  /* rows exist */
    CHECK_INT(pw_trace_set_name(t, 0, "zero"), PW_ERR_INVALID);
    CHECK_INT(pw_trace_set_name(t, PW_TRACE_MAX_NAMES, "big"), PW_ERR_INVALID);
    CHECK_INT(pw_trace_set_name(t, 4, "four"), PW_OK);
    CHECK_INT(pw_trace_set_name(t, 4, "FOUR"), PW_OK);
    CHECK_STR(pw_trace_name(t, 4), "FOUR");
    CHECK(pw_trace_name(t, 3) == NULL && pw_trace_name(t, 99) == NULL);
    pw_event bad = {1, 0, 1, 0};
    CHECK_INT(pw_trace_add_event(t, 1, &bad), PW_ERR_INVALID);
    bad.type = PW_EV_COUNT + 1;
    CHECK_INT(pw_trace_add_event(t, 1, &bad), PW_ERR_INVALID);
    CHECK_INT(t->ntracks, 0);
    CHECK_INT(pw_trace_set_meta(t, "k", "v1"), PW_OK);
    CHECK_INT(pw_trace_set_meta(t, "k", "v2"), PW_OK);
    CHECK_INT(t->nmeta, 1);
    CHECK_STR(pw_trace_meta(t, "k"), "v2");
    CHECK(pw_trace_meta(t, "nope") == NULL);
    CHECK_INT(pw_trace_add_truth(t, NULL, 1, 1), PW_ERR_INVALID);
    pw_trace_free(t);
}

TEST(trace_public_accessors)
{
    pw_trace *t = make_model(100, 8);
    CHECK_INT(pw_trace_domain_count(t), 5);
    pw_domain_info d = {.size = sizeof d};
    CHECK_INT(pw_trace_domain(t, 4, &d), PW_OK);
    CHECK_STR(d.name, "gpu-0-mem");
    CHECK_STR(d.kind, "other");
    CHECK_STR(d.source, "nvml");
    CHECK_INT(d.parent, 3);
    CHECK_INT(d.estimated, 1);          /* from its source's flags */
    CHECK_INT(d.samples, 50);
    CHECK_INT(pw_trace_domain(t, 2, &d), PW_OK);
    CHECK_STR(d.kind, "dram");
    CHECK_INT(d.estimated, 1);          /* from its own flags */
    CHECK_INT(pw_trace_domain(t, 1, &d), PW_OK);
    CHECK_INT(d.estimated, 0);
    CHECK_INT(pw_trace_domain(t, 5, &d), PW_ERR_INVALID);
    uint64_t tn, e;
    CHECK_INT(pw_trace_sample(t, 4, 2, &tn, &e), PW_OK);   /* second source, second column */
    CHECK_INT(tn, t->series[1].t_ns[2]);
    CHECK_INT(e, t->series[1].energy_uj[2 * 2 + 1]);
    CHECK_INT(pw_trace_sample(t, 4, 50, &tn, &e), PW_ERR_INVALID);
    CHECK_INT(pw_trace_sample(t, 9, 0, &tn, &e), PW_ERR_INVALID);
    CHECK(pw_trace_domain_is_top(t, 0) && !pw_trace_domain_is_top(t, 1) &&
          !pw_trace_domain_is_top(t, 17));
    CHECK_STR(pw_kind_name(PW_KIND_SYSTEM), "system");
    CHECK_INT(pw_kind_parse("gpu"), PW_KIND_GPU);
    CHECK_INT(pw_kind_parse("quantum"), PW_KIND_OTHER);
    CHECK_INT(pw_kind_parse(NULL), PW_KIND_OTHER);
    pw_trace_close(t);
}

/* ---- round trips ------------------------------------------------------------------------ */

TEST(trace_round_trip_full_model)
{
    pw_trace *m = make_model(1000, 40);
    CHECK_INT(pw_trace_write(m, tf_path("m.pwt")), PW_OK);
    pw_trace *r = read_file(tf_path("m.pwt"));
    check_same(m, r);
    pw_trace_health h = health(r);
    CHECK_INT(h.complete, 1);
    CHECK_INT(h.torn, 0);
    CHECK_INT(h.corrupt_chunks, 0);
    CHECK_INT(h.unknown_chunks, 0);
    CHECK_INT(h.lost_events, 4);
    CHECK_INT(r->version, 1);
    CHECK_STR(pw_trace_meta(r, "command"), "run --fast");
    /* and the copy writes back to the very same bytes */
    CHECK_INT(pw_trace_write(r, tf_path("r.pwt")), PW_OK);
    size_t la, lb;
    uint8_t *a = load(tf_path("m.pwt"), &la), *b = load(tf_path("r.pwt"), &lb);
    CHECK(la == lb && memcmp(a, b, la) == 0);
    free(a);
    free(b);
    pw_trace_free(m);
    pw_trace_free(r);
}

TEST(trace_round_trip_many_chunks)
{
    pw_trace *m = make_model(200000, 100000);
    CHECK_INT(pw_trace_write(m, tf_path("big.pwt")), PW_OK);
    size_t len;
    uint8_t *buf = load(tf_path("big.pwt"), &len);
    size_t offs[4096], samples = 0, n = chunk_offsets(buf, len, offs, 4096);
    for (size_t i = 0; i < n; i++) samples += pw_get_u32le(buf + offs[i]) == PW_CHUNK_SAMPLES;
    CHECK_MSG(samples >= 4, "only %zu SAMPLES chunks", samples);
    for (size_t i = 0; i < n; i++)   /* the writer keeps every chunk near its target */
        CHECK(pw_get_u32le(buf + offs[i] + 4) < PW_CHUNK_TARGET + 1024);
    free(buf);
    pw_trace *r = read_file(tf_path("big.pwt"));
    check_same(m, r);
    CHECK_INT(health(r).corrupt_chunks, 0);
    pw_trace_free(m);
    pw_trace_free(r);
}

TEST(trace_empty_model_round_trips)
{
    pw_trace *m = pw_trace_new();
    CHECK_INT(pw_trace_write(m, tf_path("e.pwt")), PW_OK);
    pw_trace *r = read_file(tf_path("e.pwt"));
    check_same(m, r);
    CHECK_INT(health(r).complete, 1);
    pw_trace_free(m);
    pw_trace_free(r);
}

/* ---- the streaming writer ------------------------------------------------------------ */

static pw_writer *open_writer(const char *name)
{
    static const pw_source_desc src[] = {{"synthetic", 0, 0}};
    static const pw_domain_desc dom[] = {{"system", 0, PW_KIND_SYSTEM, -1, 0},
                                         {"cpu", 0, PW_KIND_CPU, 0, 0}};
    pw_writer *w = NULL;
    pw_writer_header h = {500, 42};
    CHECK_INT(pw_writer_open(tf_path(name), &h, &w), PW_OK);
    CHECK_INT(pw_writer_domains(w, src, 1, dom, 2), PW_OK);
    return w;
}

/* Writes `rows` samples from row `first` and one event per sample on track 1. */
static void stream_rows(pw_writer *w, size_t first, size_t rows)
{
    for (size_t i = first; i < first + rows; i++) {
        uint64_t e[2] = {i * 1000, i * 300};
        CHECK_INT(pw_writer_sample(w, 0, 1000 + i * 10, e, 0), PW_OK);
        pw_event ev = {1000 + i * 10 + 5, 0, 1, PW_EV_MARK};
        CHECK_INT(pw_writer_event(w, 1, &ev), PW_OK);
    }
}

TEST(trace_writer_rejects_misuse)
{
    pw_writer *w = NULL;
    pw_writer_header h = {0, 0};
    CHECK_INT(pw_writer_open(tf_path("w.pwt"), &h, &w), PW_OK);
    uint64_t e[2] = {1, 2};
    CHECK_INT(pw_writer_sample(w, 0, 1, e, 0), PW_ERR_INVALID);   /* no domains yet */
    const pw_source_desc src[] = {{"s", 0, 0}};
    const pw_domain_desc fwd[] = {{"a", 0, PW_KIND_CPU, 1, 0}, {"b", 0, PW_KIND_CPU, -1, 0}};
    CHECK_INT(pw_writer_domains(w, src, 1, fwd, 2), PW_ERR_INVALID);   /* parent after it */
    const pw_domain_desc ok[] = {{"a", 0, PW_KIND_CPU, -1, 0}, {"b", 0, PW_KIND_CPU, 0, 0}};
    CHECK_INT(pw_writer_domains(w, src, 1, ok, 2), PW_OK);
    CHECK_INT(pw_writer_domains(w, src, 1, ok, 2), PW_ERR_INVALID);    /* only once */
    CHECK_INT(pw_writer_sample(w, 0, 10, e, 0), PW_OK);
    CHECK_INT(pw_writer_sample(w, 0, 9, e, 0), PW_ERR_INVALID);
    CHECK_INT(pw_writer_sample(w, 1, 11, e, 0), PW_ERR_INVALID);
    CHECK_INT(pw_writer_sample(w, 0, 11, NULL, 0), PW_ERR_INVALID);
    pw_event ev = {1, 0, 1, 9};
    CHECK_INT(pw_writer_event(w, 1, &ev), PW_ERR_INVALID);
    CHECK_INT(pw_writer_name(w, 0, "x"), PW_ERR_INVALID);
    CHECK_INT(pw_writer_meta(w, "k", NULL), PW_ERR_INVALID);
    CHECK_INT(pw_writer_close(w, 20, 0), PW_OK);
    pw_trace *t = read_file(tf_path("w.pwt"));
    CHECK_INT(t->series[0].n, 1);
    CHECK_INT(t->end_ns, 20);
    pw_trace_free(t);
}

TEST(trace_writer_streams_in_any_order)
{
    pw_writer *w = open_writer("s.pwt");
    stream_rows(w, 0, 10);
    CHECK_INT(pw_writer_name(w, 1, "late name"), PW_OK);       /* after events using it */
    CHECK_INT(pw_writer_loss(w, 1, 5), PW_OK);
    CHECK_INT(pw_writer_flush(w), PW_OK);
    stream_rows(w, 10, 10);
    CHECK_INT(pw_writer_loss(w, 1, 12), PW_OK);
    CHECK_INT(pw_writer_loss(w, 1, 9), PW_OK);                 /* stale total: max wins */
    CHECK_INT(pw_writer_loss(w, 2, 1), PW_OK);
    CHECK_INT(pw_writer_track(w, 1, 77, 78, "worker"), PW_OK);  /* described last */
    CHECK_INT(pw_writer_meta(w, "k", "v1"), PW_OK);
    CHECK_INT(pw_writer_meta(w, "k", "v2"), PW_OK);
    CHECK_INT(pw_writer_truth(w, "x", 2.5, 0.25), PW_OK);
    CHECK_INT(pw_writer_close(w, 123456, 2), PW_OK);
    pw_trace *t = read_file(tf_path("s.pwt"));
    CHECK_INT(t->start_ns, 500);
    CHECK_INT(t->realtime_offset_ns, 42);
    CHECK_INT(t->series[0].n, 20);
    CHECK_INT(t->series[0].energy_uj[19 * 2 + 1], 19 * 300);
    CHECK_INT(t->ntracks, 2);
    CHECK_INT(t->tracks[0].n, 20);
    CHECK_INT(t->tracks[0].pid, 77);
    CHECK_STR(t->tracks[0].name, "worker");
    CHECK_INT(t->tracks[0].lost, 12);
    CHECK_INT(health(t).lost_events, 13);
    CHECK_STR(pw_trace_name(t, 1), "late name");
    CHECK_STR(pw_trace_meta(t, "k"), "v2");
    CHECK_INT(t->ntruth, 1);
    CHECK_INT(t->end_ns, 123456);
    CHECK_INT(t->missed_deadlines, 2);
    CHECK_INT(health(t).complete, 1);
    pw_trace_free(t);
}

TEST(trace_writer_dev_full_is_io_error)
{
    if (access("/dev/full", W_OK) != 0) tf_skip("no /dev/full");
    pw_writer *w = (pw_writer *)&w;
    pw_writer_header h = {0, 0};
    errno = 0;
    CHECK_INT(pw_writer_open("/dev/full", &h, &w), PW_ERR_IO);
    CHECK_INT(errno, ENOSPC);
    CHECK(w == NULL);
    pw_trace *m = make_model(200, 10);
    CHECK_INT(pw_trace_write(m, "/dev/full"), PW_ERR_IO);
    CHECK_INT(errno, ENOSPC);
    CHECK_INT(pw_trace_write(m, tf_path("no/such/dir.pwt")), PW_ERR_IO);
    pw_trace_free(m);
}

TEST(trace_writer_failure_midway_keeps_the_prefix)
{
    /* a file size limit makes write(2) fail with EFBIG partway, like a full disk */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {100000, 100000};
    CHECK_INT(setrlimit(RLIMIT_FSIZE, &rl), 0);
    pw_writer *w = open_writer("full.pwt");
    int rc = PW_OK;
    size_t i;
    for (i = 0; i < 100000 && rc == PW_OK; i++) {
        uint64_t e[2] = {i, 2 * i};
        rc = pw_writer_sample(w, 0, i, e, 0);
    }
    CHECK_INT(rc, PW_ERR_IO);
    CHECK_INT(errno, EFBIG);
    uint64_t e[2] = {0, 0};
    CHECK_INT(pw_writer_sample(w, 0, i, e, 0), PW_ERR_IO);   /* the failure sticks */
    CHECK_INT(pw_writer_meta(w, "k", "v"), PW_ERR_IO);
    CHECK_INT(pw_writer_close(w, 0, 0), PW_ERR_IO);
    pw_trace *t = read_file(tf_path("full.pwt"));
    pw_trace_health h = health(t);
    CHECK_INT(h.complete, 0);
    CHECK_INT(h.corrupt_chunks, 0);
    CHECK(t->series[0].n > 1000 && t->series[0].n < i);
    for (size_t k = 0; k < t->series[0].n; k++) CHECK_INT(t->series[0].energy_uj[2 * k + 1], 2 * k);
    CHECK_INT(t->end_ns, t->series[0].t_ns[t->series[0].n - 1]);   /* no END: last time */
    pw_trace_free(t);
}

/* ---- damaged files ---------------------------------------------------------------------- */

/* A file of many small chunks: a flush every 25 rows. */
static void write_chunky(const char *name, size_t rounds)
{
    pw_writer *w = open_writer(name);
    CHECK_INT(pw_writer_name(w, 1, "mark"), PW_OK);
    for (size_t k = 0; k < rounds; k++) {
        stream_rows(w, k * 25, 25);
        CHECK_INT(pw_writer_flush(w), PW_OK);
    }
    CHECK_INT(pw_writer_close(w, 99999999, 0), PW_OK);
}

static pw_trace *read_buf(const uint8_t *buf, size_t len)
{
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_read_buffer(buf, len, &t), PW_OK);
    return t;
}

TEST(trace_truncation_at_every_byte)
{
    write_chunky("c.pwt", 6);
    size_t len, offs[64];
    uint8_t *buf = load(tf_path("c.pwt"), &len);
    size_t n = chunk_offsets(buf, len, offs, 64);
    CHECK(n >= 4);
    /* across the last three chunks (samples, events, END): each cut keeps whole chunks */
    for (size_t k = n - 3; k < n; k++) {
        pw_trace *prefix = read_buf(buf, offs[k]);
        CHECK_INT(health(prefix).torn, 0);
        size_t end = k + 1 < n ? offs[k + 1] : len;
        for (size_t cut = offs[k] + 1; cut < end; cut++) {
            pw_trace *t = read_buf(buf, cut);
            pw_trace_health h = health(t);
            CHECK_MSG(h.torn == 1 && h.complete == 0 && h.corrupt_chunks == 0,
                      "cut at %zu: torn %d complete %d corrupt %zu", cut, h.torn, h.complete,
                      h.corrupt_chunks);
            check_same(prefix, t);
            pw_trace_free(t);
        }
        pw_trace_free(prefix);
    }
    pw_trace *whole = read_buf(buf, len);
    CHECK_INT(health(whole).complete, 1);
    CHECK_INT(total_rows(whole), 6 * 50);
    pw_trace_free(whole);
    free(buf);
}

TEST(trace_flipped_byte_skips_one_chunk)
{
    write_chunky("c.pwt", 8);
    size_t len, offs[64];
    uint8_t *buf = load(tf_path("c.pwt"), &len);
    size_t n = chunk_offsets(buf, len, offs, 64);
    size_t k = n / 2;                       /* a SAMPLES or EVENTS chunk of 25 rows */
    uint32_t type = pw_get_u32le(buf + offs[k]), plen = pw_get_u32le(buf + offs[k] + 4);
    CHECK(type == PW_CHUNK_SAMPLES || type == PW_CHUNK_EVENTS);
    /* every byte of the chunk: its type, each length byte, the payload and the CRC */
    for (size_t at = offs[k]; at < offs[k] + PW_CHUNK_FRAME + plen; at++) {
        for (int bit = 0; bit < 8; bit += 7) {
            buf[at] ^= (uint8_t)(1u << bit);
            pw_trace *t = read_buf(buf, len);
            buf[at] ^= (uint8_t)(1u << bit);
            pw_trace_health h = health(t);
            CHECK_MSG(h.corrupt_chunks == 1 && h.complete == 1 && h.torn == 0,
                      "flip at +%zu: corrupt %zu complete %d", at - offs[k], h.corrupt_chunks,
                      h.complete);
            CHECK_INT(total_rows(t), 8 * 50 - 25);
            CHECK_INT(t->series[0].n + (type == PW_CHUNK_SAMPLES ? 25 : 0), 8 * 25);
            pw_trace_free(t);
        }
    }
    free(buf);
}

TEST(trace_impossible_length_resynchronises)
{
    write_chunky("c.pwt", 4);
    size_t len, offs[64];
    uint8_t *buf = load(tf_path("c.pwt"), &len);
    size_t n = chunk_offsets(buf, len, offs, 64);
    pw_put_u32le(buf + offs[n / 2] + 4, 0xFFFFFFF0u);
    pw_trace *t = read_buf(buf, len);
    CHECK_INT(health(t).corrupt_chunks, 1);
    CHECK_INT(health(t).complete, 1);
    CHECK_INT(total_rows(t), 4 * 50 - 25);
    pw_trace_free(t);
    /* and the last chunk's length running past the end: nothing follows, so it is torn */
    pw_put_u32le(buf + offs[n - 1] + 4, 1000);
    t = read_buf(buf, len);
    CHECK_INT(health(t).torn, 1);
    CHECK_INT(health(t).complete, 0);
    pw_trace_free(t);
    free(buf);
}

/* Splices one chunk of kind `type` with `payload` (and a valid CRC) in at `at`. */
static uint8_t *splice_chunk(const uint8_t *buf, size_t len, size_t at, uint32_t type,
                             const void *payload, uint32_t plen, size_t *out_len)
{
    uint8_t *o = malloc(len + PW_CHUNK_FRAME + plen);
    CHECK(o != NULL);
    memcpy(o, buf, at);
    pw_put_u32le(o + at, type);
    pw_put_u32le(o + at + 4, plen);
    memcpy(o + at + 8, payload, plen);
    pw_put_u32le(o + at + 8 + plen, pw_crc32c(0, o + at, 8 + plen));
    memcpy(o + at + PW_CHUNK_FRAME + plen, buf + at, len - at);
    *out_len = len + PW_CHUNK_FRAME + plen;
    return o;
}

TEST(trace_unknown_chunk_is_skipped)
{
    pw_trace *m = make_model(300, 20);
    CHECK_INT(pw_trace_write(m, tf_path("m.pwt")), PW_OK);
    size_t len, offs[64], n2;
    uint8_t *buf = load(tf_path("m.pwt"), &len);
    size_t n = chunk_offsets(buf, len, offs, 64);
    uint8_t *spliced = splice_chunk(buf, len, offs[n / 2], 4242, "from the future", 15, &n2);
    pw_trace *t = read_buf(spliced, n2);
    check_same(m, t);
    CHECK_INT(health(t).unknown_chunks, 1);
    CHECK_INT(health(t).corrupt_chunks, 0);
    pw_trace_free(t);
    free(spliced);
    /* a known kind with a malformed payload but a valid CRC is skipped as corrupt */
    spliced = splice_chunk(buf, len, offs[n / 2], PW_CHUNK_SAMPLES, "\x00\x05\x03\x00", 4, &n2);
    t = read_buf(spliced, n2);
    check_same(m, t);
    CHECK_INT(health(t).corrupt_chunks, 1);
    pw_trace_free(t);
    free(spliced);
    free(buf);
    pw_trace_free(m);
}

static void fix_header_crc(uint8_t *buf)
{
    pw_put_u32le(buf + 32, pw_crc32c(0, buf, 32));
}

TEST(trace_foreign_files_are_format_errors)
{
    pw_trace *t = (pw_trace *)&t;
    CHECK_INT(tf_write_file(tf_path("empty"), "", 0), 0);
    CHECK_INT(pw_trace_open(tf_path("empty"), &t), PW_ERR_FORMAT);
    CHECK(t == NULL);
    CHECK_INT(tf_write_file(tf_path("text"), "hello, this is not a trace file at all", 38), 0);
    CHECK_INT(pw_trace_open(tf_path("text"), &t), PW_ERR_FORMAT);
    CHECK_INT(pw_trace_open(tf_path("missing"), &t), PW_ERR_NOT_FOUND);
    CHECK_INT(pw_trace_read_buffer(NULL, 0, &t), PW_ERR_FORMAT);

    pw_trace *m = make_model(10, 4);
    CHECK_INT(pw_trace_write(m, tf_path("m.pwt")), PW_OK);
    pw_trace_free(m);
    size_t len;
    uint8_t *buf = load(tf_path("m.pwt"), &len);
    buf[8] = 2;                                  /* version 2, header CRC made valid */
    fix_header_crc(buf);
    CHECK_INT(pw_trace_read_buffer(buf, len, &t), PW_ERR_FORMAT);
    buf[8] = 1;
    fix_header_crc(buf);
    buf[20] ^= 1;                                /* start_ns damaged: header CRC fails */
    CHECK_INT(pw_trace_read_buffer(buf, len, &t), PW_ERR_FORMAT);
    buf[20] ^= 1;
    CHECK_INT(pw_trace_read_buffer(buf, PW_TRACE_HEADER_SIZE - 1, &t), PW_ERR_FORMAT);
    t = read_buf(buf, PW_TRACE_HEADER_SIZE);     /* a header alone: a valid, empty trace */
    CHECK_INT(t->nsources, 0);
    CHECK_INT(health(t).torn, 0);
    CHECK_INT(health(t).complete, 0);
    pw_trace_free(t);
    free(buf);
}

/* Random damage of many kinds must never crash, hang or leak (ASan watches). */
TEST(trace_reader_survives_random_damage)
{
    write_chunky("c.pwt", 6);
    size_t len;
    uint8_t *orig = load(tf_path("c.pwt"), &len);
    uint8_t *buf = malloc(len);
    uint64_t x = 88172645463325252ull;
    for (int round = 0; round < 3000; round++) {
        memcpy(buf, orig, len);
        int flips = 1 + round % 8;
        for (int f = 0; f < flips; f++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = PW_TRACE_HEADER_SIZE + x % (len - PW_TRACE_HEADER_SIZE);
            buf[at] = round % 3 ? (uint8_t)(buf[at] ^ (x >> 32)) : (uint8_t)(x >> 40) % 3;
        }
        size_t body = len - PW_TRACE_HEADER_SIZE;
        size_t cut = round % 5 ? len : PW_TRACE_HEADER_SIZE + (x >> 20) % body;
        pw_trace *t = NULL;
        int rc = pw_trace_read_buffer(buf, cut, &t);
        CHECK_INT(rc, PW_OK);
        CHECK(total_rows(t) <= 6 * 50);
        pw_trace_free(t);
    }
    free(buf);
    free(orig);
}

/* Valid chunks with hostile contents: huge counts, many keys and tracks, bad rows. */
TEST(trace_hostile_chunks_stay_cheap_and_atomic)
{
    enum { MANY = 100000 };
    pw_trace *m = make_model(50, 8);
    CHECK_INT(pw_trace_write(m, tf_path("m.pwt")), PW_OK);
    size_t len, n2, offs[64];
    uint8_t *buf = load(tf_path("m.pwt"), &len);
    size_t at = offs[chunk_offsets(buf, len, offs, 64) - 1];   /* before END */
    pw_buf p = {0};
    CHECK_INT(pw_buf_reserve(&p, MANY * 3 * PW_VARINT_MAX), PW_OK);
    for (uint32_t i = 0; i < MANY; i++) {                      /* a LOSS per new track */
        pw_buf_uv(&p, 1000 + i);
        pw_buf_uv(&p, 1);
    }
    uint8_t *a = splice_chunk(buf, len, at, PW_CHUNK_LOSS, p.p, (uint32_t)p.n, &n2);
    p.n = 0;
    for (uint32_t i = 0; i < MANY; i++) {                      /* distinct meta keys */
        for (int k = 0; k < 3; k++) p.p[p.n + 1 + k] = (uint8_t)('a' + (i >> (6 * k)) % 64);
        pw_buf_uv(&p, 3);
        p.n += 3;
        pw_buf_uv(&p, 0);
    }
    size_t n3, n4;
    uint8_t *b = splice_chunk(a, n2, at, PW_CHUNK_META, p.p, (uint32_t)p.n, &n3);
    /* rows claimed by the billion, and an EVENTS chunk for a new track with a bad type */
    static const uint8_t huge[] = {0, 0x80, 0x80, 0x80, 0x80, 0x10, 3, 1, 1, 1, 1, 1};
    static const uint8_t bad[] = {77, 2, 1, 1, 10, 0, 9, 1, 2, 0};
    uint8_t *c = splice_chunk(b, n3, at, PW_CHUNK_SAMPLES, huge, sizeof huge, &n4);
    uint8_t *d = splice_chunk(c, n4, at, PW_CHUNK_EVENTS, bad, sizeof bad, &n2);
    pw_trace *t = read_buf(d, n2);
    pw_trace_health h = health(t);
    CHECK_INT(h.corrupt_chunks, 2);
    CHECK_INT(h.lost_events, MANY + 4);
    CHECK_INT(t->ntracks, m->ntracks + MANY);
    CHECK_INT(t->nmeta, m->nmeta + MANY);
    CHECK_INT(t->series[0].n, m->series[0].n);
    CHECK(pw_trace_track(t, 77)->n == 0 && t->ntracks == m->ntracks + MANY + 1);
    CHECK_STR(pw_trace_meta(t, "command"), "run --fast");
    pw_trace_free(t);
    free(a);
    free(b);
    free(c);
    free(d);
    free(buf);
    pw_buf_free(&p);
    pw_trace_free(m);
}

/* Writes t to a file and reads it back: the reader applies its cap and counts. */
static pw_trace *reread(pw_trace *t)
{
    CHECK_INT(pw_trace_write(t, tf_path("reread.pwt")), PW_OK);
    pw_trace_free(t);
    pw_trace *back = NULL;
    CHECK_INT(pw_trace_open(tf_path("reread.pwt"), &back), PW_OK);
    return back;
}

static void add_ev(pw_trace *t, uint64_t at, uint32_t type, uint32_t id)
{
    pw_event ev = {.t_ns = at, .id = id, .type = type};
    CHECK_INT(pw_trace_add_event(t, 1, &ev), PW_OK);
}

TEST(trace_reader_drops_phases_past_the_depth_cap_with_the_ends_that_close_them)
{
    pw_trace *t = pw_trace_new();
    for (uint32_t i = 0; i < PW_MAX_DEPTH + 6; i++) add_ev(t, i, PW_EV_BEGIN, 1 + i % 3);
    add_ev(t, 100, PW_EV_MARK, 9);                  /* marks and counts stay */
    for (uint32_t i = 0; i < 6; i++) add_ev(t, 200 + i, PW_EV_END, 7);   /* any id: excess */
    add_ev(t, 300, PW_EV_END, 1);                   /* closes the innermost kept "1" */
    t = reread(t);
    CHECK_INT(t->health.deep_phases, 6);
    CHECK_INT(t->health.backward_events, 0);
    const pw_track *tr = &t->tracks[0];
    CHECK_INT(tr->n, PW_MAX_DEPTH + 2);             /* 64 BEGINs, the mark, the last END */
    CHECK_INT(tr->events[PW_MAX_DEPTH].type, PW_EV_MARK);
    CHECK_INT(tr->events[PW_MAX_DEPTH + 1].t_ns, 300);
    pw_trace_free(t);
}
