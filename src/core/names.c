/* names.c — the process-wide table that interns phase and counter names to dense ids. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/channel.h"
#include "core/core.h"
#include "base/hash.h"
#include "base/name.h"

/* Names live in fixed blocks that never move, so pw_name() reads them without a lock. */
#define BLOCK_BITS 12
#define BLOCK_SIZE (1u << BLOCK_BITS)
#define MAX_BLOCKS 256                       /* up to ~1 M names */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char **blocks[MAX_BLOCKS];
static _Atomic uint32_t count = 1;           /* id 0 is "no name" */
static uint32_t *hash;                       /* open addressing: slot -> id, 0 = empty */
static uint32_t hash_cap;

static const char *name_at(uint32_t id)
{
    return blocks[id >> BLOCK_BITS][id & (BLOCK_SIZE - 1)];
}

static uint32_t *find_slot(uint32_t *table, uint32_t cap, const char *name)
{
    uint32_t i = (uint32_t)pw_hash_str(name) & (cap - 1);
    while (table[i] && strcmp(name_at(table[i]), name) != 0) i = (i + 1) & (cap - 1);
    return &table[i];
}

/* Keeps the table at most half full; n = ids in use (1..n-1). */
static int grow_hash(uint32_t n)
{
    if (hash && (uint64_t)(n + 1) * 2 < hash_cap) return 0;
    uint32_t cap = hash_cap ? hash_cap * 2 : 1024;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (uint32_t id = 1; id < n; id++) *find_slot(t, cap, name_at(id)) = id;
    free(hash);
    hash = t;
    hash_cap = cap;
    return 0;
}

static _Atomic uint64_t repaired;           /* names taken with bytes replaced */

/* A name enters here once: refused when empty or over PW_MAX_NAME bytes, otherwise taken
 * in pw_name_repair's form (valid UTF-8, no '/') written to buf. */
static int valid_name(const char *name, char buf[PW_MAX_NAME + 1])
{
    size_t n = name ? strnlen(name, PW_MAX_NAME + 1) : 0;
    if (n == 0 || n > PW_MAX_NAME) return 0;
    if (pw_name_repair(name, n, buf, PW_MAX_NAME + 1))
        atomic_fetch_add_explicit(&repaired, 1, memory_order_relaxed);
    return 1;
}

uint64_t pw_names_repaired(void) { return atomic_load_explicit(&repaired, memory_order_relaxed); }

static pw_id intern(const char *raw)
{
    char name[PW_MAX_NAME + 1];
    if (!valid_name(raw, name)) return 0;
    pthread_mutex_lock(&lock);
    uint32_t n = atomic_load_explicit(&count, memory_order_relaxed);
    pw_id id = 0;
    if (grow_hash(n) == 0) {
        uint32_t *slot = find_slot(hash, hash_cap, name);
        if (*slot) {
            id = *slot;
        } else if ((n >> BLOCK_BITS) < MAX_BLOCKS) {
            char ***block = &blocks[n >> BLOCK_BITS];
            if (!*block) *block = calloc(BLOCK_SIZE, sizeof **block);
            char *copy = *block ? strdup(name) : NULL;
            if (copy) {
                (*block)[n & (BLOCK_SIZE - 1)] = copy;
                *slot = n;
                atomic_store_explicit(&count, n + 1, memory_order_release);
                id = n;
                if (pw_channel_child_active()) pw_channel_publish_name(id, copy);
            }
        }
    }
    pthread_mutex_unlock(&lock);
    return id;
}

pw_id pw_phase_id(const char *name) { return intern(name); }
pw_id pw_counter_id(const char *name) { return intern(name); }

uint32_t pw_names_count(void) { return atomic_load_explicit(&count, memory_order_acquire); }

const char *pw_name(pw_id id)
{
    if (id == 0 || id >= pw_names_count()) return NULL;
    return name_at(id);
}
