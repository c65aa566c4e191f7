/* trace.c — the in-memory model of a recorded run: its builders, and the public reader API
 * (pw_trace_open and the accessors of phasewatt.h) over it. */
#include "trace/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/grow.h"
#include "trace/format.h"
#include "base/hash.h"
#include "base/sized.h"

static const char *const kind_names[PW_KIND_COUNT] = {
    [PW_KIND_OTHER] = "other", [PW_KIND_CPU] = "cpu", [PW_KIND_GPU] = "gpu",
    [PW_KIND_ANE] = "ane",     [PW_KIND_DRAM] = "dram", [PW_KIND_SOC] = "soc",
    [PW_KIND_SYSTEM] = "system",
};

const char *pw_kind_name(pw_kind kind)
{
    return (unsigned)kind < PW_KIND_COUNT ? kind_names[kind] : kind_names[PW_KIND_OTHER];
}

pw_kind pw_kind_parse(const char *name)
{
    for (int k = 0; name && k < PW_KIND_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0) return (pw_kind)k;
    return PW_KIND_OTHER;
}

/* ---- memory ----------------------------------------------------------------------------- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Replaces *slot with a copy of s; on failure *slot is unchanged. */
static int replace_str(char **slot, const char *s)
{
    char *d = dup_str(s);
    if (!d) return PW_ERR_NOMEM;
    free(*slot);
    *slot = d;
    return PW_OK;
}

pw_trace *pw_trace_new(void)
{
    pw_trace *t = calloc(1, sizeof *t);
    if (t) t->version = PW_TRACE_FORMAT_VERSION;
    return t;
}

static void drop_rows(pw_series *s)
{
    free(s->t_ns);
    free(s->energy_uj);
    free(s->flags);
    free(s->t_err_ns);
    s->t_ns = s->energy_uj = NULL;
    s->flags = NULL;
    s->t_err_ns = NULL;
    s->n = s->cap = 0;
}

static void free_tracks(pw_trace *t)
{
    for (size_t i = 0; i < t->ntracks; i++) {
        free(t->tracks[i].name);
        free(t->tracks[i].events);
    }
    free(t->tracks);
}

void pw_trace_free(pw_trace *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nsources; i++) {
        free(t->sources[i].name);
        drop_rows(&t->series[i]);
    }
    free(t->sources);
    free(t->series);
    for (size_t i = 0; i < t->ndomains; i++) {
        free(t->domains[i].name);
        if (t->domain_kind_names) free(t->domain_kind_names[i]);
    }
    free(t->domains);
    free(t->domain_kind_names);
    for (size_t i = 0; i < t->nnames; i++) free(t->names[i]);
    free(t->names);
    free_tracks(t);
    for (size_t i = 0; i < t->ntruth; i++) free(t->truth[i].path);
    free(t->truth);
    for (size_t i = 0; i < t->nmeta; i++) {
        free(t->meta[i].key);
        free(t->meta[i].value);
    }
    free(t->meta);
    free(t->track_index.slots);
    free(t->meta_index.slots);
    free(t->truth_index.slots);
    free(t);
}

/* ---- sources and domains ------------------------------------------------------------- */

int pw_trace_add_source(pw_trace *t, const char *name, uint64_t period_ns, uint32_t flags)
{
    if (!t || !name || t->nsources >= UINT32_MAX) return PW_ERR_INVALID;
    size_t n = t->nsources;
    pw_source_desc *src = pw_grow(t->sources, &t->sources_cap, n + 1, sizeof *src);
    if (!src) return PW_ERR_NOMEM;
    t->sources = src;
    pw_series *ser = pw_grow(t->series, &t->series_cap, n + 1, sizeof *ser);
    if (!ser) return PW_ERR_NOMEM;
    t->series = ser;
    char *copy = dup_str(name);
    if (!copy) return PW_ERR_NOMEM;
    src[n] = (pw_source_desc){copy, period_ns, flags};
    ser[n] = (pw_series){.source = (uint32_t)n, .first_domain = (uint32_t)t->ndomains};
    t->nsources = n + 1;
    return PW_OK;
}

