/* writer.c — the streaming .pwt writer: it buffers sample rows per source and event rows
 * per track, frames them into CRC-checked chunks and writes them with write(2), so memory
 * stays bounded however long the run; pw_trace_write streams a whole model through it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/format.h"
#include "base/safefile.h"
#include "trace/trace.h"

/* Pending SAMPLES rows of one source; a chunk's first row is absolute, later ones deltas. */
typedef struct src_buf {
    pw_buf rows;
    size_t nrows;
    uint32_t ndomains;
    int any;                /* a row was ever written: last_t orders the next one */
    uint64_t last_t;
    uint64_t *last_e;       /* [ndomains], the previous row's energies */
    uint32_t last_err;      /* the previous row's t_err_ns in this chunk (UNKNOWN: none) */
} src_buf;

/* Pending EVENTS rows of one track. */
typedef struct track_buf {
    uint32_t id;
    pw_buf rows;
    size_t nrows;
    uint64_t last_t;
} track_buf;

struct pw_writer {
    int fd;
    int err_no;             /* nonzero after a failed write: every later call fails alike */
    uint64_t written;       /* bytes on disk */
    pw_buf out;             /* framed chunks not yet written */
    pw_buf names;           /* pending NAMES entries */
    pw_buf rec;             /* the payload of a one-record chunk being built */
    int have_domains;
    src_buf *src; size_t nsrc;
    track_buf *tracks; size_t ntracks, tracks_cap, hint;
};

/* Width bound so one row always fits a chunk: 1 + 10 + 10 * n bytes. */
#define MAX_ROW_DOMAINS 65536u
#define SAMPLE_ROW_MAX(nd) (1u + PW_VARINT_MAX * (2u + (size_t)(nd)))
#define EVENT_ROW_MAX (4u * PW_VARINT_MAX)

/* ---- the file --------------------------------------------------------------------------- */

static int failed(const pw_writer *w)
{
    if (!w->err_no) return 0;
    errno = w->err_no;
    return 1;
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t *written)
{
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r > 0) *written += (uint64_t)r;
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO;   /* no progress and no reason: do not spin */
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int pw_writer_errno(const pw_writer *w) { return w ? w->err_no : 0; }
uint64_t pw_writer_written(const pw_writer *w) { return w ? w->written : 0; }

/* Writes the staged chunks. A failure sticks: later chunks would follow a torn one. */
static int drain(pw_writer *w)
{
    if (failed(w)) return PW_ERR_IO;
    int r = write_all(w->fd, w->out.p, w->out.n, &w->written);
    w->out.n = 0;
    if (r == 0) return PW_OK;
    w->err_no = errno ? errno : EIO;
    return PW_ERR_IO;
}

/* Stages one chunk: type, length, head + body (the payload), CRC over all of it. */
static int emit(pw_writer *w, uint32_t type, const pw_buf *head, const pw_buf *body)
{
    size_t hn = head ? head->n : 0, bn = body ? body->n : 0;
    if (hn + bn > PW_CHUNK_MAX_PAYLOAD) return PW_ERR_INVALID;
    if (pw_buf_reserve(&w->out, PW_CHUNK_FRAME + hn + bn)) return PW_ERR_NOMEM;
    uint8_t *start = w->out.p + w->out.n;
    pw_put_u32le(start, type);
    pw_put_u32le(start + 4, (uint32_t)(hn + bn));
    w->out.n += 8;
    if (hn) pw_buf_bytes(&w->out, head->p, hn);
    if (bn) pw_buf_bytes(&w->out, body->p, bn);
    pw_put_u32le(w->out.p + w->out.n, pw_crc32c(0, start, 8 + hn + bn));
    w->out.n += 4;
    return w->out.n >= PW_CHUNK_TARGET ? drain(w) : PW_OK;
}

static int emit_rec(pw_writer *w, uint32_t type)
{
    int rc = emit(w, type, NULL, &w->rec);
    w->rec.n = 0;
    return rc;
}

