/* synthetic.c — a power source whose true power is a function of the phase being run,
 * read through a configurable sensor model, with the exact truth kept for checking. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/scenario.h"
#include "sim/sensor.h"
#include "sources/counter.h"
#include "sources/source.h"

#define HISTORY 65536           /* power breakpoints kept for the sensor's update grid */
#define MAX_TRACKS 256

typedef struct truth_entry {
    char *path;
    int64_t parent;             /* entry of the enclosing phase, -1 at top level */
    uint32_t id;                /* the phase's name id */
    double watts;               /* true power while this path is the innermost phase */
    double self_j;              /* true energy while innermost */
    double duration_s;          /* inclusive time, summed over calls */
} truth_entry;

typedef struct frame { uint32_t entry; uint64_t begin_ns; } frame;

typedef struct track_stack {
    uint32_t track;
    int depth;
    frame frames[PW_MAX_DEPTH];
} track_stack;

typedef struct breakpoint { uint64_t t_ns; double e_j; double p_w; } breakpoint;

typedef struct synth {
    pw_scenario *scenario;      /* owns the per-phase watts, background and sensor model */
    truth_entry *entries; size_t nentries, cap;
    uint32_t *index; size_t index_cap;   /* (parent, id) -> entry + 1, open addressing */
    track_stack tracks[MAX_TRACKS]; size_t ntracks;
    pw_meter meter;
    /* the true-energy integrator: power is constant between phase events */
    int started;
    uint64_t t_ns, t0_ns;
    double e_j, p_w;
    size_t open_tracks;         /* tracks with a phase open: they share the background */
    breakpoint hist[HISTORY]; size_t hist_n, hist_head;
} synth;

/* ---- the spec: a scenario file, inline "phase=W,…", or the built-in scenario ---------- */

/* Inline specs are turned into scenario text (one leaf per phase), so one parser and one
 * watts lookup serve both forms. Keys period/quantum/bits/noise/background set the model. */
static void append(char *out, size_t cap, size_t *n, const char *fmt, const char *a,
                   const char *b)
{
    if (*n >= cap) return;
    int w = snprintf(out + *n, cap - *n, fmt, a, b);
    if (w > 0) *n += (size_t)w < cap - *n ? (size_t)w : cap - *n - 1;
}

static char *inline_to_scenario(const char *spec)
{
    size_t cap = 16 * strlen(spec) + 256, n = 0;
    char *out = malloc(cap), *copy = strdup(spec), *save = NULL;
    char sensor[512] = "sensor";
    size_t ns = strlen(sensor);
    if (!out || !copy) {
        free(out);
        free(copy);
        return NULL;
    }
    out[0] = '\0';
    for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        if (!strcmp(k, "period") || !strcmp(k, "quantum") || !strcmp(k, "bits") ||
            !strcmp(k, "noise"))
            append(sensor, sizeof sensor, &ns, " %s=%s", k, v);
        else if (!strcmp(k, "background"))
            append(out, cap, &n, "background %s%s\n", v, "");
        else
            append(out, cap, &n, "phase %s 1ms %s\n", k, v);
    }
    if (strcmp(sensor, "sensor") != 0) append(out, cap, &n, "%s%s\n", sensor, "");
    free(copy);
    return out;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int load_spec(const char *spec, pw_scenario **out, char *why, size_t whylen)
{
    char err[256] = "";
    int rc;
    if (!spec || !*spec) {
        rc = pw_scenario_parse(pw_scenario_builtin(), out, err, sizeof err);
    } else if (is_file(spec)) {
        rc = pw_scenario_load(spec, out, err, sizeof err);
    } else if (strchr(spec, '=')) {
        char *text = inline_to_scenario(spec);
        if (!text) return PW_ERR_NOMEM;
        rc = pw_scenario_parse(text, out, err, sizeof err);
        free(text);
    } else {
        snprintf(why, whylen, "spec '%s' is neither a scenario file nor \"phase=W,...\"", spec);
        return PW_ERR_INVALID;
    }
    if (rc != PW_OK) snprintf(why, whylen, "bad synthetic spec: %s", err);
    return rc;
}

/* ---- the truth table ------------------------------------------------------------------- */

/* The hot part of observing: a phase's entry is found from (parent entry, name id)
 * without building its path; the path string is made once, when the entry is new. */
static size_t index_slot(const synth *s, int64_t parent, uint32_t id)
{
    uint64_t h = ((uint64_t)(parent + 1) * 0x9E3779B97F4A7C15ull) ^ (id * 0xC2B2AE3D27D4EB4Full);
    size_t i = (size_t)(h >> 17) & (s->index_cap - 1);
    while (s->index[i]) {
        const truth_entry *e = &s->entries[s->index[i] - 1];
        if (e->parent == parent && e->id == id) break;
        i = (i + 1) & (s->index_cap - 1);
    }
    return i;
}

