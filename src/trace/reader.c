/* reader.c — decodes a .pwt image into the in-memory model. Every length and count is
 * checked against the bytes present before use; unknown and corrupt chunks are skipped,
 * a damaged length is resynchronised past, and a torn tail ends the read cleanly. */
#include <stdlib.h>
#include <string.h>

#include "trace/format.h"
#include "base/name.h"
#include "trace/trace.h"

/* A resync looks this far past a damaged chunk (the longest a chunk can be) and spends at
 * most this many bytes of CRC over the whole read, so hostile input stays cheap. */
#define RESYNC_WINDOW ((size_t)PW_CHUNK_MAX_PAYLOAD + PW_CHUNK_FRAME)
#define RESYNC_BUDGET ((size_t)64 << 20)

typedef struct reader {
    pw_trace *t;
    const uint8_t *data;
    size_t len;
    size_t resync_budget;
    int end_seen;
    uint64_t last_t;        /* latest timestamp decoded: end_ns when there is no END */
    pw_buf str[2];          /* NUL-terminated copies of the strings of one record */
} reader;

/* Payload decoders return PW_OK, PW_ERR_FORMAT (the chunk is skipped as corrupt, having
 * changed nothing) or PW_ERR_NOMEM (the read fails). */
static int as_format(int rc) { return rc == PW_ERR_INVALID ? PW_ERR_FORMAT : rc; }

/* Copies a borrowed string into scratch slot k; rejects embedded NULs. */
static int cstr(reader *r, int k, const char *s, size_t n, const char **out)
{
    if (memchr(s, 0, n)) return PW_ERR_FORMAT;
    pw_buf *b = &r->str[k];
    b->n = 0;
    if (pw_buf_reserve(b, n + 1)) return PW_ERR_NOMEM;
    memcpy(b->p, s, n);
    b->p[n] = 0;
    *out = (const char *)b->p;
    return PW_OK;
}

/* ---- DOMAINS: decoded into a scratch model, adopted whole only if it all checks ----- */

static int decode_sources(reader *r, pw_cur *c, pw_trace *m)
{
    uint64_t n;
    if (pw_cur_uv(c, &n)) return PW_ERR_FORMAT;
    for (uint64_t i = 0; i < n; i++) {
        const char *s, *name;
        size_t sl;
        uint64_t period;
        uint32_t flags;
        if (pw_cur_str(c, &s, &sl) || pw_cur_uv(c, &period) || pw_cur_u32(c, &flags))
            return PW_ERR_FORMAT;
        int rc = cstr(r, 0, s, sl, &name);
        if (rc == PW_OK) rc = as_format(pw_trace_add_source(m, name, period, flags));
        if (rc) return rc;
    }
    return PW_OK;
}

static int decode_domain_list(reader *r, pw_cur *c, pw_trace *m)
{
    uint64_t n;
    if (pw_cur_uv(c, &n)) return PW_ERR_FORMAT;
    for (uint64_t i = 0; i < n; i++) {
        const char *s, *name;
        size_t sl;
        uint32_t source, kind, flags;
        int64_t parent;
        if (pw_cur_str(c, &s, &sl) || pw_cur_u32(c, &source) || pw_cur_u32(c, &kind) ||
            pw_cur_sv(c, &parent) || pw_cur_u32(c, &flags) || parent < -1 || parent > INT32_MAX)
            return PW_ERR_FORMAT;
        if (kind >= PW_KIND_COUNT) kind = PW_KIND_OTHER;   /* a kind from a newer writer */
        int rc = cstr(r, 0, s, sl, &name);
        if (rc == PW_OK)
            rc = as_format(pw_trace_add_domain(m, source, name, (pw_kind)kind, (int32_t)parent,
                                               flags));
        if (rc) return rc;
    }
    return PW_OK;
}