int pw_trace_add_domain(pw_trace *t, uint32_t source, const char *name, pw_kind kind,
                        int32_t parent, uint32_t flags)
{
    if (!t || !name || source >= t->nsources || (unsigned)kind >= PW_KIND_COUNT)
        return PW_ERR_INVALID;
    size_t n = t->ndomains;
    if (parent < -1 || (parent >= 0 && (size_t)parent >= n) || n >= INT32_MAX)
        return PW_ERR_INVALID;
    pw_series *s = &t->series[source];
    if (s->n > 0) return PW_ERR_INVALID;                      /* rows have a fixed width */
    if (s->ndomains > 0 && s->first_domain + s->ndomains != n) return PW_ERR_INVALID;
    pw_domain_desc *d = pw_grow(t->domains, &t->domains_cap, n + 1, sizeof *d);
    if (!d) return PW_ERR_NOMEM;
    t->domains = d;
    char *copy = dup_str(name);
    if (!copy) return PW_ERR_NOMEM;
    d[n] = (pw_domain_desc){copy, source, kind, parent, flags};
    if (s->ndomains == 0) s->first_domain = (uint32_t)n;
    s->ndomains++;
    drop_rows(s);   /* capacity reserved for the old row width no longer fits */
    t->ndomains = n + 1;
    return PW_OK;
}

/* ---- samples --------------------------------------------------------------------------- */

int pw_series_reserve(pw_series *s, size_t rows)
{
    if (rows <= s->cap) return PW_OK;
    size_t cap = s->cap, width = s->ndomains ? s->ndomains : 1;
    /* one capacity for three arrays: each grows to the same count or the call fails */
    uint64_t *tn = pw_grow(s->t_ns, &cap, rows, sizeof *tn);
    if (!tn) return PW_ERR_NOMEM;
    s->t_ns = tn;
    uint8_t *fl = realloc(s->flags, cap);
    if (!fl) return PW_ERR_NOMEM;
    s->flags = fl;
    if (s->t_err_ns) {
        uint32_t *te = realloc(s->t_err_ns, cap * sizeof *te);
        if (!te) return PW_ERR_NOMEM;
        s->t_err_ns = te;
    }
    if (cap > SIZE_MAX / sizeof(uint64_t) / width) return PW_ERR_NOMEM;
    uint64_t *e = realloc(s->energy_uj, cap * width * sizeof *e);
    if (!e) return PW_ERR_NOMEM;
    s->energy_uj = e;
    s->cap = cap;
    return PW_OK;
}

int pw_series_stamp_errors(pw_series *s, size_t rows)
{
    if (s->t_err_ns) return PW_OK;
    s->t_err_ns = malloc((s->cap ? s->cap : 1) * sizeof *s->t_err_ns);
    if (!s->t_err_ns) return PW_ERR_NOMEM;
    for (size_t i = 0; i < rows; i++) s->t_err_ns[i] = PW_T_ERR_UNKNOWN;
    return PW_OK;
}

int pw_trace_add_sample(pw_trace *t, uint32_t source, uint64_t t_ns, const uint64_t *energy_uj,
                        uint8_t flags)
{
    return pw_trace_add_sample_stamped(t, source, t_ns, PW_T_ERR_UNKNOWN, energy_uj, flags);
}

int pw_trace_add_sample_stamped(pw_trace *t, uint32_t source, uint64_t t_ns, uint32_t t_err_ns,
                                const uint64_t *energy_uj, uint8_t flags)
{
    if (!t || source >= t->nsources) return PW_ERR_INVALID;
    pw_series *s = &t->series[source];
    if ((s->ndomains && !energy_uj) || (s->n && t_ns < s->t_ns[s->n - 1])) return PW_ERR_INVALID;
    if (s->n == s->cap && pw_series_reserve(s, s->n + 1)) return PW_ERR_NOMEM;
    if (t_err_ns != PW_T_ERR_UNKNOWN && pw_series_stamp_errors(s, s->n)) return PW_ERR_NOMEM;
    if (s->t_err_ns) s->t_err_ns[s->n] = t_err_ns;
    s->t_ns[s->n] = t_ns;
    s->flags[s->n] = flags;
    if (s->ndomains)
        memcpy(s->energy_uj + s->n * s->ndomains, energy_uj, s->ndomains * sizeof *energy_uj);
    s->n++;
    return PW_OK;
}

/* ---- names, tracks, events ------------------------------------------------------------ */

