/* sensor.c — the counter sensor model: true cumulative energy in, RAPL-like register out. */
#include <math.h>
#include <stdio.h>

#include "sim/sensor.h"

void pw_sensor_model_default(pw_sensor_model *m)
{
    *m = (pw_sensor_model){.quantum_uj = 1.0, .bits = 64, .seed = 1};
}

void pw_sensor_init(pw_sensor *s, const pw_sensor_model *m)
{
    *s = (pw_sensor){.m = *m, .rng = m->seed};
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

uint64_t pw_sensor_read_raw(pw_sensor *s, pw_true_energy_fn fn, void *ctx, uint64_t t_ns)
{
    const pw_sensor_model *m = &s->m;
    if (m->period_ns == 0) {
        load_register(s, fn(ctx, t_ns));
        return quantise(m, s->reg_j);
    }
    uint64_t phase = m->offset_ns % m->period_ns;
    if (t_ns < phase) return quantise(m, s->reg_j);   /* no update yet: the reset value */
    uint64_t k = (t_ns - phase) / m->period_ns;        /* the last update at or before t_ns */
    if (!s->started || k > s->last_update) {
        /* Noise starts with the first read: the sensor is switched on then. */
        s->noise_j += noise_over(s, s->started ? k - s->last_update : 0);
        load_register(s, fn(ctx, k * m->period_ns + phase));
        s->last_update = k;
        s->started = 1;
    }
    return quantise(m, s->reg_j);
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

void pw_sensor_describe(const pw_sensor_model *m, char *buf, size_t len)
{
    char period[32], offset[48] = "", width[32];
    format_ns(m->period_ns, period, sizeof period);
    if (m->period_ns && m->offset_ns % m->period_ns) {
        char off[32];
        format_ns(m->offset_ns % m->period_ns, off, sizeof off);
        snprintf(offset, sizeof offset, " (offset %s)", off);
    }
    if (pw_sensor_modulus(m)) snprintf(width, sizeof width, "%u-bit (wraps)", m->bits);
    else snprintf(width, sizeof width, "64-bit (no wrap)");
    double quantum = m->quantum_uj > 0 ? m->quantum_uj : 1.0;
    if (m->period_ns == 0)
        snprintf(buf, len, "counter: continuous (exact at each read), %g uJ per count, %s",
                 quantum, width);
    else
        snprintf(buf, len,
                 "counter: updates every %s%s, %g uJ per count, %s, "
                 "noise %g W per update (seed %llu)",
                 period, offset, quantum, width, m->noise_w, (unsigned long long)m->seed);
}
