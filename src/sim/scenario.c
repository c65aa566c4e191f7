/* scenario.c — the scenario language (docs/scenario.md): parsing text into a tree of timed
 * phases, and walking that tree in time order for the simulator, the runner and timelines. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/scenario.h"
#include "base/grow.h"
#include "trace/trace.h"

/* Limits that keep every input, however hostile, cheap to parse, walk and simulate. */
#define MAX_TEXT (16u << 20)                              /* bytes of scenario text */
#define MAX_WORDS 16                                      /* words on one line */
#define MAX_NEST 64                                       /* '{' blocks inside one another */
#define MAX_NAME 256                                      /* bytes in one name */
#define MAX_NAMES (1u << 20)                              /* distinct names */
#define MAX_TOTAL_NS (30ull * 24 * 3600 * 1000000000ull)  /* 30 days */
#define MAX_VISITS (1ull << 26)                           /* steps one walk visits */
#define MAX_SAMPLES 100000000ull                          /* sensor reads one run takes */
#define MAX_WATTS 1e6
#define MAX_QUANTUM_UJ 1e12
#define TOO_LARGE "the scenario is larger than 16 MiB"

/* ---- names and paths, interned ---------------------------------------------------------- */

typedef struct strtab {
    char **v; size_t n, cap;          /* the strings, in order of first appearance */
    uint32_t *slots; size_t nslots;   /* open addressing: index + 1, 0 = empty */
} strtab;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot holding s, or the empty slot where it belongs. */
static uint32_t *slot_for(const strtab *t, const char *s)
{
    size_t mask = t->nslots - 1;
    for (size_t i = hash_str(s) & mask;; i = (i + 1) & mask) {
        uint32_t v = t->slots[i];
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): a used slot means t->v holds it */
        if (!v || strcmp(t->v[v - 1], s) == 0) return &t->slots[i];
    }
}

static int strtab_rehash(strtab *t)
{
    size_t n = t->nslots ? 2 * t->nslots : 64;
    uint32_t *slots = calloc(n, sizeof *slots), *old = t->slots;
    if (!slots) return -1;
    size_t oldn = t->nslots;
    t->slots = slots;
    t->nslots = n;
    for (size_t i = 0; i < oldn; i++)
        if (old[i]) *slot_for(t, t->v[old[i] - 1]) = old[i];
    free(old);
    return 0;
}

/* The index of s, copied in if new; -1 when out of memory. */
static long strtab_intern(strtab *t, const char *s)
{
    if (2 * (t->n + 1) > t->nslots && strtab_rehash(t)) return -1;
    uint32_t *slot = slot_for(t, s);
    if (*slot) return (long)*slot - 1;
    char **v = pw_grow(t->v, &t->cap, t->n + 1, sizeof *v);
    if (!v) return -1;
    t->v = v;
    if (!(v[t->n] = strdup(s))) return -1;
    *slot = (uint32_t)++t->n;
    return (long)t->n - 1;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void strtab_free(strtab *t)
{
    free_strings(t->v, t->n);
    free(t->slots);
    *t = (strtab){0};
}

/* ---- the parser's state ------------------------------------------------------------------ */

typedef struct block {
    pw_step head;             /* the PHASE or REPEAT the block belongs to (unused at top) */
    pw_step *body; size_t n, cap;
    uint64_t dur_ns;          /* the body's time so far */
    uint64_t visits;          /* steps one walk of the body visits */
    unsigned phases;          /* phases enclosing the body */
    uint32_t path_ix;         /* path of the innermost of them (0: none) */
    long line;                /* where it opened */
} block;

enum { SEEN_NAME = 1, SEEN_SENSOR = 2, SEEN_SAMPLE = 4, SEEN_DOMAIN = 8, SEEN_BACKGROUND = 16,
       SEEN_LEAD = 32, SEEN_VARY = 64, SEEN_RAMP = 128 };

typedef struct parser {
    pw_scenario *s;
    strtab names, paths;
    block blocks[MAX_NEST + 1];   /* [0] is the top level */
    size_t tracks_cap;
    int depth;
    long line;
    long sample_line;
    unsigned seen;                /* SEEN_*: each setting is given once */
    char *err; size_t errlen;
} parser;

__attribute__((format(printf, 2, 3))) static int fail(parser *p, const char *fmt, ...)
{
    if (p->err && p->errlen) {
        int n = snprintf(p->err, p->errlen, "line %ld: ", p->line);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < p->errlen) vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return PW_ERR_FORMAT;
}

static int nomem(parser *p)
{
    fail(p, "out of memory");
    return PW_ERR_NOMEM;
}

static void free_steps(pw_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(steps[i].name);
        free_steps(steps[i].body, steps[i].nbody);   /* depth is bounded by MAX_NEST */
    }
    free(steps);
}

static void free_step(pw_step *st)
{
    free(st->name);
    free_steps(st->body, st->nbody);
}

/* ---- text, numbers and names ------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (not ASCII), 0 if ill-formed. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) n = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;   /* the terminating NUL stops here too */
        cp = cp << 6 | (s[i] & 0x3f);
    }
    return cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : n;
}

/* Lines are UTF-8 without control characters (tab and CR aside), so every word can be
 * quoted in an error message or stored as a name as it is. */