static int grow_index(synth *s)
{
    if (s->index && 2 * (s->nentries + 1) < s->index_cap) return 0;
    size_t old_cap = s->index_cap;
    uint32_t *old = s->index;
    s->index_cap = old_cap ? 2 * old_cap : 64;
    s->index = calloc(s->index_cap, sizeof *s->index);
    if (!s->index) {
        s->index = old;
        s->index_cap = old_cap;
        return -1;
    }
    for (size_t i = 0; i < s->nentries; i++)
        s->index[index_slot(s, s->entries[i].parent, s->entries[i].id)] = (uint32_t)i + 1;
    free(old);
    return 0;
}

static char *child_path(const synth *s, int64_t parent, uint32_t id)
{
    const char *name = pw_name(id) ? pw_name(id) : "?";
    const char *up = parent >= 0 ? s->entries[parent].path : "";
    size_t n = strlen(up) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s%s", up, *up ? "/" : "", name);
    return p;
}

static double watts_of(const synth *s, const char *path)
{
    double w = pw_scenario_watts(s->scenario, path);
    const char *leaf = strrchr(path, '/');   /* inline specs name phases, not paths */
    if (w == s->scenario->background_w && leaf) w = pw_scenario_watts(s->scenario, leaf + 1);
    return w;
}

static int64_t entry_for(synth *s, int64_t parent, uint32_t id)
{
    if (grow_index(s) != 0) return -1;
    size_t slot = index_slot(s, parent, id);
    if (s->index[slot]) return (int64_t)s->index[slot] - 1;
    if (s->nentries == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        truth_entry *e = realloc(s->entries, cap * sizeof *e);
        if (!e) return -1;
        s->entries = e;
        s->cap = cap;
    }
    char *path = child_path(s, parent, id);
    if (!path) return -1;
    s->entries[s->nentries] = (truth_entry){path, parent, id, watts_of(s, path), 0, 0};
    s->index[slot] = (uint32_t)s->nentries + 1;
    return (int64_t)s->nentries++;
}

static track_stack *stack_for(synth *s, uint32_t track)
{
    for (size_t i = 0; i < s->ntracks; i++)
        if (s->tracks[i].track == track) return &s->tracks[i];
    if (s->ntracks == MAX_TRACKS) return NULL;
    track_stack *t = &s->tracks[s->ntracks++];
    t->track = track;
    t->depth = 0;
    return t;
}

/* The additive model, as the simulator's (docs/scenario.md, "Tracks"): the machine draws the
 * background plus each open phase's excess over it (a phase's watts are what the machine
 * draws while it runs alone). */
static void choose_power(synth *s)
{
    double bg = s->scenario->background_w;
    s->p_w = bg;
    s->open_tracks = 0;
    for (size_t i = 0; i < s->ntracks; i++) {
        const track_stack *t = &s->tracks[i];
        if (t->depth == 0) continue;
        s->p_w += s->entries[t->frames[t->depth - 1].entry].watts - bg;
        s->open_tracks++;
    }
}

/* Each open phase's truth: its own excess plus an equal share of the background. */
static void accrue(synth *s, double dt)
{
    double bg = s->scenario->background_w;
    for (size_t i = 0; i < s->ntracks && s->open_tracks; i++) {
        const track_stack *t = &s->tracks[i];
        if (t->depth == 0) continue;
        truth_entry *e = &s->entries[t->frames[t->depth - 1].entry];
        e->self_j += (e->watts - bg + bg / (double)s->open_tracks) * dt;
    }
}

/* ---- the integrator ------------------------------------------------------------------ */

static void remember(synth *s)
{
    size_t i = (s->hist_head + s->hist_n) % HISTORY;
    if (s->hist_n == HISTORY) s->hist_head = (s->hist_head + 1) % HISTORY;
    else s->hist_n++;
    s->hist[i] = (breakpoint){s->t_ns, s->e_j, s->p_w};
}

/* Late events (a thread published after the last read) are applied at the last time. */
static void advance(synth *s, uint64_t t_ns)
{
    if (!s->started) {
        s->started = 1;
        s->t_ns = s->t0_ns = t_ns;
        remember(s);
        return;
    }
    if (t_ns <= s->t_ns) return;
    double dt = (double)(t_ns - s->t_ns) * 1e-9;
    s->e_j += s->p_w * dt;
    accrue(s, dt);
    s->t_ns = t_ns;
}

static double true_energy_at(void *ctx, uint64_t t_ns)
{
    const synth *s = ctx;
    size_t lo = 0, hi = s->hist_n;      /* last breakpoint at or before t_ns */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->hist[(s->hist_head + mid) % HISTORY].t_ns <= t_ns) lo = mid;
        else hi = mid;
    }
    const breakpoint *b = &s->hist[(s->hist_head + lo) % HISTORY];
    if (t_ns <= b->t_ns) return b->e_j;
    return b->e_j + b->p_w * (double)(t_ns - b->t_ns) * 1e-9;
}

