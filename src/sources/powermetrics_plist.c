/* powermetrics_plist.c — a strict, bounded parser for the XML property lists that
 * `powermetrics -f plist` writes, keeping only the keys the powermetrics source needs. */
#include <math.h>
#include <string.h>

#include "phasewatt.h"
#include "sources/powermetrics.h"

#define TAG_MAX 16               /* longest element name ("integer", "plist") plus NUL */
#define KEY_MAX 32               /* longer keys are none of ours: treated as unknown */
#define NUMBER_MAX 40            /* longest number text accepted */
#define ATTRS_MAX 256            /* bytes between an element's name and its '>' */
#define MAX_ENERGY_MJ 1e9        /* 1 MJ in one sample is garbage, not a reading */
#define MAX_POWER_MW 1e8         /* 100 kW */
#define MAX_ELAPSED_NS 3.6e12    /* one hour */

typedef enum scope { SCOPE_OTHER, SCOPE_TOP, SCOPE_PROCESSOR, SCOPE_GPU } scope;

/* The keys kept, by where they sit. K_ENERGY + d and K_POWER + d are per domain. */
enum {
    K_ELAPSED, K_MODEL, K_PROCESSOR, K_GPU, K_GPU_DICT_ENERGY,
    K_ENERGY, K_POWER = K_ENERGY + PW_PM_NDOMAINS, K_COUNT = K_POWER + PW_PM_NDOMAINS
};

static const char *const domain_names[PW_PM_NDOMAINS] = {"cpu", "gpu", "ane", "dram"};
static const char *const energy_keys[PW_PM_NDOMAINS] = {"cpu_energy", "gpu_energy",
                                                        "ane_energy", "dram_energy"};
static const char *const power_keys[PW_PM_NDOMAINS] = {"cpu_power", "gpu_power", "ane_power",
                                                       "dram_power"};

typedef struct cursor {
    const char *p, *end;
    const char *error;           /* why the input is malformed; NULL while it is not */
    int incomplete;              /* the input ended inside the document */
    unsigned seen;               /* keys stored so far (bit K_*): a repeat is malformed */
    pw_pm_sample *out;
} cursor;

typedef struct tag {
    char name[TAG_MAX];
    int closing, empty;          /* </name>, <name/> */
} tag;

/* Both return 0, so a failed step reads `return fail(c, "...")`. */
static int fail(cursor *c, const char *why)
{
    if (!c->error && !c->incomplete) c->error = why;
    return 0;
}

static int more(cursor *c)
{
    if (!c->error) c->incomplete = 1;
    return 0;
}

static size_t left(const cursor *c) { return (size_t)(c->end - c->p); }

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

static int is_alpha(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }

/* 1: the input continues with s; 0: it does not; -1: it ends inside a prefix of s. */
static int continues_with(const cursor *c, const char *s)
{
    size_t n = strlen(s), avail = left(c);
    if (memcmp(c->p, s, avail < n ? avail : n) != 0) return 0;
    return avail < n ? -1 : 1;
}

static int skip_past(cursor *c, const char *terminator)
{
    size_t n = strlen(terminator);
    const char *hit = memmem(c->p, left(c), terminator, n);
    if (!hit) return more(c);
    c->p = hit + n;
    return 1;
}

static int skip_doctype(cursor *c)
{
    const char *gt = memchr(c->p, '>', left(c));
    if (!gt) return more(c);
    if (memchr(c->p, '[', (size_t)(gt - c->p))) return fail(c, "DOCTYPE with an internal subset");
    c->p = gt + 1;
    return 1;
}

/* Whitespace, comments, processing instructions (<?xml …?>) and the DOCTYPE, up to the
 * next element; running out of input here means the document is not finished. */
static int skip_misc(cursor *c)
{
    for (;;) {
        while (c->p < c->end && is_space(*c->p)) c->p++;
        if (c->p == c->end) return more(c);
        int pi = continues_with(c, "<?"), comment = continues_with(c, "<!--");
        int doctype = continues_with(c, "<!DOCTYPE");
        if (pi < 0 || comment < 0 || doctype < 0) return more(c);
        if (!pi && !comment && !doctype) return 1;
        if (!(pi ? skip_past(c, "?>") : comment ? skip_past(c, "-->") : skip_doctype(c)))
            return 0;
    }
}