static void write_header(pw_buf *b, const pw_writer_header *h)
{
    uint8_t *p = b->p;
    memcpy(p, PW_TRACE_MAGIC, PW_TRACE_MAGIC_LEN);
    pw_put_u32le(p + 8, PW_TRACE_FORMAT_VERSION);
    pw_put_u32le(p + 12, PW_TRACE_HEADER_SIZE);
    pw_put_u64le(p + 16, h->start_ns);
    pw_put_u64le(p + 24, (uint64_t)h->realtime_offset_ns);
    pw_put_u32le(p + 32, pw_crc32c(0, p, 32));
    b->n = PW_TRACE_HEADER_SIZE;
}

static void writer_free(pw_writer *w)
{
    for (size_t i = 0; i < w->nsrc; i++) {
        pw_buf_free(&w->src[i].rows);
        free(w->src[i].last_e);
    }
    free(w->src);
    for (size_t i = 0; i < w->ntracks; i++) pw_buf_free(&w->tracks[i].rows);
    free(w->tracks);
    pw_buf_free(&w->out);
    pw_buf_free(&w->names);
    pw_buf_free(&w->rec);
    free(w);
}

/* A writer on fd (which it then owns), its header already written. */
static int writer_start(int fd, const pw_writer_header *h, pw_writer **out)
{
    pw_writer *w = calloc(1, sizeof *w);
    if (!w || pw_buf_reserve(&w->out, PW_CHUNK_TARGET + PW_CHUNK_FRAME)) {
        free(w);
        close(fd);
        return PW_ERR_NOMEM;
    }
    w->fd = fd;
    write_header(&w->out, h);   /* at once: even a run that dies now leaves a valid trace */
    if (drain(w) != PW_OK) {
        int e = w->err_no;
        close(w->fd);
        writer_free(w);
        errno = e;
        return PW_ERR_IO;
    }
    *out = w;
    return PW_OK;
}

/* A fresh file on a private name, its header written, then renamed onto path at once: a
 * link planted at path is replaced, never followed, and a run that dies leaves a trace. */
int pw_writer_open(const char *path, const pw_writer_header *h, pw_writer **out)
{
    if (!path || !h || !out) return PW_ERR_INVALID;
    *out = NULL;
    pw_safefile f;
    int rc = pw_safefile_open(&f, path);
    if (rc == PW_OK) {
        rc = writer_start(f.fd, h, out);
        f.fd = -1;   /* the writer owns it now, or closed it */
    }
    if (rc == PW_OK) rc = pw_safefile_commit(&f);
    if (rc != PW_OK && *out) {
        int e = errno;
        close((*out)->fd);
        writer_free(*out);
        *out = NULL;
        errno = e;
    }
    pw_safefile_done(&f);
    return rc;
}

/* ---- domains ---------------------------------------------------------------------------- */

static int encode_domains(pw_buf *b, const pw_source_desc *sources, size_t nsources,
                          const pw_domain_desc *domains, size_t ndomains)
{
    if (pw_buf_reserve(b, PW_VARINT_MAX)) return PW_ERR_NOMEM;
    pw_buf_uv(b, nsources);
    for (size_t i = 0; i < nsources; i++) {
        if (pw_buf_str(b, sources[i].name) || pw_buf_reserve(b, 2 * PW_VARINT_MAX))
            return PW_ERR_NOMEM;
        pw_buf_uv(b, sources[i].period_ns);
        pw_buf_uv(b, sources[i].flags);
    }
    if (pw_buf_reserve(b, PW_VARINT_MAX)) return PW_ERR_NOMEM;
    pw_buf_uv(b, ndomains);
    for (size_t i = 0; i < ndomains; i++) {
        const pw_domain_desc *d = &domains[i];
        if (pw_buf_str(b, d->name) || pw_buf_reserve(b, 4 * PW_VARINT_MAX)) return PW_ERR_NOMEM;
        pw_buf_uv(b, d->source);
        pw_buf_uv(b, (uint64_t)d->kind);
        pw_buf_sv(b, d->parent);
        pw_buf_uv(b, d->flags);
    }
    return PW_OK;
}