static int check_text(parser *p, const char *line)
{
    for (const unsigned char *s = (const unsigned char *)line; *s;) {
        if (*s >= 0x80) {
            size_t n = utf8_len(s);
            if (!n) return fail(p, "the text is not valid UTF-8");
            s += n;
        } else if ((*s < 0x20 && *s != '\t' && *s != '\r') || *s == 0x7f) {
            return fail(p, "control character 0x%02x", *s);
        } else {
            s++;
        }
    }
    return PW_OK;
}

static int digit(char c) { return c >= '0' && c <= '9'; }

/* The end of the decimal number ("12", "0.4", ".5", "1e-3") s starts with, or NULL. */
static const char *scan_number(const char *s)
{
    int digits = 0;
    for (; digit(*s); s++) digits++;
    if (*s == '.')
        for (s++; digit(*s); s++) digits++;
    if (!digits) return NULL;
    if ((*s == 'e' || *s == 'E') && (digit(s[1]) || ((s[1] == '+' || s[1] == '-') && digit(s[2]))))
        for (s += 2; digit(*s); s++) {}
    return s;
}

typedef struct unit { const char *suffix; double scale; } unit;
typedef struct quantity_kind {
    const char *what, *example, *expected;
    unit units[6];
} quantity_kind;

static const quantity_kind TIME = {"duration", "2ms", "ns, us, ms or s",
    {{"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6}, {"s", 1e9}, {NULL, 0}}};
static const quantity_kind POWER = {"power", "45W", "W, mW or kW",
    {{"W", 1}, {"mW", 1e-3}, {"kW", 1e3}, {NULL, 0}}};
static const quantity_kind ENERGY = {"energy", "15.3uJ", "nJ, uJ, mJ or J",   /* in µJ */
    {{"nJ", 1e-3}, {"uJ", 1}, {"\xc2\xb5J", 1}, {"mJ", 1e3}, {"J", 1e6}, {NULL, 0}}};

/* A non-negative number with one of k's units, scaled to the first unit's base. */
static int quantity(parser *p, const char *word, const quantity_kind *k, double *out)
{
    const char *num = word[0] == '-' ? word + 1 : word;   /* a sign is read to be refused */
    const char *end = scan_number(num);
    if (!end) return fail(p, "expected a %s such as '%s', got '%s'", k->what, k->example, word);
    if (!*end) return fail(p, "missing unit in '%s' (expected %s)", word, k->expected);
    const unit *u = k->units;
    while (u->suffix && strcmp(u->suffix, end) != 0) u++;
    if (!u->suffix) return fail(p, "unknown unit '%s' in '%s' (expected %s)", end, word, k->expected);
    if (num != word) return fail(p, "negative %s '%s'", k->what, word);
    double v = strtod(num, NULL) * u->scale;
    if (!isfinite(v)) return fail(p, "%s '%s' is out of range", k->what, word);
    *out = v;
    return PW_OK;
}

static int duration(parser *p, const char *word, int zero_ok, uint64_t *ns)
{
    double v = 0;   /* set on PW_OK; zeroed because the analyser cannot see through fail() */
    int rc = quantity(p, word, &TIME, &v);
    if (rc != PW_OK) return rc;
    if (v > (double)MAX_TOTAL_NS) return fail(p, "duration '%s' is longer than 30 days", word);
    uint64_t r = (uint64_t)llround(v);
    if (r == 0 && !zero_ok) return fail(p, "duration '%s' is zero (1ns at least)", word);
    *ns = r;
    return PW_OK;
}

static int power(parser *p, const char *word, double *w)
{
    int rc = quantity(p, word, &POWER, w);
    if (rc == PW_OK && *w > MAX_WATTS) return fail(p, "power '%s' is above 1 MW", word);
    return rc;
}

/* A whole number in [min, max], digits only. */
static int whole(parser *p, const char *word, const char *what, uint64_t min, uint64_t max,
                 uint64_t *out)
{
    uint64_t v = 0;
    int ok = *word != '\0';
    for (const char *s = word; ok && *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        ok = digit(*s) && v <= (max - d) / 10;
        if (ok) v = 10 * v + d;
    }
    if (!ok || v < min)
        return fail(p, "%s must be a whole number from %llu to %llu, got '%s'", what,
                    (unsigned long long)min, (unsigned long long)max, word);
    *out = v;
    return PW_OK;
}

/* A whole number that may be negative, |n| <= INT64_MAX. */
static int signed_whole(parser *p, const char *word, const char *what, int64_t *out)
{
    int negative = word[0] == '-';
    uint64_t v = 0;
    if (whole(p, word + negative, what, 0, INT64_MAX, &v) != PW_OK)
        return fail(p, "%s must be a whole number from -%lld to %lld, got '%s'", what,
                    (long long)INT64_MAX, (long long)INT64_MAX, word);
    *out = negative ? -(int64_t)v : (int64_t)v;
    return PW_OK;
}

static int check_name(parser *p, const char *what, const char *name)
{
    if (strlen(name) > MAX_NAME) return fail(p, "%s name longer than %d bytes", what, MAX_NAME);
    if (strpbrk(name, "/{}"))
        return fail(p, "%s name '%s' may not contain '/', '{' or '}'", what, name);
    return PW_OK;
}

/* ---- building the tree --------------------------------------------------------------------- */

/* Appends st (whose walk visits `visits` steps) to the innermost open block; st is owned by
 * the tree afterwards, or freed on error. */
static int add_step(parser *p, pw_step *st, uint64_t visits)
{
    block *b = &p->blocks[p->depth];
    int rc = PW_OK;
    if (b->dur_ns > MAX_TOTAL_NS - st->dur_ns)
        rc = fail(p, "the scenario would last longer than 30 days");
    else if (b->visits > MAX_VISITS - visits)
        rc = fail(p, "the scenario unrolls to more than %llu steps", (unsigned long long)MAX_VISITS);
    pw_step *body = rc == PW_OK ? pw_grow(b->body, &b->cap, b->n + 1, sizeof *body) : NULL;
    if (!body) {
        free_step(st);
        return rc != PW_OK ? rc : nomem(p);
    }
    b->body = body;
    body[b->n++] = *st;
    b->dur_ns += st->dur_ns;
    b->visits += visits;
    return PW_OK;
}

static int intern_name(parser *p, const char *name, uint32_t *ix)
{
    long i = strtab_intern(&p->names, name);
    if (i < 0) return nomem(p);
    if ((unsigned long)i >= MAX_NAMES) return fail(p, "more than %u distinct names", MAX_NAMES);
    *ix = (uint32_t)i;
    return PW_OK;
}

/* Gives a PHASE step its name, name index and path index, inside the innermost block. */
static int name_phase(parser *p, pw_step *st, const char *name)
{
    const block *b = &p->blocks[p->depth];
    if (b->phases >= PW_MAX_DEPTH) return fail(p, "phases nested deeper than %d", PW_MAX_DEPTH);
    int rc = check_name(p, "phase", name);
    if (rc == PW_OK) rc = intern_name(p, name, &st->name_ix);
    if (rc != PW_OK) return rc;
    const char *parent = p->paths.v[b->path_ix];
    size_t n = strlen(parent) + strlen(name) + 2;
    char *path = malloc(n);
    st->name = strdup(name);
    if (!path || !st->name) {
        free(path);
        return nomem(p);
    }
    snprintf(path, n, "%s%s%s", parent, *parent ? "/" : "", name);
    long ix = strtab_intern(&p->paths, path);
    free(path);
    if (ix < 0) return nomem(p);
    st->path_ix = (uint32_t)ix;
    return PW_OK;
}

static int open_block(parser *p, pw_step_type type, const char *name, uint32_t repeat)
{
    if (p->depth == MAX_NEST) return fail(p, "nesting deeper than %d", MAX_NEST);
    const block *outer = &p->blocks[p->depth];
    block b = {.head = {.type = type, .repeat = repeat}, .phases = outer->phases,
               .path_ix = outer->path_ix, .line = p->line};
    if (type == PW_STEP_PHASE) {
        int rc = name_phase(p, &b.head, name);
        if (rc != PW_OK) {
            free(b.head.name);
            return rc;
        }
        b.phases++;
        b.path_ix = b.head.path_ix;
    }
    p->blocks[++p->depth] = b;
    return PW_OK;
}

/* A closed track joins the scenario's tracks, not the main body. */
static int add_track(parser *p, pw_step *st)
{
    pw_scenario *s = p->s;
    int too_long = st->start_ns > MAX_TOTAL_NS - st->dur_ns;
    pw_step *tracks = too_long ? NULL
                               : pw_grow(s->tracks, &p->tracks_cap, s->ntracks + 1, sizeof *tracks);
    if (!tracks) {
        free_step(st);
        return too_long ? fail(p, "the scenario would last longer than 30 days") : nomem(p);
    }
    s->tracks = tracks;
    tracks[s->ntracks++] = *st;
    return PW_OK;
}

static int close_block(parser *p)
{
    if (p->depth == 0) return fail(p, "unbalanced braces: '}' with no block open");
    block *b = &p->blocks[p->depth--];
    pw_step st = b->head;
    st.body = b->body;
    st.nbody = b->n;
    uint64_t visits = b->visits, reps = st.type == PW_STEP_REPEAT ? st.repeat : 1;
    int rc = PW_OK;
    if (b->dur_ns == 0)
        rc = fail(p, "the block opened at line %ld takes no time", b->line);
    else if (b->dur_ns > MAX_TOTAL_NS / reps)
        rc = fail(p, "the scenario would last longer than 30 days");
    else if (visits > MAX_VISITS / reps)
        rc = fail(p, "the scenario unrolls to more than %llu steps", (unsigned long long)MAX_VISITS);
    if (rc != PW_OK) {
        free_step(&st);
        return rc;
    }
    st.dur_ns = b->dur_ns * reps;
    if (st.type == PW_STEP_TRACK) return add_track(p, &st);
    return add_step(p, &st, visits * reps + (st.type == PW_STEP_PHASE));
}

/* ---- one handler per keyword ------------------------------------------------------------- */

static int is_open(const char *w) { return strcmp(w, "{") == 0; }

static int kw_phase(parser *p, char **w, int n)
{
    if (n == 3 && is_open(w[2])) return open_block(p, PW_STEP_PHASE, w[1], 0);
    if (n != 4 || is_open(w[3]))
        return fail(p, "expected 'phase NAME DURATION POWER' or 'phase NAME {'");
    pw_step st = {.type = PW_STEP_PHASE};
    int rc = duration(p, w[2], 0, &st.dur_ns);
    if (rc == PW_OK) rc = power(p, w[3], &st.watts);
    if (rc == PW_OK) rc = name_phase(p, &st, w[1]);
    if (rc != PW_OK) {
        free(st.name);
        return rc;
    }
    return add_step(p, &st, 1);
}

static int kw_repeat(parser *p, char **w, int n)
{
    if (n != 3 || !is_open(w[2])) return fail(p, "expected 'repeat N {'");
    uint64_t reps = 0;
    int rc = whole(p, w[1], "a repeat count", 1, UINT32_MAX, &reps);
    return rc == PW_OK ? open_block(p, PW_STEP_REPEAT, NULL, (uint32_t)reps) : rc;
}

static int kw_idle(parser *p, char **w, int n)
{
    if (n != 2 && n != 3) return fail(p, "expected 'idle DURATION [POWER]'");
    pw_step st = {.type = PW_STEP_IDLE, .watts = NAN};   /* NAN: the background, set later */
    int rc = duration(p, w[1], 0, &st.dur_ns);
    if (rc == PW_OK && n == 3) rc = power(p, w[2], &st.watts);
    return rc == PW_OK ? add_step(p, &st, 1) : rc;
}

static int kw_count(parser *p, char **w, int n)
{
    if (n != 3) return fail(p, "expected 'count NAME N', e.g. 'count tokens 1'");
    pw_step st = {.type = PW_STEP_COUNT};
    int rc = check_name(p, "counter", w[1]);
    if (rc == PW_OK) rc = signed_whole(p, w[2], "a count", &st.count);
    if (rc == PW_OK) rc = intern_name(p, w[1], &st.name_ix);
    if (rc != PW_OK) return rc;
    if (!(st.name = strdup(w[1]))) return nomem(p);
    return add_step(p, &st, 1);
}

static int kw_close(parser *p, char **w, int n)
{
    (void)w;
    return n == 1 ? close_block(p) : fail(p, "'}' stands alone on its line");
}

static int kw_name(parser *p, char **w, int n)
{
    if (n < 2) return fail(p, "expected 'name TEXT'");
    size_t len = 0;
    for (int i = 1; i < n; i++) len += strlen(w[i]) + 1;
    if (len > MAX_NAME) return fail(p, "scenario name longer than %d bytes", MAX_NAME);
    char *name = malloc(len);
    if (!name) return nomem(p);
    name[0] = '\0';
    for (int i = 1; i < n; i++) {   /* words joined by single spaces */
        if (i > 1) strcat(name, " ");
        strcat(name, w[i]);
    }
    p->s->name = name;
    return PW_OK;
}

/* Splits "key=value" in place: the value, or NULL with the error set. */
static char *split_kv(parser *p, char *word)
{
    char *eq = strchr(word, '=');
    if (!eq || eq == word) {
        fail(p, "expected KEY=VALUE, got '%s'", word);
        return NULL;
    }
    *eq = '\0';
    return eq + 1;
}

/* A fraction in (0, 1], written as a plain number or a percentage ("0.25", "25%"). */
static int fraction(parser *p, const char *v, double *out)
{
    const char *end = scan_number(v);
    double f = end ? strtod(v, NULL) : NAN;
    if (end && !strcmp(end, "%")) f /= 100;
    else if (!end || *end) f = NAN;
    if (!(f > 0 && f <= 1)) return fail(p, "coverage '%s' must be above 0 and at most 1 (or 100%%)", v);
    *out = f;
    return PW_OK;
}

/* The sensor settings that go beyond a counter: its kind, window, coverage, timing. */
static int sensor_timing(parser *p, pw_sensor_model *m, const char *key, const char *v)
{
    if (!strcmp(key, "preset")) {
        if (pw_sensor_preset(v, m) == PW_OK) return PW_OK;
        return fail(p, "unknown sensor preset '%s' (expected rapl, nvml-energy, nvml-power or "
                       "powermetrics)", v);
    }
    if (!strcmp(key, "type")) {
        if (!strcmp(v, "counter") || !strcmp(v, "average")) {
            m->kind = !strcmp(v, "average") ? PW_SENSOR_AVERAGE : PW_SENSOR_COUNTER;
            return PW_OK;
        }
        return fail(p, "unknown sensor type '%s' (expected counter or average)", v);
    }
    if (!strcmp(key, "window")) return duration(p, v, 1, &m->window_ns);
    if (!strcmp(key, "latency")) return duration(p, v, 1, &m->latency_ns);
    if (!strcmp(key, "jitter")) return duration(p, v, 1, &m->jitter_ns);
    if (!strcmp(key, "coverage")) return fraction(p, v, &m->coverage);
    if (!strcmp(key, "resolution")) {
        double w = 0;
        int rc = power(p, v, &w);
        if (rc == PW_OK && !(w > 0)) return fail(p, "resolution '%s' must be above 0", v);
        m->quantum_mw = w * 1e3;
        return rc;
    }
    return fail(p, "unknown sensor setting '%s' (expected preset, type, period, offset, "
                   "quantum, bits, noise, seed, window, resolution, coverage, latency or "
                   "jitter)", key);
}

static int sensor_setting(parser *p, pw_sensor_model *m, const char *key, const char *v)
{
    uint64_t u = 0;
    int rc;
    if (!strcmp(key, "period")) return duration(p, v, 1, &m->period_ns);
    if (!strcmp(key, "offset")) {
        m->offset_random = !strcmp(v, "random");
        if (m->offset_random || !strcmp(v, "aligned")) {
            m->offset_ns = 0;
            return PW_OK;
        }
        return duration(p, v, 1, &m->offset_ns);
    }
    if (!strcmp(key, "noise")) return power(p, v, &m->noise_w);
    if (!strcmp(key, "quantum")) {
        rc = quantity(p, v, &ENERGY, &m->quantum_uj);
        if (rc == PW_OK && !(m->quantum_uj > 0 && m->quantum_uj <= MAX_QUANTUM_UJ))
            return fail(p, "quantum '%s' must be above 0 and at most 1 MJ", v);
        return rc;
    }
    if (!strcmp(key, "bits")) {
        rc = whole(p, v, "bits", 1, 64, &u);
        if (rc == PW_OK) m->bits = (unsigned)u;
        return rc;
    }
    if (!strcmp(key, "seed")) return whole(p, v, "seed", 0, UINT64_MAX, &m->seed);
    return sensor_timing(p, m, key, v);
}

static int kw_sensor(parser *p, char **w, int n)
{
    pw_sensor_model *m = &p->s->sensor;
    for (int i = 1; i < n; i++) {
        char *v = split_kv(p, w[i]);
        int rc = v ? sensor_setting(p, m, w[i], v) : PW_ERR_FORMAT;
        if (rc != PW_OK) return rc;
    }
    if (m->noise_w > 0 && m->period_ns == 0)
        return fail(p, "noise needs an update period (period=...)");
    if (m->kind == PW_SENSOR_AVERAGE && m->period_ns == 0 && m->window_ns == 0)
        return fail(p, "an averaged-power sensor needs a window or a period");
    return PW_OK;
}

static int kw_sample(parser *p, char **w, int n)
{
    char *v = n == 2 ? split_kv(p, w[1]) : NULL;
    if (!v || strcmp(w[1], "every") != 0)
        return fail(p, "expected 'sample every=DURATION'");
    p->sample_line = p->line;
    return duration(p, v, 0, &p->s->sample_interval_ns);
}

static int domain_setting(parser *p, pw_scenario *s, const char *key, const char *v)
{
    if (!strcmp(key, "kind")) {
        s->kind = pw_kind_parse(v);
        if (strcmp(pw_kind_name(s->kind), v) == 0) return PW_OK;
        return fail(p, "unknown domain kind '%s' (expected cpu, gpu, ane, dram, soc, system "
                       "or other)", v);
    }
    if (strcmp(key, "name") != 0)
        return fail(p, "unknown domain setting '%s' (expected name or kind)", key);
    int rc = check_name(p, "domain", v);
    if (rc != PW_OK) return rc;
    free(s->domain);
    return (s->domain = strdup(v)) ? PW_OK : nomem(p);
}

static int kw_domain(parser *p, char **w, int n)
{
    for (int i = 1; i < n; i++) {
        char *v = split_kv(p, w[i]);
        int rc = v ? domain_setting(p, p->s, w[i], v) : PW_ERR_FORMAT;
        if (rc != PW_OK) return rc;
    }
    return PW_OK;
}

/* "15%" or "0.15": a share from 0 to max. */
static int share(parser *p, const char *what, const char *v, double max, double *out)
{
    const char *end = scan_number(v);
    double f = end ? strtod(v, NULL) : NAN;
    if (end && !strcmp(end, "%")) f /= 100;
    else if (!end || *end) f = NAN;
    if (!(f >= 0 && f <= max))
        return fail(p, "%s '%s' must be a share from 0 to %g%%", what, v, 100 * max);
    *out = f;
    return PW_OK;
}

static int kw_vary(parser *p, char **w, int n)
{
    return n == 2 ? share(p, "vary", w[1], 0.9, &p->s->vary) : fail(p, "expected 'vary SHARE'");
}

static int kw_ramp(parser *p, char **w, int n)
{
    return n == 2 ? share(p, "ramp", w[1], 1.8, &p->s->ramp) : fail(p, "expected 'ramp SHARE'");
}

/* `track NAME [start=DURATION] {`: a body that runs on its own thread, beside the others. */
static int kw_track(parser *p, char **w, int n)
{
    if (p->depth > 0) return fail(p, "'track' belongs at the top level, outside every block");
    if ((n != 3 && n != 4) || !is_open(w[n - 1]))
        return fail(p, "expected 'track NAME [start=DURATION] {'");
    uint64_t start = 0;
    if (n == 4) {
        char *v = split_kv(p, w[2]);
        if (!v) return PW_ERR_FORMAT;
        if (strcmp(w[2], "start") != 0) return fail(p, "unknown track setting '%s' (expected start)", w[2]);
        int rc = duration(p, v, 1, &start);
        if (rc != PW_OK) return rc;
    }
    int rc = check_name(p, "track", w[1]);
    if (rc != PW_OK) return rc;
    if (p->depth == MAX_NEST) return fail(p, "nesting deeper than %d", MAX_NEST);
    block b = {.head = {.type = PW_STEP_TRACK, .start_ns = start, .name = strdup(w[1])},
               .line = p->line};
    if (!b.head.name) return nomem(p);
    p->blocks[++p->depth] = b;
    return PW_OK;
}

static int kw_background(parser *p, char **w, int n)
{
    return n == 2 ? power(p, w[1], &p->s->background_w) : fail(p, "expected 'background POWER'");
}

static int kw_lead(parser *p, char **w, int n)
{
    return n == 2 ? duration(p, w[1], 1, &p->s->lead_ns) : fail(p, "expected 'lead DURATION'");
}

typedef struct keyword {
    const char *word;
    int (*fn)(parser *p, char **w, int n);
    unsigned setting;   /* SEEN_* for top-level settings, 0 for steps */
} keyword;

static const keyword keywords[] = {
    {"phase", kw_phase, 0},         {"repeat", kw_repeat, 0},
    {"idle", kw_idle, 0},           {"count", kw_count, 0},
    {"}", kw_close, 0},             {"name", kw_name, SEEN_NAME},
    {"sensor", kw_sensor, SEEN_SENSOR}, {"sample", kw_sample, SEEN_SAMPLE},
    {"domain", kw_domain, SEEN_DOMAIN}, {"background", kw_background, SEEN_BACKGROUND},
    {"lead", kw_lead, SEEN_LEAD},   {"vary", kw_vary, SEEN_VARY},
    {"ramp", kw_ramp, SEEN_RAMP},   {"track", kw_track, 0},
};

static int parse_line(parser *p, char *line)
{
    int rc = check_text(p, line);
    if (rc != PW_OK) return rc;
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *w[MAX_WORDS], *save = NULL;
    int n = 0;
    for (char *tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
        if (n == MAX_WORDS) return fail(p, "too many words (at most %d)", MAX_WORDS);
        w[n++] = tok;
    }
    if (n == 0) return PW_OK;
    for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++) {
        const keyword *kw = &keywords[k];
        if (strcmp(kw->word, w[0]) != 0) continue;
        if (kw->setting && p->depth > 0)
            return fail(p, "'%s' belongs at the top level, outside every block", kw->word);
        if (p->seen & kw->setting) return fail(p, "'%s' is given twice", kw->word);
        p->seen |= kw->setting;
        return kw->fn(p, w, n);
    }
    return fail(p, "unknown keyword '%s' (expected phase, repeat, idle, count, '}', track, "
                   "name, sensor, sample, domain, background, lead, vary or ramp)", w[0]);
}

/* ---- the whole text ------------------------------------------------------------------------ */

/* Idle steps without a power of their own take the background's (known only at the end). */
static void fill_idle(pw_step *steps, size_t n, double background_w)
{
    for (size_t i = 0; i < n; i++) {
        if (steps[i].type == PW_STEP_IDLE && isnan(steps[i].watts)) steps[i].watts = background_w;
        fill_idle(steps[i].body, steps[i].nbody, background_w);
    }
}

static int finish(parser *p)
{
    pw_scenario *s = p->s;
    if (p->depth > 0) {
        p->line = p->blocks[p->depth].line;
        return fail(p, "unbalanced braces: this block is never closed");
    }
    uint64_t span = p->blocks[0].dur_ns + 2 * s->lead_ns;   /* all below 2^62: no overflow */
    for (size_t i = 0; i < s->ntracks; i++)
        if (s->tracks[i].start_ns + s->tracks[i].dur_ns + 2 * s->lead_ns > span)
            span = s->tracks[i].start_ns + s->tracks[i].dur_ns + 2 * s->lead_ns;
    if (span / s->sample_interval_ns >= MAX_SAMPLES) {
        if (p->sample_line) p->line = p->sample_line;
        return fail(p, "a run would take more than %llu samples at this sample interval",
                    (unsigned long long)MAX_SAMPLES);
    }
    if (s->sensor.jitter_ns >= s->sample_interval_ns)   /* a late read never passes the next */
        s->sensor.jitter_ns = s->sample_interval_ns - 1;
    if (!s->domain && !(s->domain = strdup("synthetic-0"))) return nomem(p);
    block *top = &p->blocks[0];
    fill_idle(top->body, top->n, s->background_w);
    fill_idle(s->tracks, s->ntracks, s->background_w);
    s->steps = top->body;
    s->nsteps = top->n;
    *top = (block){0};
    s->names = p->names.v;
    s->nnames = p->names.n;
    s->paths = p->paths.v;
    s->npaths = p->paths.n;
    p->names.v = p->paths.v = NULL;
    p->names.n = p->paths.n = 0;
    return PW_OK;
}

static int parse_text(parser *p, char *text)
{
    pw_scenario *s = p->s;
    pw_sensor_model_default(&s->sensor);
    s->sample_interval_ns = 1000000;
    s->kind = PW_KIND_CPU;
    if (strtab_intern(&p->paths, "") != 0) return nomem(p);   /* paths[0]: the top level */
    for (char *line = text; line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        p->line++;
        int rc = parse_line(p, line);
        if (rc != PW_OK) return rc;
        line = nl ? nl + 1 : NULL;
    }
    return finish(p);
}

int pw_scenario_parse(const char *text, pw_scenario **out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!out || !text) return PW_ERR_INVALID;
    *out = NULL;
    parser p = {.err = err, .errlen = errlen};
    if (strlen(text) > MAX_TEXT) {
        p.line = 1;
        return fail(&p, "%s", TOO_LARGE);
    }
    char *copy = strdup(text);   /* tokenised in place */
    p.s = calloc(1, sizeof *p.s);
    int rc = copy && p.s ? parse_text(&p, copy) : nomem(&p);
    free(copy);
    for (int d = 0; d <= p.depth; d++) {   /* what a failed parse left open */
        free_step(&p.blocks[d].head);
        free_steps(p.blocks[d].body, p.blocks[d].n);
    }
    strtab_free(&p.names);
    strtab_free(&p.paths);
    if (rc != PW_OK) {
        pw_scenario_free(p.s);
        return rc;
    }
    *out = p.s;
    return PW_OK;
}

/* Reads a whole file of at most MAX_TEXT bytes, NUL-terminated. */
static int read_text(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "cannot read: %s", strerror(e));
        return e == ENOENT ? PW_ERR_NOT_FOUND : PW_ERR_IO;
    }
    char *text = NULL;
    size_t n = 0, cap = 0;
    int rc = PW_OK;
    for (;;) {
        char *grown = pw_grow(text, &cap, n + 65536 + 1, 1);
        if (!grown) {
            rc = PW_ERR_NOMEM;
            break;
        }
        text = grown;
        size_t got = fread(text + n, 1, cap - n - 1, f);
        n += got;
        if (n > MAX_TEXT) rc = PW_ERR_FORMAT;
        else if (got == 0 && ferror(f)) rc = PW_ERR_IO;
        if (rc != PW_OK || got == 0) break;
    }
    if (rc == PW_ERR_IO) snprintf(err, errlen, "cannot read: %s", strerror(errno));
    if (rc == PW_ERR_FORMAT) snprintf(err, errlen, "line 1: %s", TOO_LARGE);
    fclose(f);
    if (rc != PW_OK) {
        free(text);
        return rc;
    }
    text[n] = '\0';
    *out = text;
    *len = n;
    return PW_OK;
}