/* Moves m's sources, series and domains into t (which has none); m keeps t's empties. */
static void adopt_domains(pw_trace *t, pw_trace *m)
{
    pw_trace tmp = *t;
    t->sources = m->sources, t->nsources = m->nsources, t->sources_cap = m->sources_cap;
    t->series = m->series, t->series_cap = m->series_cap;
    t->domains = m->domains, t->ndomains = m->ndomains, t->domains_cap = m->domains_cap;
    m->sources = tmp.sources, m->nsources = tmp.nsources, m->sources_cap = tmp.sources_cap;
    m->series = tmp.series, m->series_cap = tmp.series_cap;
    m->domains = tmp.domains, m->ndomains = tmp.ndomains, m->domains_cap = tmp.domains_cap;
}

static int decode_domains(reader *r, pw_cur *c)
{
    if (r->t->nsources || r->t->ndomains) return PW_ERR_FORMAT;   /* described once */
    pw_trace *m = pw_trace_new();
    if (!m) return PW_ERR_NOMEM;
    int rc = decode_sources(r, c, m);
    if (rc == PW_OK) rc = decode_domain_list(r, c, m);
    if (rc == PW_OK && c->p != c->end) rc = PW_ERR_FORMAT;
    if (rc == PW_OK) adopt_domains(r->t, m);
    pw_trace_free(m);
    return rc;
}

/* ---- SAMPLES: the hot path; rows land straight in the series arrays ------------------- */

/* A row's flags, time and (where the flags say so) the time's uncertainty, given or the
 * previous row's of the chunk (first: the chunk's first row). The first stamped row gives
 * the series its t_err_ns array. */
static int decode_row_time(pw_cur *c, pw_series *s, size_t i, size_t first, uint64_t *t)
{
    uint8_t f;
    if (pw_cur_u8(c, &f) || pw_cur_uv(c, t)) return PW_ERR_FORMAT;
    s->flags[i] = f & (uint8_t)~PW_ROW_ENCODING;
    uint32_t err = PW_T_ERR_UNKNOWN;
    if ((f & PW_ROW_ENCODING) == PW_ROW_ENCODING) return PW_ERR_FORMAT;
    if (f & PW_ROW_SAME_ERR) {   /* needs a stamped row before it in this chunk */
        if (i == first || !s->t_err_ns || s->t_err_ns[i - 1] == PW_T_ERR_UNKNOWN)
            return PW_ERR_FORMAT;
        err = s->t_err_ns[i - 1];
    }
    if ((f & PW_ROW_STAMPED) && pw_cur_u32(c, &err)) return PW_ERR_FORMAT;
    if ((f & PW_ROW_STAMPED) && pw_series_stamp_errors(s, i)) return PW_ERR_NOMEM;
    if (s->t_err_ns) s->t_err_ns[i] = err;
    return PW_OK;
}

static int decode_rows(pw_cur *c, pw_series *s, size_t n0, uint64_t nrows)
{
    uint32_t nd = s->ndomains;
    uint64_t *tp = s->t_ns + n0, *ep = s->energy_uj + n0 * nd;
    uint64_t t;
    int rc = decode_row_time(c, s, n0, n0, &t);
    if (rc) return rc;
    if (n0 && t < s->t_ns[n0 - 1]) return PW_ERR_FORMAT;   /* time never runs backwards */
    tp[0] = t;
    for (uint32_t d = 0; d < nd; d++)
        if (pw_cur_uv(c, &ep[d])) return PW_ERR_FORMAT;
    for (uint64_t i = 1; i < nrows; i++) {
        uint64_t dt;
        if ((rc = decode_row_time(c, s, n0 + (size_t)i, n0, &dt))) return rc;
        if (tp[i - 1] + dt < dt) return PW_ERR_FORMAT;
        tp[i] = tp[i - 1] + dt;
        uint64_t *e = ep + i * nd;
        const uint64_t *prev = e - nd;
        for (uint32_t d = 0; d < nd; d++) {
            int64_t de;
            if (pw_cur_sv(c, &de)) return PW_ERR_FORMAT;
            e[d] = prev[d] + (uint64_t)de;   /* modulo 2^64, like the writer's delta */
        }
    }
    return c->p == c->end ? PW_OK : PW_ERR_FORMAT;
}