static int all_space(const char *s, const char *end)
{
    for (; s < end; s++)
        if (!is_space(*s)) return 0;
    return 1;
}

/* <name attrs>, <name/> or </name>. Attributes are skipped (only <plist> has one). */
static int read_tag(cursor *c, tag *t)
{
    if (c->p == c->end) return more(c);
    if (*c->p != '<') return fail(c, "expected an element");
    const char *q = c->p + 1;
    t->closing = q < c->end && *q == '/';
    q += t->closing;
    size_t n = 0;
    for (; q < c->end && is_alpha(*q); q++) {
        if (n + 1 == TAG_MAX) return fail(c, "element name too long");
        t->name[n++] = *q;
    }
    t->name[n] = '\0';
    if (q == c->end) return more(c);
    if (n == 0) return fail(c, "expected an element name");
    size_t avail = (size_t)(c->end - q), span = avail < ATTRS_MAX ? avail : ATTRS_MAX;
    const char *gt = memchr(q, '>', span);
    if (!gt) return span < ATTRS_MAX ? more(c) : fail(c, "element tag too long");
    t->empty = !t->closing && gt > q && gt[-1] == '/';
    const char *attrs_end = gt - t->empty;
    int bad = t->closing ? !all_space(q, attrs_end) : q < attrs_end && !is_space(*q);
    if (bad || memchr(q, '<', (size_t)(attrs_end - q)) || memchr(q, '\0', (size_t)(attrs_end - q)))
        return fail(c, "malformed element tag");
    c->p = gt + 1;
    return 1;
}

/* The character data up to the next '<'. */
static int read_text(cursor *c, const char **s, size_t *n)
{
    const char *lt = memchr(c->p, '<', left(c));
    size_t len = lt ? (size_t)(lt - c->p) : left(c);
    if (memchr(c->p, '\0', len)) return fail(c, "NUL byte inside the document");
    if (!lt) return more(c);
    *s = c->p;
    *n = len;
    c->p = lt;
    return 1;
}

static int expect_close(cursor *c, const char *name)
{
    tag t;
    if (!read_tag(c, &t)) return 0;
    /* NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Branch): read_tag fills t when it returns 1 */
    if (!t.closing || strcmp(t.name, name) != 0) return fail(c, "mismatched closing tag");
    return 1;
}

/* ---- values ------------------------------------------------------------------------------ */

static int key_of(scope sc, const char *key)
{
    static const char *const top[] = {"elapsed_ns", "hw_model", "processor", "gpu"};
    if (!key) return -1;
    for (int k = 0; sc == SCOPE_TOP && k < 4; k++)
        if (!strcmp(key, top[k])) return k;
    if (sc == SCOPE_GPU && !strcmp(key, "gpu_energy")) return K_GPU_DICT_ENERGY;
    for (int d = 0; sc == SCOPE_PROCESSOR && d < PW_PM_NDOMAINS; d++) {
        if (!strcmp(key, energy_keys[d])) return K_ENERGY + d;
        if (!strcmp(key, power_keys[d])) return K_POWER + d;
    }
    return -1;
}

static double power_of_ten(int e)
{
    static const double exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    return e <= 22 ? exact[e] : pow(10.0, e);
}

static int parse_digits(const char **s, const char *end, uint64_t *mant, int *digits, int *dropped)
{
    int any = 0;
    for (; *s < end && **s >= '0' && **s <= '9'; (*s)++, any = 1) {
        if (*digits < 18) {
            *mant = *mant * 10 + (uint64_t)(**s - '0');
            if (*mant) (*digits)++;
        } else {
            (*dropped)++;                  /* beyond 18 significant digits: scale only */
        }
    }
    return any;
}

/* [+-]digits[.digits][(e|E)[+-]digits], locale-independent (strtod follows LC_NUMERIC,
 * which a host application may have set to a comma). Exact for integers below 10^18. */