int pw_scenario_load(const char *path, pw_scenario **out, char *err, size_t errlen)
{
    char none[1];
    if (!err || !errlen) err = none, errlen = sizeof none;
    err[0] = '\0';
    if (!path || !out) return PW_ERR_INVALID;
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = read_text(path, &text, &len, err, errlen);
    if (rc != PW_OK) return rc;
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        long line = 1;
        for (const char *c = text; c < nul; c++) line += *c == '\n';
        snprintf(err, errlen, "line %ld: NUL byte in the text", line);
        rc = PW_ERR_FORMAT;
    } else {
        rc = pw_scenario_parse(text, out, err, errlen);
    }
    free(text);
    return rc;
}

void pw_scenario_free(pw_scenario *s)
{
    if (!s) return;
    free_steps(s->steps, s->nsteps);
    free_steps(s->tracks, s->ntracks);
    free_strings(s->names, s->nnames);
    free_strings(s->paths, s->npaths);
    free(s->domain);
    free(s->name);
    free(s);
}

/* One inference request of a small transformer, about 2.3 s at real time. */
static const char builtin_text[] =
    "# phasewatt's built-in workload: one inference request of a small transformer\n"
    "name built-in inference\n"
    "sensor period=1ms quantum=15.3uJ bits=32 noise=0W   # RAPL-like package counter\n"
    "sample every=1ms\n"
    "domain name=package-0 kind=cpu\n"
    "background 8W\n"
    "lead 20ms\n"
    "phase pre-inference {\n"
    "  phase tokenize 8ms 14W\n"
    "  phase embedding 12ms 22W\n"
    "}\n"
    "phase prefill {            # the prompt, all tokens at once: compute-bound\n"
    "  count tokens 128\n"
    "  idle 2ms 20W             # KV-cache set-up\n"
    "  repeat 8 {               # layers\n"
    "    phase attention 6ms 55W\n"
    "    phase mlp 9ms 65W\n"
    "  }\n"
    "  phase lm-head 4ms 40W\n"
    "}\n"
    "repeat 200 {               # one output token each: memory-bound, lower power\n"
    "  phase decode {\n"
    "    count tokens 1\n"
    "    repeat 4 {\n"
    "      phase attention 1ms 30W\n"
    "      phase mlp 1.5ms 38W\n"
    "    }\n"
    "    phase sampling 0.5ms 22W\n"
    "  }\n"
    "}\n"
    "phase post-inference 15ms 15W\n";