int pw_trace_set_name(pw_trace *t, uint32_t id, const char *name)
{
    if (!t || !name || id == 0 || id >= PW_TRACE_MAX_NAMES) return PW_ERR_INVALID;
    if (id >= t->nnames) {
        char **names = pw_grow(t->names, &t->names_cap, (size_t)id + 1, sizeof *names);
        if (!names) return PW_ERR_NOMEM;
        t->names = names;
        memset(names + t->nnames, 0, ((size_t)id + 1 - t->nnames) * sizeof *names);
        t->nnames = (size_t)id + 1;
    }
    return replace_str(&t->names[id], name);
}

const char *pw_trace_name(const pw_trace *t, uint32_t id)
{
    return t && id < t->nnames ? t->names[id] : NULL;
}

/* ---- hash indexes: tracks by id and meta by key ---------------------------------------- */

typedef uint64_t (*key_hash_fn)(const pw_trace *t, size_t pos);

static uint64_t track_hash(const pw_trace *t, size_t pos) { return pw_hash_u64(t->tracks[pos].id); }
static uint64_t meta_hash(const pw_trace *t, size_t pos)
{
    return pw_hash_str(t->meta[pos].key);
}

static uint64_t truth_hash(const pw_trace *t, size_t pos)
{
    return pw_hash_str(t->truth[pos].path);
}

/* Makes ix cover the array's n entries with room for one more at most half full; rebuilt
 * too when the array changed behind the builders' back (count differs). */
static int index_ready(pw_index *ix, size_t n, const pw_trace *t, key_hash_fn hash)
{
    if (ix->slots && ix->count == n && 2 * (n + 1) <= ix->cap) return PW_OK;
    size_t cap = 16;
    while (cap < 2 * (n + 1)) {
        if (cap > SIZE_MAX / 2 / sizeof(size_t)) return PW_ERR_NOMEM;
        cap *= 2;
    }
    size_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return PW_ERR_NOMEM;
    for (size_t pos = 0; pos < n; pos++) {
        size_t i = hash(t, pos) & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = pos + 1;
    }
    free(ix->slots);
    *ix = (pw_index){slots, cap, n};
    return PW_OK;
}

static int index_fresh(const pw_index *ix, size_t n) { return ix->slots && ix->count == n; }

/* The slot holding track id, or the empty slot where it would go (linear probing). */
static size_t track_slot(const pw_trace *t, uint32_t id)
{
    const pw_index *ix = &t->track_index;
    size_t mask = ix->cap - 1, i = pw_hash_u64(id) & mask;
    while (ix->slots[i] && t->tracks[ix->slots[i] - 1].id != id) i = (i + 1) & mask;
    return i;
}

pw_track *pw_trace_track(pw_trace *t, uint32_t track_id)
{
    if (!t || index_ready(&t->track_index, t->ntracks, t, track_hash)) return NULL;
    size_t slot = track_slot(t, track_id), *slots = t->track_index.slots;
    if (slots[slot]) return &t->tracks[slots[slot] - 1];
    pw_track *tr = pw_grow(t->tracks, &t->tracks_cap, t->ntracks + 1, sizeof *tr);
    if (!tr) return NULL;
    t->tracks = tr;
    tr[t->ntracks] = (pw_track){.id = track_id};
    slots[slot] = ++t->ntracks;
    t->track_index.count++;
    return &tr[t->ntracks - 1];
}

void pw_trace_pop_track(pw_trace *t)
{
    pw_track *tr = &t->tracks[t->ntracks - 1];
    /* clearing the newest entry's slot cannot break a probe chain: none passed over it */
    if (index_fresh(&t->track_index, t->ntracks)) {
        t->track_index.slots[track_slot(t, tr->id)] = 0;
        t->track_index.count--;
    }
    free(tr->name);
    free(tr->events);
    t->ntracks--;
}

int pw_track_reserve(pw_track *tr, size_t events)
{
    if (events <= tr->cap) return PW_OK;
    pw_event *ev = pw_grow(tr->events, &tr->cap, events, sizeof *ev);
    if (!ev) return PW_ERR_NOMEM;
    tr->events = ev;
    return PW_OK;
}

