/* checkpoint.c — fuzz target: the llama2.c checkpoint loader of the reference engine
 * (legacy v0 and v1 "ak42" headers, shapes, sizes). */
#include <stdlib.h>
#include <string.h>

#include "../examples/llm/llm.h"
#include "fuzz.h"

static int run(const uint8_t *data, size_t len)
{
    unsigned char *buf = malloc(len ? len : 1);   /* the loader owns a malloc'd copy */
    if (!buf) return 0;
    memcpy(buf, data, len);
    llm_config c;
    llm_weights w;
    char why[512];
    if (llm_weights_from_buffer(buf, len, &c, &w, why, sizeof why) == PW_OK) llm_weights_free(&w);
    return 0;
}

static void put32(unsigned char *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(u >> (8 * i));
}

/* A tiny legacy checkpoint: 7 header ints, then the weights the shape announces. */
static int seeds(const char *dir)
{
    static const int32_t shape[7] = {8, 16, 1, 2, 2, 32, 8};   /* dim hidden layers heads kv vocab seq */
    llm_config c = {0};
    c.dim = 8, c.hidden_dim = 16, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 2;
    c.vocab_size = 32, c.seq_len = 8, c.shared_classifier = 1;
    size_t floats = (size_t)(llm_param_count(&c) + (uint64_t)c.seq_len * (uint64_t)(c.dim / c.n_heads));
    size_t len = 28 + 4 * floats;
    unsigned char *buf = calloc(1, len);
    if (!buf) return -1;
    for (int i = 0; i < 7; i++) put32(buf + 4 * i, shape[i]);
    for (size_t i = 0; i < floats; i++) {
        float f = (float)((int)(i % 17) - 8) / 64.0f;
        memcpy(buf + 28 + 4 * i, &f, 4);
    }
    int rc = pw_fuzz_write_seed(dir, "tiny-v0.bin", buf, len);
    static const unsigned char v1_header[] = {'2', '4', 'k', 'a', 1, 0, 0, 0};
    if (rc == 0) rc = pw_fuzz_write_seed(dir, "v1-magic.bin", v1_header, sizeof v1_header);
    free(buf);
    return rc;
}

const pw_fuzz_target pw_fuzz_checkpoint = {"checkpoint", run, seeds};
PW_FUZZ_ENTRY(pw_fuzz_checkpoint)