/* Checks the description with the model's own builders, and sizes one buffer per source. */
static int plan_sources(pw_writer *w, const pw_source_desc *sources, size_t nsources,
                        const pw_domain_desc *domains, size_t ndomains)
{
    pw_trace *plan = pw_trace_new();
    if (!plan) return PW_ERR_NOMEM;
    int rc = PW_OK;
    for (size_t i = 0; i < nsources && rc == PW_OK; i++)
        rc = pw_trace_add_source(plan, sources[i].name, sources[i].period_ns, sources[i].flags);
    for (size_t i = 0; i < ndomains && rc == PW_OK; i++) {
        const pw_domain_desc *d = &domains[i];
        rc = pw_trace_add_domain(plan, d->source, d->name, d->kind, d->parent, d->flags);
    }
    for (size_t i = 0; i < nsources && rc == PW_OK; i++)
        if (plan->series[i].ndomains > MAX_ROW_DOMAINS) rc = PW_ERR_INVALID;
    if (rc == PW_OK && nsources && !(w->src = calloc(nsources, sizeof *w->src))) rc = PW_ERR_NOMEM;
    for (size_t i = 0; i < nsources && rc == PW_OK; i++) {
        src_buf *s = &w->src[i];
        w->nsrc = i + 1;
        s->ndomains = plan->series[i].ndomains;
        if (s->ndomains && !(s->last_e = calloc(s->ndomains, sizeof *s->last_e))) rc = PW_ERR_NOMEM;
    }
    pw_trace_free(plan);
    return rc;
}

int pw_writer_domains(pw_writer *w, const pw_source_desc *sources, size_t nsources,
                      const pw_domain_desc *domains, size_t ndomains)
{
    if (!w || w->have_domains || (nsources && !sources) || (ndomains && !domains))
        return PW_ERR_INVALID;
    if (failed(w)) return PW_ERR_IO;
    int rc = plan_sources(w, sources, nsources, domains, ndomains);
    if (rc == PW_OK) rc = encode_domains(&w->rec, sources, nsources, domains, ndomains);
    if (rc == PW_OK) rc = emit_rec(w, PW_CHUNK_DOMAINS);
    if (rc == PW_OK || rc == PW_ERR_IO) {
        w->have_domains = 1;   /* an I/O error is sticky anyway; keep the plan */
        return rc;
    }
    for (size_t i = 0; i < w->nsrc; i++) free(w->src[i].last_e);
    free(w->src);
    w->src = NULL;
    w->nsrc = 0;
    w->rec.n = 0;
    return rc;
}

/* ---- samples ---------------------------------------------------------------------------- */

static int flush_samples(pw_writer *w, uint32_t source)
{
    src_buf *s = &w->src[source];
    if (!s->nrows) return PW_OK;
    uint8_t hb[3 * PW_VARINT_MAX];
    pw_buf head = {hb, 0, sizeof hb};
    pw_buf_uv(&head, source);
    pw_buf_uv(&head, s->nrows);
    pw_buf_uv(&head, s->ndomains);
    int rc = emit(w, PW_CHUNK_SAMPLES, &head, &s->rows);
    s->rows.n = 0;       /* rows are dropped even on error: memory stays bounded */
    s->nrows = 0;
    return rc;
}

int pw_writer_sample(pw_writer *w, uint32_t source, uint64_t t_ns, const uint64_t *energy_uj,
                     uint8_t flags)
{
    return pw_writer_sample_stamped(w, source, t_ns, PW_T_ERR_UNKNOWN, energy_uj, flags);
}