static int parse_number(const char *s, size_t n, double *out)
{
    while (n && is_space(*s)) s++, n--;
    while (n && is_space(s[n - 1])) n--;
    const char *end = s + n;
    if (n == 0 || n > NUMBER_MAX) return 0;
    int neg = *s == '-', digits = 0, dropped = 0, frac = 0, exp = 0;
    uint64_t mant = 0;
    s += neg || *s == '+';
    int any = parse_digits(&s, end, &mant, &digits, &dropped);
    if (s < end && *s == '.') {
        const char *f = ++s;
        int fdropped = 0;
        any |= parse_digits(&s, end, &mant, &digits, &fdropped);
        frac = (int)(s - f) - fdropped;
    }
    if (!any) return 0;
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        int eneg = s < end && *s == '-';
        s += s < end && (*s == '-' || *s == '+');
        uint64_t e = 0;
        int ed = 0, edrop = 0;
        if (!parse_digits(&s, end, &e, &ed, &edrop) || edrop || e > 400) return 0;
        exp = eneg ? -(int)e : (int)e;
    }
    if (s != end) return 0;
    int scale = exp + dropped - frac;
    double v = (double)mant;
    v = scale >= 0 ? v * power_of_ten(scale > 400 ? 400 : scale)
                   : v / power_of_ten(-scale > 400 ? 400 : -scale);
    *out = neg ? -v : v;
    return isfinite(*out);
}

static void copy_model(char *dst, const char *s, size_t n)
{
    size_t i = 0;
    for (; i < n && i + 1 < PW_PM_MODEL_MAX; i++) {
        unsigned char ch = (unsigned char)s[i];
        dst[i] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
    }
    dst[i] = '\0';
}

static int store_number(cursor *c, int k, double v)
{
    pw_pm_sample *o = c->out;
    if (k == K_ELAPSED) {
        if (!(v > 0 && v <= MAX_ELAPSED_NS)) return fail(c, "elapsed_ns out of range");
        o->elapsed_ns = (uint64_t)v;
    } else if (k == K_GPU_DICT_ENERGY) {
        if (!(v >= 0 && v <= MAX_ENERGY_MJ)) return fail(c, "gpu.gpu_energy out of range");
        o->gpu_dict_energy_mj = v;
        o->has_gpu_dict_energy = 1;
    } else if (k < K_POWER) {
        if (!(v >= 0 && v <= MAX_ENERGY_MJ)) return fail(c, "an energy (mJ) out of range");
        o->energy_mj[k - K_ENERGY] = v;
        o->has_energy |= 1u << (k - K_ENERGY);
    } else {
        if (!(v >= 0 && v <= MAX_POWER_MW)) return fail(c, "a power (mW) out of range");
        o->power_mw[k - K_POWER] = v;
        o->has_power |= 1u << (k - K_POWER);
    }
    return 1;
}

/* Keeps the value if its key is one of ours; type is the element ("integer", "dict"…),
 * text its character data (NULL for containers and booleans). */
static int store(cursor *c, scope sc, const char *key, const char *type, const char *s, size_t n)
{
    int k = key_of(sc, key);
    double v;
    if (k < 0) return 1;
    if (c->seen & (1u << k)) return fail(c, "a key is repeated");
    c->seen |= 1u << k;
    if (k == K_PROCESSOR || k == K_GPU)
        return !strcmp(type, "dict") || fail(c, "processor or gpu is not a dictionary");
    if (k == K_MODEL) {
        if (strcmp(type, "string") != 0) return fail(c, "hw_model is not a string");
        copy_model(c->out->hw_model, s, n);
        return 1;
    }
    if ((strcmp(type, "integer") && strcmp(type, "real")) || !parse_number(s, n, &v))
        return fail(c, "a value that should be a number is not one");
    return store_number(c, k, v);
}

static int parse_value(cursor *c, const tag *t, scope sc, const char *key, int depth);

static scope child_scope(scope sc, const char *key)
{
    int k = key_of(sc, key);
    return k == K_PROCESSOR ? SCOPE_PROCESSOR : k == K_GPU ? SCOPE_GPU : SCOPE_OTHER;
}

static int parse_dict(cursor *c, scope sc, int depth)
{
    for (;;) {
        tag t;
        char key[KEY_MAX];
        const char *s;
        size_t n;
        if (!skip_misc(c) || !read_tag(c, &t)) return 0;
        if (t.closing) return !strcmp(t.name, "dict") || fail(c, "mismatched closing tag");
        if (strcmp(t.name, "key") != 0 || t.empty) return fail(c, "expected <key> in a dict");
        if (!read_text(c, &s, &n) || !expect_close(c, "key")) return 0;
        key[0] = '\0';
        if (n < KEY_MAX) memcpy(key, s, n), key[n] = '\0';
        if (!skip_misc(c) || !read_tag(c, &t) || !parse_value(c, &t, sc, key, depth)) return 0;
    }
}

