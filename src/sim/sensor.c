/* sensor.c — the sensor models: true cumulative energy in, what a counter register or an
 * averaged-power reading would say out, plus the named presets that mimic real sensors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim/sensor.h"

void pw_sensor_model_default(pw_sensor_model *m)
{
    *m = (pw_sensor_model){.quantum_uj = 1.0, .bits = 64, .seed = 1};
}

static uint64_t next_u64(uint64_t *state);

uint64_t pw_sensor_grid_offset(const pw_sensor_model *m)
{
    if (m->period_ns == 0) return 0;
    if (!m->offset_random) return m->offset_ns % m->period_ns;
    uint64_t state = m->seed ^ 0x6a09e667f3bcc909ull;   /* a stream apart from the noise's */
    return next_u64(&state) % m->period_ns;
}

void pw_sensor_init(pw_sensor *s, const pw_sensor_model *m)
{
    *s = (pw_sensor){.m = *m, .rng = m->seed};
    s->m.offset_ns = pw_sensor_grid_offset(m);
    s->m.offset_random = 0;
}

/* Figures and their sources: docs/attribution.md, "Sensor presets". */
static const struct preset { const char *name; pw_sensor_model m; } presets[] = {
    {"rapl", {.kind = PW_SENSOR_COUNTER, .period_ns = 976562, .offset_random = 1,
              .quantum_uj = 15.2587890625, .bits = 32, .noise_w = 0.2, .seed = 1,
              .jitter_ns = 20000}},
    {"nvml-energy", {.kind = PW_SENSOR_COUNTER, .period_ns = 20000000, .offset_random = 1,
                     .quantum_uj = 1000, .bits = 64, .noise_w = 2.0, .seed = 1,
                     .jitter_ns = 100000}},
    {"nvml-power", {.kind = PW_SENSOR_AVERAGE, .period_ns = 100000000, .offset_random = 1,
                    .window_ns = 1000000000, .quantum_mw = 1, .coverage = 0.25, .noise_w = 1.0,
                    .seed = 1, .jitter_ns = 100000}},
    {"powermetrics", {.kind = PW_SENSOR_COUNTER, .period_ns = 50000000, .offset_random = 1,
                      .quantum_uj = 1000, .bits = 64, .noise_w = 0.1, .seed = 1,
                      .jitter_ns = 1000000}},
};

int pw_sensor_preset(const char *name, pw_sensor_model *m)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (name && strcmp(name, presets[i].name) == 0) {
            *m = presets[i].m;
            return PW_OK;
        }
    return PW_ERR_NOT_FOUND;
}

const char *pw_sensor_preset_name(size_t i)
{
    return i < sizeof presets / sizeof presets[0] ? presets[i].name : NULL;
}

double pw_sensor_coverage(const pw_sensor_model *m)
{
    return m->coverage > 0 && m->coverage < 1 ? m->coverage : 1.0;
}

static uint64_t window_of(const pw_sensor_model *m)
{
    return m->window_ns > m->period_ns ? m->window_ns : m->period_ns;
}

uint64_t pw_sensor_lookback_ns(const pw_sensor_model *m)
{
    return m->period_ns + m->latency_ns + window_of(m);
}

uint64_t pw_sensor_modulus(const pw_sensor_model *m)
{
    return m->bits == 0 || m->bits >= 64 ? 0 : (uint64_t)1 << m->bits;
}

/* ---- noise ------------------------------------------------------------------------------ */

/* splitmix64: every seed, 0 included, starts a good stream, and the state is one word. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1): never 0, so the logarithm below is finite. */
static double uniform_open(uint64_t *state)
{
    return ((double)(next_u64(state) >> 11) + 0.5) * 0x1p-53;
}

/* One standard normal draw (Box-Muller; the second value is dropped to keep no state). */
static double normal(uint64_t *state)
{
    double u = uniform_open(state), v = uniform_open(state);
    return sqrt(-2.0 * log(u)) * cos(2.0 * 3.14159265358979323846 * v);
}