static int decode_samples(reader *r, pw_cur *c)
{
    uint32_t source, nd;
    uint64_t nrows;
    if (pw_cur_u32(c, &source) || pw_cur_uv(c, &nrows) || pw_cur_u32(c, &nd) ||
        source >= r->t->nsources)
        return PW_ERR_FORMAT;
    pw_series *s = &r->t->series[source];
    /* a row takes at least a flags byte, a time byte and a byte per domain */
    if (nd != s->ndomains || nrows > (uint64_t)(c->end - c->p) / (2 + (uint64_t)nd))
        return PW_ERR_FORMAT;
    if (nrows == 0) return c->p == c->end ? PW_OK : PW_ERR_FORMAT;
    if (pw_series_reserve(s, s->n + (size_t)nrows)) return PW_ERR_NOMEM;
    int rc = decode_rows(c, s, s->n, nrows);
    if (rc) return rc;   /* s->n unchanged: the rows beyond it are ignored */
    s->n += (size_t)nrows;
    if (s->t_ns[s->n - 1] > r->last_t) r->last_t = s->t_ns[s->n - 1];
    return PW_OK;
}

/* ---- EVENTS --------------------------------------------------------------------------- */

static int decode_event_rows(reader *r, pw_cur *c, pw_track *tr, uint64_t nrows)
{
    uint64_t t = 0, last = r->last_t;
    for (uint64_t i = 0; i < nrows; i++) {
        uint32_t type, id;
        uint64_t at;
        int64_t value;
        if (pw_cur_u32(c, &type) || pw_cur_u32(c, &id) || pw_cur_uv(c, &at) ||
            pw_cur_sv(c, &value) || type < PW_EV_BEGIN || type > PW_EV_COUNT)
            return PW_ERR_FORMAT;
        /* the first row is absolute; later ones are zigzag deltas, modulo 2^64 */
        t = i == 0 ? at : t + (uint64_t)pw_unzigzag(at);
        tr->events[tr->n + i] = (pw_event){.t_ns = t, .value = value, .id = id, .type = type};
        if (t > last) last = t;
    }
    if (c->p != c->end) return PW_ERR_FORMAT;
    r->last_t = last;
    return PW_OK;
}

static int decode_events(reader *r, pw_cur *c)
{
    uint32_t id;
    uint64_t nrows;
    /* a row takes at least four bytes */
    if (pw_cur_u32(c, &id) || pw_cur_uv(c, &nrows) || nrows > (uint64_t)(c->end - c->p) / 4)
        return PW_ERR_FORMAT;
    pw_trace *t = r->t;
    size_t ntracks = t->ntracks;
    pw_track *tr = pw_trace_track(t, id);
    if (!tr || pw_track_reserve(tr, tr->n + (size_t)nrows)) return PW_ERR_NOMEM;
    int rc = decode_event_rows(r, c, tr, nrows);
    if (rc == PW_OK) {
        tr->n += (size_t)nrows;
    } else if (t->ntracks > ntracks) {   /* forget a track this bad chunk created */
        pw_trace_pop_track(t);
    }
    return rc;
}

/* ---- record chunks: one or more records; all are checked before any is applied ------- */

typedef int (*record_fn)(reader *r, pw_cur *c, int apply);

static int name_record(reader *r, pw_cur *c, int apply)
{
    uint32_t id;
    const char *s, *name;
    size_t n;
    if (pw_cur_u32(c, &id) || pw_cur_str(c, &s, &n) || id == 0 || id >= PW_TRACE_MAX_NAMES)
        return PW_ERR_FORMAT;
    int rc = cstr(r, 0, s, n, &name);
    if (rc || !apply) return rc;
    /* the API's rule, for names from any writer: valid UTF-8, no '/', PW_MAX_NAME bytes */
    size_t cap = n < PW_MAX_NAME / 3 ? 3 * n + 1 : PW_MAX_NAME + 1;
    pw_buf *b = &r->str[1];
    b->n = 0;
    if (pw_buf_reserve(b, cap)) return PW_ERR_NOMEM;
    if (pw_name_repair(name, n, (char *)b->p, cap)) r->t->health.bad_names++;
    return as_format(pw_trace_set_name(r->t, id, (const char *)b->p));
}