int pw_trace_add_event(pw_trace *t, uint32_t track_id, const pw_event *ev)
{
    if (!t || !ev || ev->type < PW_EV_BEGIN || ev->type > PW_EV_COUNT) return PW_ERR_INVALID;
    pw_track *tr = pw_trace_track(t, track_id);
    if (!tr || pw_track_reserve(tr, tr->n + 1)) return PW_ERR_NOMEM;
    tr->events[tr->n++] = *ev;
    return PW_OK;
}

/* ---- truth and metadata ---------------------------------------------------------------- */

/* The slot holding the first truth record of path, or the empty slot where it would go. */
static size_t truth_slot(const pw_trace *t, const char *path)
{
    const pw_index *ix = &t->truth_index;
    size_t mask = ix->cap - 1, i = pw_hash_str(path) & mask;
    while (ix->slots[i] && strcmp(t->truth[ix->slots[i] - 1].path, path) != 0) i = (i + 1) & mask;
    return i;
}

void pw_open_stack_follow(pw_open_stack *s, const pw_event *ev)
{
    if (ev->type == PW_EV_BEGIN && s->depth < PW_MAX_DEPTH) s->ids[s->depth++] = ev->id;
    else if (ev->type == PW_EV_END && s->depth > 0) s->depth--;
}

char *pw_path_join(const char *parent, const char *name)
{
    size_t lp = strlen(parent), ln = strlen(name);
    char *path = malloc(lp + ln + 2);
    if (!path) return NULL;
    memcpy(path, parent, lp);
    if (lp) path[lp++] = '/';
    memcpy(path + lp, name, ln + 1);
    return path;
}

int pw_trace_add_truth(pw_trace *t, const char *path, double energy_j, double duration_s)
{
    if (!t || !path) return PW_ERR_INVALID;
    pw_truth *tr = pw_grow(t->truth, &t->truth_cap, t->ntruth + 1, sizeof *tr);
    if (!tr) return PW_ERR_NOMEM;
    t->truth = tr;
    if (index_ready(&t->truth_index, t->ntruth, t, truth_hash)) return PW_ERR_NOMEM;
    char *copy = dup_str(path);
    if (!copy) return PW_ERR_NOMEM;
    size_t slot = truth_slot(t, copy);
    tr[t->ntruth++] = (pw_truth){copy, energy_j, duration_s};
    if (!t->truth_index.slots[slot]) t->truth_index.slots[slot] = t->ntruth;
    t->truth_index.count++;
    return PW_OK;
}

const pw_truth *pw_trace_find_truth(const pw_trace *t, const char *path)
{
    if (!t || !path) return NULL;
    if (index_fresh(&t->truth_index, t->ntruth)) {
        size_t s = t->truth_index.slots[truth_slot(t, path)];
        return s ? &t->truth[s - 1] : NULL;
    }
    for (size_t i = 0; i < t->ntruth; i++)   /* an array changed directly: no index yet */
        if (t->truth[i].path && strcmp(t->truth[i].path, path) == 0) return &t->truth[i];
    return NULL;
}

static size_t meta_slot(const pw_trace *t, const char *key)
{
    const pw_index *ix = &t->meta_index;
    size_t mask = ix->cap - 1, i = pw_hash_str(key) & mask;
    while (ix->slots[i] && strcmp(t->meta[ix->slots[i] - 1].key, key) != 0) i = (i + 1) & mask;
    return i;
}

static pw_meta *find_meta(const pw_trace *t, const char *key)
{
    if (index_fresh(&t->meta_index, t->nmeta)) {
        size_t s = t->meta_index.slots[meta_slot(t, key)];
        return s ? &t->meta[s - 1] : NULL;
    }
    for (size_t i = 0; i < t->nmeta; i++)   /* an array changed directly: no index yet */
        if (strcmp(t->meta[i].key, key) == 0) return &t->meta[i];
    return NULL;
}

int pw_trace_set_meta(pw_trace *t, const char *key, const char *value)
{
    if (!t || !key || !value) return PW_ERR_INVALID;
    if (index_ready(&t->meta_index, t->nmeta, t, meta_hash)) return PW_ERR_NOMEM;
    size_t slot = meta_slot(t, key), found = t->meta_index.slots[slot];
    if (found) return replace_str(&t->meta[found - 1].value, value);
    pw_meta *m = pw_grow(t->meta, &t->meta_cap, t->nmeta + 1, sizeof *m);
    if (!m) return PW_ERR_NOMEM;
    t->meta = m;
    char *k = dup_str(key), *v = dup_str(value);
    if (!k || !v) {
        free(k);
        free(v);
        return PW_ERR_NOMEM;
    }
    m[t->nmeta] = (pw_meta){k, v};
    t->meta_index.slots[slot] = ++t->nmeta;
    t->meta_index.count++;
    return PW_OK;
}

