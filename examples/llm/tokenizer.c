/* tokenizer.c — text to tokens and back: llama2.c's tokenizer.bin (BPE merges by score)
 * when given, else byte-level with llama's byte-fallback ids (byte b is token 3 + b). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"

#define PIECE_MAX 512    /* longest token text accepted from tokenizer.bin */

typedef struct vocab_entry {
    const char *text;
    int id;
} vocab_entry;

struct llm_tokenizer {
    int vocab_size;
    char **pieces;            /* [vocab_size], NULL for byte-level */
    float *scores;
    vocab_entry *sorted;      /* pieces by text, for lookups */
};

static void tokenizer_free_parts(llm_tokenizer *t)
{
    if (t->pieces)
        for (int i = 0; i < t->vocab_size; i++) free(t->pieces[i]);
    free(t->pieces);
    free(t->scores);
    free(t->sorted);
    free(t);
}

void llm_tokenizer_free(llm_tokenizer *t)
{
    if (t) tokenizer_free_parts(t);
}

static int by_text(const void *a, const void *b)
{
    return strcmp(((const vocab_entry *)a)->text, ((const vocab_entry *)b)->text);
}

/* One entry: float score, int32 length, that many bytes. */
static int read_piece(FILE *f, llm_tokenizer *t, int i)
{
    int32_t len;
    if (fread(&t->scores[i], sizeof(float), 1, f) != 1 || fread(&len, 4, 1, f) != 1)
        return 0;
    if (len < 0 || len > PIECE_MAX) return 0;
    t->pieces[i] = malloc((size_t)len + 1);
    if (!t->pieces[i] || fread(t->pieces[i], 1, (size_t)len, f) != (size_t)len) return 0;
    t->pieces[i][len] = '\0';
    t->sorted[i] = (vocab_entry){t->pieces[i], i};
    return 1;
}

static int load_pieces(const char *path, llm_tokenizer *t, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open tokenizer %s: %s", path, strerror(errno));
        return PW_ERR_NOT_FOUND;
    }
    int32_t max_len;
    int i = 0;
    if (fread(&max_len, 4, 1, f) == 1 && max_len > 0 && max_len <= PIECE_MAX)
        while (i < t->vocab_size && read_piece(f, t, i)) i++;
    fclose(f);
    if (i == t->vocab_size) return PW_OK;
    snprintf(why, whylen, "bad tokenizer %s: entry %d of %d is truncated or malformed", path,
             i, t->vocab_size);
    return PW_ERR_FORMAT;
}

int llm_tokenizer_open(const char *path, int vocab_size, llm_tokenizer **out, char *why,
                       size_t whylen)
{
    *out = NULL;
    if (!path && vocab_size < LLM_BYTE0 + 256) {
        snprintf(why, whylen, "the byte-level tokenizer needs a vocabulary of at least %d "
                 "tokens (the model has %d): give --tokenizer", LLM_BYTE0 + 256, vocab_size);
        return PW_ERR_INVALID;
    }
    llm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return PW_ERR_NOMEM;
    t->vocab_size = vocab_size;
    if (!path) {
        *out = t;
        return PW_OK;
    }
    t->pieces = calloc((size_t)vocab_size, sizeof *t->pieces);
    t->scores = calloc((size_t)vocab_size, sizeof *t->scores);
    t->sorted = calloc((size_t)vocab_size, sizeof *t->sorted);
    int rc = t->pieces && t->scores && t->sorted ? load_pieces(path, t, why, whylen)
                                                 : PW_ERR_NOMEM;
    if (rc != PW_OK) {
        tokenizer_free_parts(t);
        return rc;
    }
    qsort(t->sorted, (size_t)vocab_size, sizeof *t->sorted, by_text);
    *out = t;
    return PW_OK;
}

static int lookup(const llm_tokenizer *t, const char *text)
{
    vocab_entry key = {text, 0};
    const vocab_entry *e = bsearch(&key, t->sorted, (size_t)t->vocab_size, sizeof key, by_text);
    return e ? e->id : -1;
}

/* UTF-8 code points to their tokens, falling back to byte tokens. */
static int encode_code_points(const llm_tokenizer *t, const char *text, int *tokens, int cap,
                              int n)
{
    char buf[8];
    for (const char *p = text; *p && n < cap;) {
        size_t len = 1;
        while (len < 4 && ((unsigned char)p[len] & 0xC0) == 0x80) len++;
        memcpy(buf, p, len);
        buf[len] = '\0';
        int id = lookup(t, buf);
        if (id >= 0) tokens[n++] = id;
        else
            for (size_t i = 0; i < len && n < cap; i++) tokens[n++] = LLM_BYTE0 + (unsigned char)p[i];
        p += len;
    }
    return n;
}

/* Merges the adjacent pair whose joined text scores best, until no pair is in the vocab. */
static int merge_pairs(const llm_tokenizer *t, int *tokens, int n, int from)
{
    char buf[2 * PIECE_MAX + 1];
    for (;;) {
        float best = -1e30f;
        int at = -1, id = -1;
        for (int i = from; i + 1 < n; i++) {
            snprintf(buf, sizeof buf, "%s%s", t->pieces[tokens[i]], t->pieces[tokens[i + 1]]);
            int found = lookup(t, buf);
            if (found >= 0 && t->scores[found] > best) {
                best = t->scores[found];
                at = i;
                id = found;
            }
        }
        if (at < 0) return n;
        tokens[at] = id;
        memmove(tokens + at + 1, tokens + at + 2, (size_t)(n - at - 2) * sizeof *tokens);
        n--;
    }
}

int llm_encode(const llm_tokenizer *t, const char *text, int *tokens, int cap, int *n)
{
    if (cap < 1) return PW_ERR_INVALID;
    int count = 0;
    tokens[count++] = LLM_BOS;
    if (!t->pieces) {
        for (const char *p = text; *p && count < cap; p++)
            tokens[count++] = LLM_BYTE0 + (unsigned char)*p;
    } else {
        int space = *text ? lookup(t, " ") : -1;   /* sentencepiece's dummy prefix */
        if (space >= 0 && count < cap) tokens[count++] = space;
        count = encode_code_points(t, text, tokens, cap, count);
        count = merge_pairs(t, tokens, count, 1);
    }
    *n = count;
    return PW_OK;
}

const char *llm_decode(const llm_tokenizer *t, int prev, int token, char *buf, size_t cap)
{
    if (token < 0 || token >= t->vocab_size || token == LLM_BOS || token == LLM_EOS) return "";
    if (!t->pieces) {
        if (token < LLM_BYTE0 + 256) snprintf(buf, cap, "%c", (char)(token - LLM_BYTE0));
        else snprintf(buf, cap, "<%d>", token);
        return buf;
    }
    const char *piece = t->pieces[token];
    unsigned byte;
    if (sscanf(piece, "<0x%02X>", &byte) == 1 && strlen(piece) == 6) {
        snprintf(buf, cap, "%c", (char)byte);
        return buf;
    }
    if (prev == LLM_BOS && piece[0] == ' ') piece++;   /* the dummy prefix is not text */
    return piece;
}