static int track_record(reader *r, pw_cur *c, int apply)
{
    uint32_t id, pid, tid;
    const char *s, *name;
    size_t n;
    if (pw_cur_u32(c, &id) || pw_cur_u32(c, &pid) || pw_cur_u32(c, &tid) ||
        pw_cur_str(c, &s, &n))
        return PW_ERR_FORMAT;
    int rc = cstr(r, 0, s, n, &name);
    if (rc || !apply) return rc;
    char *copy = n ? strdup(name) : NULL;      /* an empty name means none */
    pw_track *tr = (!n || copy) ? pw_trace_track(r->t, id) : NULL;
    if (!tr) {
        free(copy);
        return PW_ERR_NOMEM;
    }
    tr->pid = pid;
    tr->tid = tid;
    free(tr->name);
    tr->name = copy;
    return PW_OK;
}

static int loss_record(reader *r, pw_cur *c, int apply)
{
    uint32_t id;
    uint64_t lost;
    if (pw_cur_u32(c, &id) || pw_cur_uv(c, &lost)) return PW_ERR_FORMAT;
    if (!apply) return PW_OK;
    pw_track *tr = pw_trace_track(r->t, id);
    if (!tr) return PW_ERR_NOMEM;
    if (lost > tr->lost) tr->lost = lost;   /* totals are cumulative: the largest wins */
    return PW_OK;
}

static int meta_record(reader *r, pw_cur *c, int apply)
{
    const char *k, *v, *key, *value;
    size_t kn, vn;
    if (pw_cur_str(c, &k, &kn) || pw_cur_str(c, &v, &vn)) return PW_ERR_FORMAT;
    int rc = cstr(r, 0, k, kn, &key);
    if (rc == PW_OK) rc = cstr(r, 1, v, vn, &value);
    return rc || !apply ? rc : as_format(pw_trace_set_meta(r->t, key, value));
}

static int truth_record(reader *r, pw_cur *c, int apply)
{
    const char *s, *path;
    size_t n;
    double e, d;
    if (pw_cur_str(c, &s, &n) || pw_cur_f64(c, &e) || pw_cur_f64(c, &d)) return PW_ERR_FORMAT;
    int rc = cstr(r, 0, s, n, &path);
    return rc || !apply ? rc : as_format(pw_trace_add_truth(r->t, path, e, d));
}

static int end_record(reader *r, pw_cur *c, int apply)
{
    uint64_t end_ns, missed;
    if (pw_cur_uv(c, &end_ns) || pw_cur_uv(c, &missed)) return PW_ERR_FORMAT;
    if (apply) {
        r->t->end_ns = end_ns;
        r->t->missed_deadlines = missed;
        r->end_seen = 1;
    }
    return PW_OK;
}

static int decode_records(reader *r, const pw_cur *payload, record_fn fn)
{
    for (int apply = 0; apply < 2; apply++) {
        pw_cur c = *payload;
        while (c.p < c.end) {
            int rc = fn(r, &c, apply);
            if (rc) return rc;
        }
    }
    return PW_OK;
}

/* ---- chunks ------------------------------------------------------------------------------ */

