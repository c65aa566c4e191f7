/* hash.c — the seeded hashes of hash.h: a per-process seed from the kernel, mixed in before
 * and after (not cryptographic, but the seed is never shown, so collisions are not chosen). */
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "platform/platform.h"
#include "base/hash.h"

static pthread_once_t seeded = PTHREAD_ONCE_INIT;
static uint64_t seed;

static void make_seed(void)
{
    if (pw_random_u64(&seed) == 0) return;
    struct timespec ts;   /* no entropy yet (early boot): still differs run to run */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed = (uint64_t)ts.tv_nsec << 20 ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 40;
}

static uint64_t key(void)
{
    pthread_once(&seeded, make_seed);
    return seed;
}

/* splitmix64's finaliser: every input bit reaches every output bit. */
static uint64_t mix(uint64_t h)
{
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    return h ^ (h >> 31);
}

uint64_t pw_hash_u64(uint64_t k) { return mix(mix(k + key()) ^ key()); }

uint64_t pw_hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ull ^ key();   /* FNV-1a from a secret start */
    while (*s) h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return mix(h ^ key());
}