static int parse_array(cursor *c, int depth)
{
    for (;;) {
        tag t;
        if (!skip_misc(c) || !read_tag(c, &t)) return 0;
        if (t.closing) return !strcmp(t.name, "array") || fail(c, "mismatched closing tag");
        if (!parse_value(c, &t, SCOPE_OTHER, NULL, depth)) return 0;
    }
}

static int is_scalar(const char *name)
{
    static const char *const scalars[] = {"integer", "real", "string", "date", "data"};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        if (!strcmp(name, scalars[i])) return 1;
    return 0;
}

/* One value whose opening tag t was just read; containers recurse, bounded by depth. */
static int parse_value(cursor *c, const tag *t, scope sc, const char *key, int depth)
{
    const char *s = "";
    size_t n = 0;
    if (t->closing) return fail(c, "unexpected closing tag");
    if (depth > PW_PM_DEPTH_MAX) return fail(c, "nested too deeply");
    if (!strcmp(t->name, "dict")) {
        if (!t->empty && !parse_dict(c, child_scope(sc, key), depth + 1)) return 0;
    } else if (!strcmp(t->name, "array")) {
        if (!t->empty && !parse_array(c, depth + 1)) return 0;
    } else if (!strcmp(t->name, "true") || !strcmp(t->name, "false")) {
        if (!t->empty) return fail(c, "<true> and <false> must be empty elements");
    } else if (!is_scalar(t->name)) {
        return fail(c, "unknown element");
    } else if (!t->empty && !(read_text(c, &s, &n) && expect_close(c, t->name))) {
        return 0;
    }
    return store(c, sc, key, t->name, s, n);
}

static int parse_document(cursor *c)
{
    tag t;
    if (!skip_misc(c) || !read_tag(c, &t)) return 0;
    if (t.closing || t.empty || strcmp(t.name, "plist") != 0) return fail(c, "expected <plist>");
    if (!skip_misc(c) || !read_tag(c, &t)) return 0;
    if (t.closing || strcmp(t.name, "dict") != 0) return fail(c, "the plist is not a dict");
    if (!t.empty && !parse_dict(c, SCOPE_TOP, 1)) return 0;
    return skip_misc(c) && expect_close(c, "plist");
}

int pw_pm_parse(const char *buf, size_t len, pw_pm_sample *out, size_t *used,
                const char **error)
{
    /* cppcheck-suppress ctuuninitvar ; out is only stored here, and zeroed on the next line */
    cursor c = {buf ? buf : "", (buf ? buf : "") + (buf ? len : 0), NULL, 0, 0, out};
    memset(out, 0, sizeof *out);
    int ok = parse_document(&c);
    if (ok && !(out->has_energy & (1u << PW_PM_GPU)) && out->has_gpu_dict_energy) {
        out->energy_mj[PW_PM_GPU] = out->gpu_dict_energy_mj;     /* older layouts */
        out->has_energy |= 1u << PW_PM_GPU;
    }
    *used = (size_t)(c.p - (buf ? buf : ""));
    *error = ok ? NULL : c.incomplete ? "the document is not finished" : c.error;
    return ok ? PW_OK : c.incomplete ? PW_PM_INCOMPLETE : PW_ERR_FORMAT;
}

int pw_pm_energy_uj(const pw_pm_sample *s, int domain, double *uj, int *from_power)
{
    if (domain < 0 || domain >= PW_PM_NDOMAINS) return PW_ERR_INVALID;
    unsigned bit = 1u << domain;
    int power = !(s->has_energy & bit);
    if (power && (!(s->has_power & bit) || !s->elapsed_ns)) return PW_ERR_NOT_FOUND;
    /* mW × ns = 1e-12 J = 1e-6 µJ */
    *uj = power ? s->power_mw[domain] * (double)s->elapsed_ns / 1e6 : s->energy_mj[domain] * 1e3;
    if (from_power) *from_power = power;
    return PW_OK;
}

const char *pw_pm_domain_name(int domain)
{
    return domain >= 0 && domain < PW_PM_NDOMAINS ? domain_names[domain] : "?";
}