const char *pw_scenario_builtin(void) { return builtin_text; }

/* ---- queries ---------------------------------------------------------------------------- */

uint64_t pw_scenario_duration_ns(const pw_scenario *s)
{
    uint64_t total = 0;
    for (size_t i = 0; s && i < s->nsteps; i++) total += s->steps[i].dur_ns;
    for (size_t i = 0; s && i < s->ntracks; i++)
        if (s->tracks[i].start_ns + s->tracks[i].dur_ns > total)
            total = s->tracks[i].start_ns + s->tracks[i].dur_ns;
    return total;
}

/* The first PHASE step with path index ix, in tree order. */
static const pw_step *find_phase(const pw_step *steps, size_t n, uint32_t ix)
{
    for (size_t i = 0; i < n; i++) {
        if (steps[i].type == PW_STEP_PHASE && steps[i].path_ix == ix) return &steps[i];
        const pw_step *found = find_phase(steps[i].body, steps[i].nbody, ix);
        if (found) return found;
    }
    return NULL;
}

/* The first idle step of a body, looking inside repeats but not inside child phases. */
static const pw_step *first_idle(const pw_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (steps[i].type == PW_STEP_IDLE) return &steps[i];
        const pw_step *found =
            steps[i].type == PW_STEP_REPEAT ? first_idle(steps[i].body, steps[i].nbody) : NULL;
        if (found) return found;
    }
    return NULL;
}