/* ---- the public reader API ------------------------------------------------------------ */

/* Reads a whole file into a malloc'd buffer; sized from fstat, but grows for pipes. */
static int slurp(int fd, uint8_t **out, size_t *len)
{
    struct stat st;
    size_t cap = (fstat(fd, &st) == 0 && st.st_size > 0) ? (size_t)st.st_size + 1 : 65536;
    size_t n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            uint8_t *nb = pw_grow(buf, &cap, cap + 1, 1);
            if (!nb) break;
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            errno = e;
            return PW_ERR_IO;
        }
        if (r == 0) {
            *out = buf;
            *len = n;
            return PW_OK;
        }
        n += (size_t)r;
    }
    free(buf);
    return PW_ERR_NOMEM;
}

int pw_trace_probe(const char *path)
{
    if (!path) return PW_ERR_INVALID;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PW_ERR_IO;
    char magic[PW_TRACE_MAGIC_LEN];
    ssize_t n = read(fd, magic, sizeof magic);
    int e = errno;
    close(fd);
    errno = e;
    if (n < 0) return PW_ERR_IO;
    return n == (ssize_t)sizeof magic && memcmp(magic, PW_TRACE_MAGIC, sizeof magic) == 0;
}

int pw_trace_open(const char *path, pw_trace **out)
{
    if (!path || !out) return PW_ERR_INVALID;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? PW_ERR_NOT_FOUND : PW_ERR_IO;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = slurp(fd, &buf, &len);
    int e = errno;
    close(fd);
    errno = e;
    if (rc != PW_OK) return rc;
    rc = pw_trace_read_buffer(buf, len, out);
    free(buf);
    return rc;
}

void pw_trace_close(pw_trace *trace) { pw_trace_free(trace); }

size_t pw_trace_domain_count(const pw_trace *trace) { return trace ? trace->ndomains : 0; }
size_t pw_trace_track_count(const pw_trace *trace) { return trace ? trace->ntracks : 0; }

int pw_trace_domain_is_top(const pw_trace *t, size_t domain)
{
    return t && domain < t->ndomains && t->domains[domain].parent == -1;
}

int pw_trace_domain(const pw_trace *trace, size_t index, pw_domain_info *out)
{
    if (!trace || !out || index >= trace->ndomains) return PW_ERR_INVALID;
    const pw_domain_desc *d = &trace->domains[index];
    const pw_source_desc *src = &trace->sources[d->source];
    pw_domain_info info = {
        .size = sizeof info,
        .name = d->name,
        .kind = pw_kind_name(d->kind),
        .source = src->name,
        .parent = d->parent,
        .estimated = ((d->flags | src->flags) & PW_DOMAIN_ESTIMATED) != 0,
        .samples = trace->series[d->source].n,
    };
    return pw_sized_fill(out, &info, sizeof info, PW_SIZED_MIN(pw_domain_info, samples));
}

int pw_trace_sample(const pw_trace *trace, size_t domain, size_t i, uint64_t *t_ns,
                    uint64_t *energy_uj)
{
    if (!trace || domain >= trace->ndomains) return PW_ERR_INVALID;
    const pw_series *s = &trace->series[trace->domains[domain].source];
    if (i >= s->n) return PW_ERR_INVALID;
    if (t_ns) *t_ns = s->t_ns[i];
    if (energy_uj) *energy_uj = s->energy_uj[i * s->ndomains + (domain - s->first_domain)];
    return PW_OK;
}

const char *pw_trace_meta(const pw_trace *trace, const char *key)
{
    if (!trace || !key) return NULL;
    const pw_meta *m = find_meta(trace, key);
    return m ? m->value : NULL;
}

int pw_trace_get_health(const pw_trace *trace, pw_trace_health *out)
{
    if (!trace || !out) return PW_ERR_INVALID;
    return pw_sized_fill(out, &trace->health, sizeof trace->health,
                         PW_SIZED_MIN(pw_trace_health, bad_names));
}
