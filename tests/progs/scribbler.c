/* scribbler.c — a hostile recorded program: it tags phases through the library, then maps
 * the recorder's shared channel itself and writes random bytes all over it (ring heads,
 * slots, name lengths, counts) for 0.3 s. The recorder must neither crash nor read out of
 * bounds. (It tags no more after that: its own library's state is garbage by then.) */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "phasewatt.h"

int main(void)
{
    for (int i = 0; i < 100; i++) {
        pw_begin_name(i % 2 ? "odd" : "even");
        pw_end();
    }
    const char *path = getenv("PHASEWATT_CHANNEL");
    int fd = path ? open(path, O_RDWR) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return 2;
    uint8_t *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return 3;
    uint64_t x = 88172645463325252ull;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        for (int k = 0; k < 4096; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;       /* xorshift64 */
            p[x % (uint64_t)st.st_size] = (uint8_t)(x >> 56);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < 300000000L);
    return 0;
}