int pw_writer_sample_stamped(pw_writer *w, uint32_t source, uint64_t t_ns, uint32_t t_err_ns,
                             const uint64_t *energy_uj, uint8_t flags)
{
    if (!w || source >= w->nsrc) return PW_ERR_INVALID;
    src_buf *s = &w->src[source];
    if ((s->ndomains && !energy_uj) || (s->any && t_ns < s->last_t)) return PW_ERR_INVALID;
    if (failed(w)) return PW_ERR_IO;
    if (pw_buf_reserve(&s->rows, SAMPLE_ROW_MAX(s->ndomains))) return PW_ERR_NOMEM;
    if (s->nrows == 0) s->last_err = PW_T_ERR_UNKNOWN;   /* a chunk decodes on its own */
    int stamped = t_err_ns != PW_T_ERR_UNKNOWN, same = stamped && t_err_ns == s->last_err;
    uint8_t enc = same ? PW_ROW_SAME_ERR : stamped ? PW_ROW_STAMPED : 0;
    pw_buf_u8(&s->rows, (uint8_t)((flags & ~PW_ROW_ENCODING) | enc));
    pw_buf_uv(&s->rows, s->nrows == 0 ? t_ns : t_ns - s->last_t);
    if (stamped && !same) pw_buf_uv(&s->rows, t_err_ns);
    s->last_err = t_err_ns;
    if (s->nrows == 0) {
        for (uint32_t d = 0; d < s->ndomains; d++) pw_buf_uv(&s->rows, energy_uj[d]);
    } else {
        for (uint32_t d = 0; d < s->ndomains; d++)
            pw_buf_sv(&s->rows, (int64_t)(energy_uj[d] - s->last_e[d]));
    }
    if (s->ndomains) memcpy(s->last_e, energy_uj, s->ndomains * sizeof *energy_uj);
    s->last_t = t_ns;
    s->any = 1;
    s->nrows++;
    return s->rows.n >= PW_CHUNK_TARGET ? flush_samples(w, source) : PW_OK;
}

/* ---- events ----------------------------------------------------------------------------- */

static track_buf *find_track(pw_writer *w, uint32_t id)
{
    if (w->hint < w->ntracks && w->tracks[w->hint].id == id) return &w->tracks[w->hint];
    for (size_t i = 0; i < w->ntracks; i++)
        if (w->tracks[i].id == id) return &w->tracks[w->hint = i];
    track_buf *t = pw_grow(w->tracks, &w->tracks_cap, w->ntracks + 1, sizeof *t);
    if (!t) return NULL;
    w->tracks = t;
    w->hint = w->ntracks++;
    t[w->hint] = (track_buf){.id = id};
    return &t[w->hint];
}

static int flush_events(pw_writer *w, track_buf *t)
{
    if (!t->nrows) return PW_OK;
    uint8_t hb[2 * PW_VARINT_MAX];
    pw_buf head = {hb, 0, sizeof hb};
    pw_buf_uv(&head, t->id);
    pw_buf_uv(&head, t->nrows);
    int rc = emit(w, PW_CHUNK_EVENTS, &head, &t->rows);
    t->rows.n = 0;
    t->nrows = 0;
    return rc;
}

int pw_writer_event(pw_writer *w, uint32_t track, const pw_event *ev)
{
    if (!w || !ev || ev->type < PW_EV_BEGIN || ev->type > PW_EV_COUNT) return PW_ERR_INVALID;
    if (failed(w)) return PW_ERR_IO;
    track_buf *t = find_track(w, track);
    if (!t || pw_buf_reserve(&t->rows, EVENT_ROW_MAX)) return PW_ERR_NOMEM;
    pw_buf_uv(&t->rows, ev->type);
    pw_buf_uv(&t->rows, ev->id);
    if (t->nrows == 0) pw_buf_uv(&t->rows, ev->t_ns);
    else pw_buf_sv(&t->rows, (int64_t)(ev->t_ns - t->last_t));
    pw_buf_sv(&t->rows, ev->value);
    t->last_t = ev->t_ns;
    t->nrows++;
    return t->rows.n >= PW_CHUNK_TARGET ? flush_events(w, t) : PW_OK;
}

/* ---- names (batched) and one-record chunks ------------------------------------------- */

