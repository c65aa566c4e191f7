/* paths.c — the phase tree's names, stored once per name id, and node paths built on demand
 * from the parent links: a node costs its links, not its path (issue 23: a deep, wide tree
 * of long names held ~16 kB of path per node). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/attribute.h"
#include "base/hash.h"

#define BLOCK_BYTES 65536

/* Strings are appended to blocks that never move, so a node's name pointer stays valid. */
typedef struct name_block {
    struct name_block *next;
    size_t used, cap;
    char text[];
} name_block;

struct pw_names {
    name_block *blocks;         /* the newest first */
    uint32_t *ids;              /* open addressing: name id -> its stored name */
    const char **name;          /* NULL: an empty slot */
    size_t nslots, n;
};

static const char *store(pw_names *s, const char *text)
{
    size_t len = strlen(text) + 1;
    name_block *b = s->blocks;
    if (!b || b->cap - b->used < len) {
        size_t cap = len > BLOCK_BYTES ? len : BLOCK_BYTES;
        if (!(b = malloc(sizeof *b + cap))) return NULL;
        *b = (name_block){.next = s->blocks, .cap = cap};
        s->blocks = b;
    }
    char *at = b->text + b->used;
    memcpy(at, text, len);
    b->used += len;
    return at;
}

static size_t slot_of(const pw_names *s, uint32_t id)
{
    size_t mask = s->nslots - 1, i = (size_t)pw_hash_u64(id) & mask;   /* seeded: ids come from files */
    while (s->name[i] && s->ids[i] != id) i = (i + 1) & mask;
    return i;
}

/* Keeps the table at most half full. */
static int rehash(pw_names *s)
{
    pw_names old = *s;
    s->nslots = old.nslots ? old.nslots * 2 : 64;
    s->ids = calloc(s->nslots, sizeof *s->ids);
    s->name = calloc(s->nslots, sizeof *s->name);
    if (!s->ids || !s->name) {
        free(s->ids);
        free(s->name);
        s->ids = old.ids, s->name = old.name, s->nslots = old.nslots;
        return PW_ERR_NOMEM;
    }
    for (size_t i = 0; i < old.nslots; i++) {
        if (!old.name[i]) continue;
        size_t k = slot_of(s, old.ids[i]);
        s->ids[k] = old.ids[i];
        s->name[k] = old.name[i];
    }
    free(old.ids);
    free(old.name);
    return PW_OK;
}

const char *pw_names_intern(pw_attribution *a, const pw_trace *t, uint32_t id)
{
    if (!a->names && !(a->names = calloc(1, sizeof *a->names))) return NULL;
    pw_names *s = a->names;
    if ((s->n + 1) * 2 > s->nslots && rehash(s) != PW_OK) return NULL;
    size_t i = slot_of(s, id);
    if (s->name[i]) return s->name[i];
    char unknown[16];
    const char *name = pw_trace_name(t, id);
    if (!name) {
        snprintf(unknown, sizeof unknown, "#%u", id);
        name = unknown;
    }
    const char *copy = store(s, name);
    if (!copy) return NULL;
    s->ids[i] = id;
    s->name[i] = copy;
    s->n++;
    return copy;
}

void pw_names_free(pw_names *s)
{
    if (!s) return;
    for (name_block *b = s->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(s->ids);
    free(s->name);
    free(s);
}

/* ---- paths ----------------------------------------------------------------------------- */

const char *pw_node_path(const pw_attribution *a, size_t k, pw_path_buf *buf)
{
    size_t len = 0;
    for (size_t i = k; i != 0; i = (size_t)a->nodes[i].parent) len += strlen(a->nodes[i].name) + 1;
    if (len) len--;   /* no '/' before the top level */
    if (len + 1 > buf->cap) {
        char *s = realloc(buf->s, len + 1);
        if (!s) return NULL;
        buf->s = s;
        buf->cap = len + 1;
    }
    buf->s[len] = '\0';
    for (size_t i = k, end = len; i != 0; i = (size_t)a->nodes[i].parent) {
        size_t n = strlen(a->nodes[i].name);
        end -= n;
        memcpy(buf->s + end, a->nodes[i].name, n);
        if (end) buf->s[--end] = '/';
    }
    return buf->s;
}

void pw_path_buf_free(pw_path_buf *buf)
{
    free(buf->s);
    *buf = (pw_path_buf){0};
}

/* The child of node p named by the len bytes at name, or -1. Nodes are depth-first, so p's
 * descendants follow it until the depth returns to p's. */
static int child_named(const pw_attribution *a, size_t p, const char *name, size_t len)
{
    for (size_t i = p + 1; i < a->nnodes && a->nodes[i].depth > a->nodes[p].depth; i++) {
        const pw_phase_node *n = &a->nodes[i];
        if ((size_t)n->parent == p && strncmp(n->name, name, len) == 0 && n->name[len] == '\0')
            return (int)i;
    }
    return -1;
}

int pw_attribution_find(const pw_attribution *a, const char *path)
{
    size_t n = path ? strlen(path) : 0;
    if (!a || !path || !a->nnodes || (n && path[n - 1] == '/')) return -1;
    int at = 0;
    while (*path && at >= 0) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        at = child_named(a, (size_t)at, path, len);
        path += len + (slash != NULL);
    }
    return at;
}

/* ---- finding a node by its parent and name id ------------------------------------------ */

static int cmp_key(const void *x, const void *y)
{
    const pw_node_key *a = x, *b = y;
    if (a->parent != b->parent) return a->parent < b->parent ? -1 : 1;
    return (a->name_id > b->name_id) - (a->name_id < b->name_id);
}

int pw_node_index_build(const pw_attribution *a, pw_node_index *ix)
{
    ix->n = a->nnodes;
    if (!(ix->key = malloc((a->nnodes + 1) * sizeof *ix->key))) return PW_ERR_NOMEM;
    for (size_t i = 0; i < a->nnodes; i++)
        ix->key[i] = (pw_node_key){a->nodes[i].parent, a->nodes[i].name_id, (uint32_t)i};
    qsort(ix->key, ix->n, sizeof *ix->key, cmp_key);
    return PW_OK;
}

int pw_node_index_child(const pw_node_index *ix, size_t parent, uint32_t name_id)
{
    pw_node_key want = {(int32_t)parent, name_id, 0};
    const pw_node_key *hit = bsearch(&want, ix->key, ix->n, sizeof *ix->key, cmp_key);
    return hit ? (int)hit->node : -1;
}

void pw_node_index_free(pw_node_index *ix)
{
    free(ix->key);
    *ix = (pw_node_index){0};
}