double pw_scenario_watts(const pw_scenario *s, const char *path)
{
    if (!s) return 0;
    for (size_t ix = 1; path && ix < s->npaths; ix++) {
        if (strcmp(s->paths[ix], path) != 0) continue;
        const pw_step *st = find_phase(s->steps, s->nsteps, (uint32_t)ix);
        if (!st) st = find_phase(s->tracks, s->ntracks, (uint32_t)ix);
        if (st && !st->body) return st->watts;
        const pw_step *idle = st ? first_idle(st->body, st->nbody) : NULL;
        return idle ? idle->watts : s->background_w;
    }
    return s->background_w;
}

/* ---- walking ---------------------------------------------------------------------------- */

typedef struct walker {
    const pw_walk_ops *ops;
    void *ctx;
    uint64_t t;
} walker;

static int walk_steps(walker *w, const pw_step *steps, size_t n, uint32_t path_ix);

static int walk_span(walker *w, uint64_t dur_ns, double watts, uint32_t path_ix)
{
    uint64_t t0 = w->t;
    w->t += dur_ns;
    return w->ops->span ? w->ops->span(w->ctx, t0, w->t, watts, path_ix) : 0;
}

static int walk_phase(walker *w, const pw_step *st)
{
    int rc = w->ops->begin ? w->ops->begin(w->ctx, st, w->t) : 0;
    if (rc == 0)
        rc = st->body ? walk_steps(w, st->body, st->nbody, st->path_ix)
                      : walk_span(w, st->dur_ns, st->watts, st->path_ix);
    if (rc == 0 && w->ops->end) rc = w->ops->end(w->ctx, st, w->t);
    return rc;
}