static int flush_names(pw_writer *w)
{
    if (!w->names.n) return PW_OK;
    int rc = emit(w, PW_CHUNK_NAMES, NULL, &w->names);
    w->names.n = 0;
    return rc;
}

int pw_writer_name(pw_writer *w, uint32_t id, const char *name)
{
    if (!w || !name || id == 0 || id >= PW_TRACE_MAX_NAMES) return PW_ERR_INVALID;
    if (strlen(name) > PW_CHUNK_MAX_PAYLOAD / 2) return PW_ERR_INVALID;
    if (failed(w)) return PW_ERR_IO;
    size_t mark = w->names.n;
    if (pw_buf_reserve(&w->names, PW_VARINT_MAX)) return PW_ERR_NOMEM;
    pw_buf_uv(&w->names, id);
    if (pw_buf_str(&w->names, name)) {
        w->names.n = mark;
        return PW_ERR_NOMEM;
    }
    return w->names.n >= PW_CHUNK_TARGET ? flush_names(w) : PW_OK;
}

/* Builds w->rec from varints and strings, then emits it; NULL strings encode as "". */
static int record(pw_writer *w, uint32_t type, const uint64_t *nums, size_t nnums,
                  const char *const *strs, size_t nstrs)
{
    if (failed(w)) return PW_ERR_IO;
    w->rec.n = 0;
    if (pw_buf_reserve(&w->rec, nnums * PW_VARINT_MAX)) return PW_ERR_NOMEM;
    for (size_t i = 0; i < nnums; i++) pw_buf_uv(&w->rec, nums[i]);
    for (size_t i = 0; i < nstrs; i++)
        if (pw_buf_str(&w->rec, strs[i])) return PW_ERR_NOMEM;
    return emit_rec(w, type);
}

int pw_writer_track(pw_writer *w, uint32_t track, uint32_t pid, uint32_t tid, const char *name)
{
    if (!w) return PW_ERR_INVALID;
    const uint64_t nums[] = {track, pid, tid};
    return record(w, PW_CHUNK_TRACK, nums, 3, &name, 1);
}

int pw_writer_loss(pw_writer *w, uint32_t track, uint64_t lost_total)
{
    if (!w) return PW_ERR_INVALID;
    const uint64_t nums[] = {track, lost_total};
    return record(w, PW_CHUNK_LOSS, nums, 2, NULL, 0);
}

int pw_writer_meta(pw_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value) return PW_ERR_INVALID;
    const char *strs[] = {key, value};
    return record(w, PW_CHUNK_META, NULL, 0, strs, 2);
}

int pw_writer_truth(pw_writer *w, const char *path, double energy_j, double duration_s)
{
    if (!w || !path) return PW_ERR_INVALID;
    if (failed(w)) return PW_ERR_IO;
    w->rec.n = 0;
    if (pw_buf_str(&w->rec, path) || pw_buf_reserve(&w->rec, 16)) return PW_ERR_NOMEM;
    pw_buf_f64(&w->rec, energy_j);
    pw_buf_f64(&w->rec, duration_s);
    return emit_rec(w, PW_CHUNK_TRUTH);
}

/* ---- flush and close -------------------------------------------------------------------- */

int pw_writer_flush(pw_writer *w)
{
    if (!w) return PW_ERR_INVALID;
    int rc = flush_names(w);
    for (uint32_t i = 0; i < w->nsrc && rc == PW_OK; i++) rc = flush_samples(w, i);
    for (size_t i = 0; i < w->ntracks && rc == PW_OK; i++) rc = flush_events(w, &w->tracks[i]);
    /* every chunk stands alone, so a track's buffer is made again at its next event: the
     * writer holds only the tracks active since the last flush, however many came and went */
    for (size_t i = 0; i < w->ntracks && rc == PW_OK; i++) pw_buf_free(&w->tracks[i].rows);
    if (rc == PW_OK) w->ntracks = w->hint = 0;
    return rc == PW_OK ? drain(w) : rc;
}