static int decode_chunk(reader *r, uint32_t type, const uint8_t *payload, uint32_t len)
{
    pw_cur c = {payload, payload + len};
    switch (type) {
    case PW_CHUNK_DOMAINS: return decode_domains(r, &c);
    case PW_CHUNK_SAMPLES: return decode_samples(r, &c);
    case PW_CHUNK_EVENTS: return decode_events(r, &c);
    case PW_CHUNK_NAMES: return decode_records(r, &c, name_record);
    case PW_CHUNK_TRACK: return decode_records(r, &c, track_record);
    case PW_CHUNK_LOSS: return decode_records(r, &c, loss_record);
    case PW_CHUNK_META: return decode_records(r, &c, meta_record);
    case PW_CHUNK_TRUTH: return decode_records(r, &c, truth_record);
    case PW_CHUNK_END: return decode_records(r, &c, end_record);
    default:
        r->t->health.unknown_chunks++;
        return PW_OK;
    }
}

enum frame { FRAME_OK, FRAME_SHORT, FRAME_BADLEN, FRAME_BADCRC };

/* Classifies the chunk at off (<= len): whole and CRC-valid, cut off by the end of the
 * data, carrying an impossible length, or failing its CRC. */
static enum frame frame_at(const reader *r, size_t off, uint32_t *type, uint32_t *plen)
{
    if (r->len - off < PW_CHUNK_FRAME) return FRAME_SHORT;
    const uint8_t *p = r->data + off;
    *type = pw_get_u32le(p);
    *plen = pw_get_u32le(p + 4);
    if (*plen > PW_CHUNK_MAX_PAYLOAD) return FRAME_BADLEN;
    if (*plen > r->len - off - PW_CHUNK_FRAME) return FRAME_SHORT;
    uint32_t crc = pw_get_u32le(p + 8 + *plen);
    return pw_crc32c(0, p, 8 + (size_t)*plen) == crc ? FRAME_OK : FRAME_BADCRC;
}

/* Finds the next whole CRC-valid chunk after a damaged one; 0 when none within bounds. */
static size_t resync(reader *r, size_t from)
{
    size_t stop = r->len - from > RESYNC_WINDOW ? from + RESYNC_WINDOW : r->len;
    for (size_t q = from; q < stop && r->len - q >= PW_CHUNK_FRAME; q++) {
        const uint8_t *p = r->data + q;
        uint32_t type = pw_get_u32le(p), plen = pw_get_u32le(p + 4);
        /* cheap filters first: a plausible kind and a length that fits */
        if (type == 0 || type > PW_CHUNK_KIND_MAX || plen > PW_CHUNK_MAX_PAYLOAD ||
            plen > r->len - q - PW_CHUNK_FRAME)
            continue;
        if ((size_t)plen + 8 > r->resync_budget) return 0;
        r->resync_budget -= (size_t)plen + 8;
        if (pw_crc32c(0, p, 8 + (size_t)plen) == pw_get_u32le(p + 8 + plen)) return q;
    }
    return 0;
}

/* Handles a damaged chunk at *off: moves *off past it and returns 1 to go on, or returns 0
 * when nothing after it can be recovered (noting whether the data simply ended). */
static int recover(reader *r, size_t *off, enum frame st, uint32_t plen)
{
    pw_trace_health *h = &r->t->health;
    enum frame next_st = FRAME_SHORT;
    if (st == FRAME_BADCRC) {
        /* trust the length when it leads exactly to the end or to a valid chunk */
        size_t next = *off + PW_CHUNK_FRAME + plen;
        uint32_t nt, nl;
        next_st = next == r->len ? FRAME_OK : frame_at(r, next, &nt, &nl);
        if (next_st == FRAME_OK) {
            h->corrupt_chunks++;
            *off = next;
            return 1;
        }
    }
    size_t found = resync(r, *off + 1);
    if (found) {
        h->corrupt_chunks++;
        *off = found;
        return 1;
    }
    if (st != FRAME_SHORT) h->corrupt_chunks++;
    if (st == FRAME_SHORT || (st == FRAME_BADCRC && next_st == FRAME_SHORT)) h->torn = 1;
    return 0;
}