/* The noise energy of n updates: n independent draws of noise_w * period summed, which is one
 * draw scaled by sqrt(n), so a read after a long gap costs no more than one after a short. */
static double noise_over(pw_sensor *s, uint64_t n)
{
    if (n == 0 || s->m.noise_w <= 0) return 0;
    double per_update_j = s->m.noise_w * (double)s->m.period_ns * 1e-9;
    return per_update_j * sqrt((double)n) * normal(&s->rng);
}

/* ---- the register ---------------------------------------------------------------------- */

/* Loads the register with truth plus noise. A counter never runs backwards, so a value below
 * the last one is clamped to it; the noise walk itself goes on unclamped, so the register
 * stays within the walk's spread of the truth instead of drifting up with every clamp. */
static void load_register(pw_sensor *s, double true_j)
{
    double reg = true_j + s->noise_j;
    if (reg > s->reg_j) s->reg_j = reg;
}

/* floor(register / quantum) kept to the counter's width; saturates instead of overflowing. */
static uint64_t quantise(const pw_sensor_model *m, double reg_j)
{
    double quantum = m->quantum_uj > 0 ? m->quantum_uj : 1.0;
    double counts = floor(reg_j * 1e6 / quantum);
    if (!(counts > 0)) return 0;
    uint64_t modulus = pw_sensor_modulus(m);
    if (modulus) counts = fmod(counts, (double)modulus);
    return counts >= 0x1p64 ? UINT64_MAX : (uint64_t)counts;
}

static uint64_t before(uint64_t t, uint64_t d) { return t > d ? t - d : 0; }

/* Energy the sensor counts for the period that ends at update u: all of it, or (part-time
 * sampling) only its last `coverage`, scaled up to the whole period. */
static double seen_in_period(const pw_sensor_model *m, pw_true_energy_fn fn, void *ctx,
                             uint64_t u)
{
    uint64_t end = before(u, m->latency_ns);
    uint64_t span = (uint64_t)llround(pw_sensor_coverage(m) * (double)m->period_ns);
    if (span == 0) span = 1;
    double e = fn(ctx, end) - fn(ctx, before(end, span));
    return e * (double)m->period_ns / (double)span;
}

/* Updates at most this many periods one by one after a gap between reads; beyond, the gap
 * is counted whole (a part-time sensor read that rarely is an odd use). */
#define MAX_STEPPED_UPDATES 1000000u

/* The register's truth at update k: the energy to that instant (minus latency), or for a
 * part-time sensor the sum of what it saw in every period since it started. */
static double counter_truth(pw_sensor *s, pw_true_energy_fn fn, void *ctx, uint64_t k,
                            uint64_t phase)
{
    const pw_sensor_model *m = &s->m;
    uint64_t u = k * m->period_ns + phase;
    if (pw_sensor_coverage(m) >= 1 || !s->started || k - s->last_update > MAX_STEPPED_UPDATES) {
        s->seen_j = fn(ctx, before(u, m->latency_ns));
        return s->seen_j;
    }
    for (uint64_t j = s->last_update + 1; j <= k; j++)
        s->seen_j += seen_in_period(m, fn, ctx, j * m->period_ns + phase);
    return s->seen_j;
}

/* The last update at or before t_ns, or 0 with *none set when there has been none. */
static uint64_t last_update(const pw_sensor_model *m, uint64_t t_ns, int *none)
{
    uint64_t phase = m->offset_ns % m->period_ns;
    *none = t_ns < phase;
    return *none ? 0 : (t_ns - phase) / m->period_ns;
}

uint64_t pw_sensor_read_raw(pw_sensor *s, pw_true_energy_fn fn, void *ctx, uint64_t t_ns)
{
    const pw_sensor_model *m = &s->m;
    if (m->period_ns == 0) {
        load_register(s, fn(ctx, before(t_ns, m->latency_ns)));
        return quantise(m, s->reg_j);
    }
    int none;
    uint64_t k = last_update(m, t_ns, &none), phase = m->offset_ns % m->period_ns;
    if (none) return quantise(m, s->reg_j);   /* no update yet: the reset value */
    if (!s->started || k > s->last_update) {
        /* Noise starts with the first read: the sensor is switched on then. */
        s->noise_j += noise_over(s, s->started ? k - s->last_update : 0);
        load_register(s, counter_truth(s, fn, ctx, k, phase));
        s->last_update = k;
        s->started = 1;
    }
    return quantise(m, s->reg_j);
}