/* Recursion follows the tree, whose depth the parser bounds (MAX_NEST). */
static int walk_steps(walker *w, const pw_step *steps, size_t n, uint32_t path_ix)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const pw_step *st = &steps[i];
        switch (st->type) {
        case PW_STEP_PHASE: rc = walk_phase(w, st); break;
        case PW_STEP_IDLE: rc = walk_span(w, st->dur_ns, st->watts, path_ix); break;
        case PW_STEP_COUNT: rc = w->ops->count ? w->ops->count(w->ctx, st, w->t) : 0; break;
        case PW_STEP_TRACK: break;   /* tracks are walked on their own */
        case PW_STEP_REPEAT:
            for (uint32_t r = 0; r < st->repeat && rc == 0; r++)
                rc = walk_steps(w, st->body, st->nbody, path_ix);
            break;
        }
    }
    return rc;
}

int pw_scenario_walk(const pw_scenario *s, uint64_t t0_ns, const pw_walk_ops *ops, void *ctx)
{
    if (!s || !ops) return PW_ERR_INVALID;
    walker w = {ops, ctx, t0_ns};
    return walk_steps(&w, s->steps, s->nsteps, 0);
}

int pw_scenario_walk_track(const pw_scenario *s, size_t i, uint64_t t0_ns, const pw_walk_ops *ops,
                           void *ctx)
{
    if (!s || !ops || i >= s->ntracks) return PW_ERR_INVALID;
    walker w = {ops, ctx, t0_ns + s->tracks[i].start_ns};
    return walk_steps(&w, s->tracks[i].body, s->tracks[i].nbody, 0);
}