static void on_begin(synth *s, track_stack *t, const pw_event *ev)
{
    if (t->depth >= PW_MAX_DEPTH) return;
    int64_t parent = t->depth ? (int64_t)t->frames[t->depth - 1].entry : -1;
    int64_t e = entry_for(s, parent, ev->id);
    if (e < 0) return;
    t->frames[t->depth++] = (frame){(uint32_t)e, ev->t_ns};
}

static void on_end(synth *s, track_stack *t, const pw_event *ev)
{
    if (t->depth == 0) return;
    frame *f = &t->frames[--t->depth];
    uint64_t end = ev->t_ns > f->begin_ns ? ev->t_ns : f->begin_ns;
    s->entries[f->entry].duration_s += (double)(end - f->begin_ns) * 1e-9;
}

static void synth_observe(void *state, uint32_t track, const pw_event *ev)
{
    synth *s = state;
    if (ev->type != PW_EV_BEGIN && ev->type != PW_EV_END) return;
    track_stack *t = stack_for(s, track);
    if (!t) return;
    advance(s, ev->t_ns);
    if (ev->type == PW_EV_BEGIN) on_begin(s, t, ev);
    else on_end(s, t, ev);
    choose_power(s);
    remember(s);
}

/* ---- the ops --------------------------------------------------------------------------- */

static void synth_close(void *state)
{
    synth *s = state;
    if (!s) return;
    for (size_t i = 0; i < s->nentries; i++) free(s->entries[i].path);
    free(s->entries);
    free(s->index);
    pw_scenario_free(s->scenario);
    free(s);
}

static int synth_probe(const pw_source_config *cfg, void **state, pw_source_info *info,
                       char *why, size_t whylen)
{
    synth *s = calloc(1, sizeof *s);
    if (!s) return PW_ERR_NOMEM;
    int rc = load_spec(cfg->synthetic, &s->scenario, why, whylen);
    if (rc != PW_OK) {
        synth_close(s);
        return rc;
    }
    pw_meter_init(&s->meter, &s->scenario->sensor);
    s->p_w = s->scenario->background_w;
    info->ndomains = 0;
    pw_source_add_domain(info, s->scenario->domain ? s->scenario->domain : "synthetic-0",
                         s->scenario->kind, -1);
    info->period_ns = s->scenario->sensor.period_ns;
    /* a continuous sensor (no period) is exact when read: no grid to learn, and stamping its
     * readings as a counter that could not be locked put them half an interval early, which
     * took 3 % off a 0.3 s phase at 200 W (the agent, reading them as they came, was right) */
    info->current_at_read = s->scenario->sensor.period_ns == 0;
    *state = s;
    return PW_OK;
}

static int synth_read(void *state, uint64_t *t_ns, uint64_t *energy_uj)
{
    synth *s = state;
    advance(s, *t_ns);
    remember(s);
    energy_uj[0] = pw_meter_read_uj(&s->meter, true_energy_at, s, s->t_ns);
    *t_ns = s->t_ns;
    return PW_OK;
}

/* Inclusive truth per path: each path's self energy counts for it and every ancestor. */
static void synth_finish(void *state, const pw_sink *out, uint64_t end_ns)
{
    synth *s = state;
    (void)end_ns;     /* truth stops at the last reading, as the trace's samples do */
    for (size_t i = 0; i < s->ntracks; i++)     /* phases still open count up to then */
        for (int d = 0; d < s->tracks[i].depth; d++) {
            const frame *f = &s->tracks[i].frames[d];
            s->entries[f->entry].duration_s += (double)(s->t_ns - f->begin_ns) * 1e-9;
        }
    /* a child's entry comes after its parent's: one backward pass adds each to its parent */
    double *incl = malloc((s->nentries + 1) * sizeof *incl);
    for (size_t i = 0; incl && i < s->nentries; i++) incl[i] = s->entries[i].self_j;
    for (size_t i = s->nentries; incl && i-- > 0;)
        if (s->entries[i].parent >= 0) incl[s->entries[i].parent] += incl[i];
    for (size_t i = 0; incl && i < s->nentries; i++)
        pw_sink_truth(out, s->entries[i].path, incl[i], s->entries[i].duration_s);
    free(incl);   /* without memory there is no truth to write, and the trace says nothing */
    pw_sink_truth(out, "", s->e_j, (double)(s->t_ns - s->t0_ns) * 1e-9);
    pw_sensor_write_meta(&s->scenario->sensor, "synthetic", out);
}

const pw_source_ops pw_source_synthetic = {
    .name = "synthetic",
    .summary = "simulated sensor: power is a function of the active phase (for testing)",
    .measured = 0,
    .simulated = 1,
    .auto_probe = 0,
    .probe = synth_probe,
    .read = synth_read,
    .observe = synth_observe,
    .finish = synth_finish,
    .close = synth_close,
};
