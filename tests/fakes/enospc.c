/* enospc.c — a fake full disk, preloaded by the tests: once PW_FAKE_ENOSPC_AFTER bytes have
 * been written to files whose name ends in ".pwt", write() writes what still fits and then
 * fails with ENOSPC, as a filling disk does. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t written;

static int is_trace(int fd)
{
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 4) return 0;
    path[n] = '\0';
    return strcmp(path + n - 4, ".pwt") == 0;
}

ssize_t write(int fd, const void *buf, size_t count)
{
    static ssize_t (*real_write)(int, const void *, size_t);
    if (!real_write) real_write = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    const char *limit_text = getenv("PW_FAKE_ENOSPC_AFTER");
    if (!limit_text || !is_trace(fd)) return real_write(fd, buf, count);
    size_t limit = strtoull(limit_text, NULL, 10);
    if (written >= limit) {
        errno = ENOSPC;
        return -1;
    }
    size_t room = limit - written, n = count < room ? count : room;
    ssize_t r = real_write(fd, buf, n);
    if (r > 0) written += (size_t)r;
    return r;
}