/* ---- the timeline ------------------------------------------------------------------------ */

typedef struct timeline_build { pw_schedule *tl; size_t cap; } timeline_build;

static int add_piece(void *ctx, uint64_t t0_ns, uint64_t t1_ns, double watts, uint32_t path_ix)
{
    timeline_build *b = ctx;
    pw_schedule *tl = b->tl;
    pw_span *pieces = pw_grow(tl->spans, &b->cap, tl->nspans + 1, sizeof *pieces);
    if (!pieces) return PW_ERR_NOMEM;
    tl->spans = pieces;
    pieces[tl->nspans++] = (pw_span){t0_ns, t1_ns, watts, tl->paths[path_ix]};
    return PW_OK;
}

int pw_scenario_schedule(const pw_scenario *s, pw_schedule **out)
{
    if (!s || !out) return PW_ERR_INVALID;
    *out = NULL;
    pw_schedule *tl = calloc(1, sizeof *tl);
    if (!tl || !(tl->paths = calloc(s->npaths ? s->npaths : 1, sizeof *tl->paths))) {
        free(tl);
        return PW_ERR_NOMEM;
    }
    int rc = PW_OK;
    for (; tl->npaths < s->npaths && rc == PW_OK; tl->npaths++)
        if (!(tl->paths[tl->npaths] = strdup(s->paths[tl->npaths]))) rc = PW_ERR_NOMEM;
    timeline_build b = {tl, 0};
    if (rc == PW_OK) rc = pw_scenario_walk(s, 0, &(pw_walk_ops){.span = add_piece}, &b);
    if (rc != PW_OK) {
        pw_schedule_free(tl);
        return rc;
    }
    *out = tl;
    return PW_OK;
}

void pw_schedule_free(pw_schedule *tl)
{
    if (!tl) return;
    free(tl->spans);
    free_strings(tl->paths, tl->npaths);
    free(tl);
}
