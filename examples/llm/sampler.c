/* sampler.c — choosing the next token: greedy, temperature, and top-p (nucleus) sampling
 * from a seeded generator, so a seed always gives the same tokens. */
#include <math.h>
#include <stdlib.h>

#include "llm.h"

int llm_sampler_init(llm_sampler *s, int vocab_size, float temperature, float top_p,
                     uint64_t seed)
{
    s->temperature = temperature;
    s->top_p = top_p;
    s->rng = seed * 0x9E3779B97F4A7C15ull + 7;
    s->vocab_size = vocab_size;
    s->candidates = malloc((size_t)vocab_size * sizeof *s->candidates);
    return s->candidates ? PW_OK : PW_ERR_NOMEM;
}

void llm_sampler_free(llm_sampler *s)
{
    free(s->candidates);
    s->candidates = NULL;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int by_probability_desc(const void *a, const void *b)
{
    const llm_candidate *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;   /* ties: a fixed order */
}

/* Samples among the most likely tokens whose probabilities add up to top_p. Tokens below
 * (1 - top_p) / (n - 1) cannot be in the nucleus, so they are dropped before sorting. */
static int sample_top_p(llm_sampler *s, const float *probs, float coin)
{
    int n = s->vocab_size, m = 0;
    float cutoff = (1.0f - s->top_p) / (float)(n > 1 ? n - 1 : 1);
    for (int i = 0; i < n; i++)
        if (probs[i] >= cutoff) {
            s->candidates[m].p = probs[i];
            s->candidates[m++].index = i;
        }
    qsort(s->candidates, (size_t)m, sizeof *s->candidates, by_probability_desc);
    float cumulative = 0.0f;
    int last = m - 1;
    for (int i = 0; i < m; i++) {
        cumulative += s->candidates[i].p;
        if (cumulative > s->top_p) {
            last = i;
            break;
        }
    }
    float r = coin * cumulative, acc = 0.0f;
    for (int i = 0; i <= last; i++) {
        acc += s->candidates[i].p;
        if (r < acc) return s->candidates[i].index;
    }
    return s->candidates[last].index;
}

static int sample_all(const float *probs, int n, float coin)
{
    float acc = 0.0f;
    for (int i = 0; i < n; i++) {
        acc += probs[i];
        if (coin < acc) return i;
    }
    return n - 1;
}

int llm_sample(llm_sampler *s, float *logits)
{
    int n = s->vocab_size;
    if (s->temperature <= 0.0f) return argmax(logits, n);
    float max = logits[argmax(logits, n)], sum = 0.0f;
    for (int i = 0; i < n; i++) sum += logits[i] = expf((logits[i] - max) / s->temperature);
    for (int i = 0; i < n; i++) logits[i] /= sum;
    float coin = llm_rng_float(&s->rng);
    if (s->top_p > 0.0f && s->top_p < 1.0f) return sample_top_p(s, logits, coin);
    return sample_all(logits, n, coin);
}