int pw_writer_close(pw_writer *w, uint64_t end_ns, uint64_t missed_deadlines)
{
    if (!w) return PW_ERR_INVALID;
    int rc = pw_writer_flush(w);
    if (rc == PW_OK) {
        const uint64_t nums[] = {end_ns, missed_deadlines};
        rc = record(w, PW_CHUNK_END, nums, 2, NULL, 0);
    }
    if (rc == PW_OK) rc = drain(w);
    int e = errno;
    if (close(w->fd) != 0 && rc == PW_OK) {
        rc = PW_ERR_IO;
        e = errno;
    }
    writer_free(w);
    errno = e;
    return rc;
}

/* ---- a whole model ---------------------------------------------------------------------- */

static int write_tracks(pw_writer *w, const pw_trace *t)
{
    int rc = PW_OK;
    for (size_t k = 0; k < t->ntracks && rc == PW_OK; k++) {
        const pw_track *tr = &t->tracks[k];
        rc = pw_writer_track(w, tr->id, tr->pid, tr->tid, tr->name);
        for (size_t i = 0; i < tr->n && rc == PW_OK; i++)
            rc = pw_writer_event(w, tr->id, &tr->events[i]);
        if (rc == PW_OK && tr->lost) rc = pw_writer_loss(w, tr->id, tr->lost);
        /* a track at a time: the writer then holds one, so 100 000 tracks cost no search */
        if (rc == PW_OK) rc = pw_writer_flush(w);
    }
    return rc;
}

static int write_samples(pw_writer *w, const pw_trace *t)
{
    int rc = PW_OK;
    for (uint32_t k = 0; k < t->nsources && rc == PW_OK; k++) {
        const pw_series *s = &t->series[k];
        for (size_t i = 0; i < s->n && rc == PW_OK; i++)
            rc = pw_writer_sample_stamped(w, k, s->t_ns[i],
                                          s->t_err_ns ? s->t_err_ns[i] : PW_T_ERR_UNKNOWN,
                                          s->energy_uj + i * s->ndomains, s->flags[i]);
    }
    return rc;
}

static int write_model(pw_writer *w, const pw_trace *t)
{
    int rc = pw_writer_domains(w, t->sources, t->nsources, t->domains, t->ndomains);
    for (uint32_t id = 1; id < t->nnames && rc == PW_OK; id++)
        if (t->names[id]) rc = pw_writer_name(w, id, t->names[id]);
    if (rc == PW_OK) rc = write_tracks(w, t);
    if (rc == PW_OK) rc = write_samples(w, t);
    for (size_t i = 0; i < t->nmeta && rc == PW_OK; i++)
        rc = pw_writer_meta(w, t->meta[i].key, t->meta[i].value);
    for (size_t i = 0; i < t->ntruth && rc == PW_OK; i++)
        rc = pw_writer_truth(w, t->truth[i].path, t->truth[i].energy_j, t->truth[i].duration_s);
    return rc;
}

/* Written whole under a private name and renamed onto path only once complete: a failed
 * write leaves whatever was at path untouched. */
int pw_trace_write(const pw_trace *t, const char *path)
{
    if (!t || !path) return PW_ERR_INVALID;
    pw_safefile f;
    pw_writer *w = NULL;
    int rc = pw_safefile_open(&f, path);
    if (rc != PW_OK) return rc;
    rc = writer_start(f.fd, &(pw_writer_header){t->start_ns, t->realtime_offset_ns}, &w);
    f.fd = -1;   /* the writer owns it now, or closed it */
    if (rc == PW_OK) {
        rc = write_model(w, t);
        int e = errno;
        int rc_close = pw_writer_close(w, t->end_ns, t->missed_deadlines);
        if (rc != PW_OK) errno = e;
        if (rc == PW_OK) rc = rc_close;
    }
    if (rc == PW_OK) rc = pw_safefile_commit(&f);
    pw_safefile_done(&f);
    return rc;
}