/* ---- averaged power ------------------------------------------------------------------- */

/* Mean power (W) of the window that ends at update u: with part-time sampling, the mean of
 * what the sensor saw in each period of the window. */
static double window_power(const pw_sensor_model *m, pw_true_energy_fn fn, void *ctx,
                           uint64_t u)
{
    uint64_t w = window_of(m), end = before(u, m->latency_ns);
    if (w == 0) return 0;
    if (pw_sensor_coverage(m) >= 1 || m->period_ns == 0)
        return (fn(ctx, end) - fn(ctx, before(end, w))) / ((double)w * 1e-9);
    uint64_t n = (w + m->period_ns / 2) / m->period_ns;
    double e = 0;
    for (uint64_t i = 0; i < n; i++)
        e += seen_in_period(m, fn, ctx, before(u, i * m->period_ns));
    return e / ((double)(n * m->period_ns) * 1e-9);
}

static double publish(pw_sensor *s, double watts)
{
    const pw_sensor_model *m = &s->m;
    if (m->noise_w > 0) watts += m->noise_w * normal(&s->rng);
    double q = m->quantum_mw > 0 ? m->quantum_mw : 1.0;
    watts = (double)llround(watts * 1e3 / q) * q * 1e-3;
    return watts > 0 ? watts : 0;
}

double pw_sensor_read_power(pw_sensor *s, pw_true_energy_fn fn, void *ctx, uint64_t t_ns)
{
    const pw_sensor_model *m = &s->m;
    if (m->period_ns == 0) return publish(s, window_power(m, fn, ctx, t_ns));
    int none;
    uint64_t k = last_update(m, t_ns, &none), phase = m->offset_ns % m->period_ns;
    if (none) return 0;
    if (!s->started || k > s->last_update) {
        s->power_w = publish(s, window_power(m, fn, ctx, k * m->period_ns + phase));
        s->last_update = k;
        s->started = 1;
    }
    return s->power_w;
}

uint64_t pw_sensor_jitter(pw_sensor *s)
{
    if (s->m.jitter_ns == 0) return 0;
    return (uint64_t)(uniform_open(&s->rng) * (double)s->m.jitter_ns);
}

/* ---- the meter: what a recorder stores ----------------------------------------------- */

void pw_meter_init(pw_meter *m, const pw_sensor_model *model)
{
    *m = (pw_meter){0};
    pw_sensor_init(&m->sensor, model);
    pw_counter_init(&m->counter, pw_sensor_modulus(model));
}

static uint64_t to_uj(double uj)
{
    uj += 0.5;
    return uj >= 0x1p64 ? UINT64_MAX : uj > 0 ? (uint64_t)uj : 0;
}

uint64_t pw_meter_read_uj(pw_meter *m, pw_true_energy_fn fn, void *ctx, uint64_t t_ns)
{
    const pw_sensor_model *model = &m->sensor.m;
    if (model->kind == PW_SENSOR_COUNTER) {
        uint64_t raw = pw_sensor_read_raw(&m->sensor, fn, ctx, t_ns);
        double quantum = model->quantum_uj > 0 ? model->quantum_uj : 1.0;
        return to_uj((double)pw_counter_update(&m->counter, raw) * quantum);
    }
    double watts = pw_sensor_read_power(&m->sensor, fn, ctx, t_ns);
    if (m->started && t_ns > m->last_t_ns)
        m->integrated_uj += watts * (double)(t_ns - m->last_t_ns) * 1e-3;   /* W x ns */
    m->last_t_ns = t_ns;
    m->started = 1;
    return to_uj(m->integrated_uj);
}