static int read_chunks(reader *r, size_t off)
{
    while (off < r->len) {
        uint32_t type = 0, plen = 0;
        enum frame st = frame_at(r, off, &type, &plen);
        if (st != FRAME_OK) {
            if (!recover(r, &off, st, plen)) break;
            continue;
        }
        int rc = decode_chunk(r, type, r->data + off + 8, plen);
        if (rc == PW_ERR_NOMEM) return rc;
        if (rc != PW_OK) r->t->health.corrupt_chunks++;
        off += PW_CHUNK_FRAME + plen;
    }
    return PW_OK;
}

/* Checks the header and returns where the chunks start, or 0 when this is no trace. */
static size_t read_header(reader *r)
{
    const uint8_t *p = r->data;
    if (r->len < PW_TRACE_HEADER_SIZE || memcmp(p, PW_TRACE_MAGIC, PW_TRACE_MAGIC_LEN) != 0 ||
        pw_get_u32le(p + 8) != PW_TRACE_FORMAT_VERSION)
        return 0;
    uint32_t size = pw_get_u32le(p + 12);
    if (size < PW_TRACE_HEADER_SIZE || size > PW_TRACE_HEADER_MAX || size > r->len ||
        pw_crc32c(0, p, size - 4) != pw_get_u32le(p + size - 4))
        return 0;
    r->t->version = PW_TRACE_FORMAT_VERSION;
    r->t->start_ns = pw_get_u64le(p + 16);
    r->t->realtime_offset_ns = (int64_t)pw_get_u64le(p + 24);
    return size;
}

/* Drops the phases nested deeper than PW_MAX_DEPTH (and the ENDs that close them: while one
 * is open, an END closes the innermost of those) and counts events that step back in time,
 * in place and in one pass, so nothing downstream works deeper than the cap. The kept stack
 * is matched as the phase tree matches it: an END closes its innermost open namesake. */
static void cap_depth(pw_track *tr, pw_trace_health *h)
{
    uint32_t ids[PW_MAX_DEPTH];
    size_t depth = 0, kept = 0;
    uint64_t excess = 0, prev = 0;
    for (size_t i = 0; i < tr->n; i++) {
        pw_event ev = tr->events[i];
        if (ev.t_ns < prev) h->backward_events++;
        prev = ev.t_ns;
        if (ev.type == PW_EV_BEGIN && depth == PW_MAX_DEPTH) {
            excess++;
            h->deep_phases++;
            continue;
        }
        if (ev.type == PW_EV_END && excess > 0) {
            excess--;
            continue;
        }
        if (ev.type == PW_EV_BEGIN) ids[depth++] = ev.id;
        if (ev.type == PW_EV_END) {
            size_t k = depth;
            while (k > 0 && ids[k - 1] != ev.id) k--;
            if (k > 0) depth = k - 1;   /* one with no BEGIN stays: the tree counts it */
        }
        tr->events[kept++] = ev;
    }
    tr->n = kept;
}

static void finish(reader *r)
{
    pw_trace *t = r->t;
    for (size_t i = 0; i < t->ntracks; i++) cap_depth(&t->tracks[i], &t->health);
    t->health.complete = r->end_seen;
    if (!r->end_seen) t->end_ns = r->last_t;
    t->health.lost_events = 0;
    for (size_t i = 0; i < t->ntracks; i++) t->health.lost_events += t->tracks[i].lost;
}

int pw_trace_read_buffer(const uint8_t *data, size_t len, pw_trace **out)
{
    if (!out || (!data && len)) return PW_ERR_INVALID;
    *out = NULL;
    reader r = {.data = data, .len = len, .resync_budget = RESYNC_BUDGET};
    if (!(r.t = pw_trace_new())) return PW_ERR_NOMEM;
    size_t off = read_header(&r);
    int rc = off ? read_chunks(&r, off) : PW_ERR_FORMAT;
    pw_buf_free(&r.str[0]);
    pw_buf_free(&r.str[1]);
    if (rc != PW_OK) {
        pw_trace_free(r.t);
        return rc;
    }
    finish(&r);
    *out = r.t;
    return PW_OK;
}