int pw_sensor_write_meta(const pw_sensor_model *m, const char *source, const pw_sink *out)
{
    char values[5][32], key[128];
    static const char *const names[5] = {"kind", "period_ns", "window_ns", "coverage",
                                         "latency_ns"};
    snprintf(values[0], sizeof values[0], "%s",
             m->kind == PW_SENSOR_AVERAGE ? "average" : "counter");
    snprintf(values[1], sizeof values[1], "%llu", (unsigned long long)m->period_ns);
    snprintf(values[2], sizeof values[2], "%llu", (unsigned long long)window_of(m));
    snprintf(values[3], sizeof values[3], "%.9g", pw_sensor_coverage(m));
    snprintf(values[4], sizeof values[4], "%llu", (unsigned long long)m->latency_ns);
    int rc = PW_OK;
    for (size_t i = 0; i < 5 && rc == PW_OK; i++) {
        snprintf(key, sizeof key, "sensor.%s.%s", source, names[i]);
        rc = pw_sink_meta(out, key, values[i]);
    }
    return rc;
}

/* "1 ms", "250 us", "7 ns": the largest unit that keeps the number whole. */
static void format_ns(uint64_t ns, char *buf, size_t len)
{
    static const struct { uint64_t ns; const char *unit; } units[] = {
        {1000000000ull, "s"}, {1000000, "ms"}, {1000, "us"}, {1, "ns"}};
    size_t i = 0;
    while (ns % units[i].ns != 0) i++;
    snprintf(buf, len, "%llu %s", (unsigned long long)(ns / units[i].ns), units[i].unit);
}

/* The optional parts of the description: only what differs from an ideal sensor. */
static void describe_extras(const pw_sensor_model *m, char *buf, size_t len)
{
    char t[32];
    size_t n = 0;
    buf[0] = '\0';
    if (pw_sensor_coverage(m) < 1 && n < len)
        n += (size_t)snprintf(buf + n, len - n, ", sees %g%% of each period",
                              100 * pw_sensor_coverage(m));
    if (m->latency_ns && n < len) {
        format_ns(m->latency_ns, t, sizeof t);
        n += (size_t)snprintf(buf + n, len - n, ", latency %s", t);
    }
    if (m->jitter_ns && n < len) {
        format_ns(m->jitter_ns, t, sizeof t);
        snprintf(buf + n, len - n, ", reads up to %s late", t);
    }
}

void pw_sensor_describe(const pw_sensor_model *m, char *buf, size_t len)
{
    char period[32], offset[48] = "", width[32], extras[160], window[32];
    format_ns(m->period_ns, period, sizeof period);
    describe_extras(m, extras, sizeof extras);
    if (m->period_ns && pw_sensor_grid_offset(m)) {
        char off[32];
        format_ns(pw_sensor_grid_offset(m), off, sizeof off);
        snprintf(offset, sizeof offset, " (offset %s)", off);
    }
    if (m->kind == PW_SENSOR_AVERAGE) {
        format_ns(window_of(m), window, sizeof window);
        snprintf(buf, len, "averaged power: mean of the last %s, updates every %s%s, %g mW "
                 "resolution, noise %g W (seed %llu)%s", window, period, offset,
                 m->quantum_mw > 0 ? m->quantum_mw : 1.0, m->noise_w,
                 (unsigned long long)m->seed, extras);
        return;
    }
    if (pw_sensor_modulus(m)) snprintf(width, sizeof width, "%u-bit (wraps)", m->bits);
    else snprintf(width, sizeof width, "64-bit (no wrap)");
    double quantum = m->quantum_uj > 0 ? m->quantum_uj : 1.0;
    if (m->period_ns == 0)
        snprintf(buf, len, "counter: continuous (exact at each read), %g uJ per count, %s%s",
                 quantum, width, extras);
    else
        snprintf(buf, len,
                 "counter: updates every %s%s, %g uJ per count, %s, "
                 "noise %g W per update (seed %llu)%s",
                 period, offset, quantum, width, m->noise_w, (unsigned long long)m->seed,
                 extras);
}
