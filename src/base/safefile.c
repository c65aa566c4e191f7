/* safefile.c — creates output files on an unpredictable private name beside the target and
 * renames them into place, so no planted link, no other process and no failed run can make
 * phasewatt write through or over a file it was not asked to write. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "platform/platform.h"
#include "phasewatt.h"
#include "base/safefile.h"

#define TMP_TRIES 64

/* Unpredictable bits for a name; the clock and pid only if the kernel gives none. */
static uint64_t random_bits(void)
{
    uint64_t r;
    if (pw_random_u64(&r) == 0) return r;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() << 32 ^
           (uint64_t)ts.tv_sec;
}

/* "DIR/.tmp-XXXXXXXXXXXXXXXX-BASE" for path "DIR/BASE" (DIR may be empty): hidden, and
 * ending like the output, so whatever goes by the file's extension sees the same kind. */
static char *temp_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash - path) + 1 : 0, n = strlen(path) + 24;
    char *tmp = malloc(n);
    if (!tmp) return NULL;
    snprintf(tmp, n, "%.*s.tmp-%016llx-%s", (int)dir, path, (unsigned long long)random_bits(),
             path + dir);
    return tmp;
}

/* A device, FIFO or terminal (/dev/null, /dev/stdout, a pipe) is written in place: it holds
 * no data to clobber, and renaming over it would replace the node itself. Returns 1 when
 * path is one and is open, 0 when it is no such thing, -1 (errno set) on failure. */
static int open_special(pw_safefile *f, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode)) return 0;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        return -1;
    }
    f->fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (f->fd < 0) return -1;
    if (fstat(f->fd, &st) == 0 && !S_ISREG(st.st_mode)) return 1;
    close(f->fd);   /* it became a regular file since: take the safe way after all */
    f->fd = -1;
    return 0;
}

int pw_safefile_open(pw_safefile *f, const char *path)
{
    *f = (pw_safefile){.fd = -1};
    if (!path || !path[0]) return PW_ERR_INVALID;
    if (!(f->path = strdup(path))) return PW_ERR_NOMEM;
    int special = open_special(f, path);
    if (special) {
        if (special < 0) pw_safefile_done(f);
        return special > 0 ? PW_OK : PW_ERR_IO;
    }
    int e = ENOMEM;
    for (int i = 0; i < TMP_TRIES; i++) {
        if (!(f->tmp = temp_name(path))) break;
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f->fd >= 0) return PW_OK;
        e = errno;
        free(f->tmp);
        f->tmp = NULL;
        if (e != EEXIST) break;   /* only a name taken is worth another try */
    }
    pw_safefile_done(f);
    errno = e;
    return e == ENOMEM ? PW_ERR_NOMEM : PW_ERR_IO;
}

int pw_safefile_commit(pw_safefile *f)
{
    if (!f->tmp) return f->path ? PW_OK : PW_ERR_INVALID;   /* written in place */
    if (rename(f->tmp, f->path) != 0) return PW_ERR_IO;
    free(f->tmp);
    f->tmp = NULL;
    return PW_OK;
}

void pw_safefile_done(pw_safefile *f)
{
    int e = errno;
    if (f->fd >= 0) close(f->fd);
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    *f = (pw_safefile){.fd = -1};
    errno = e;
}

FILE *pw_safefile_stream(pw_safefile *f)
{
    FILE *s = fdopen(f->fd, "w");
    if (s) f->fd = -1;
    return s;
}

FILE *pw_safefile_fopen(pw_safefile *f, const char *path)
{
    int rc = pw_safefile_open(f, path);
    if (rc != PW_OK) {
        if (rc != PW_ERR_IO) errno = rc == PW_ERR_NOMEM ? ENOMEM : EINVAL;
        return NULL;
    }
    FILE *s = pw_safefile_stream(f);
    if (!s) pw_safefile_done(f);
    return s;
}

int pw_safefile_finish(pw_safefile *f, FILE *stream, int ok)
{
    ok = !ferror(stream) && ok;
    if (fclose(stream) != 0) ok = 0;
    int rc = ok ? pw_safefile_commit(f) : PW_ERR_IO;
    pw_safefile_done(f);
    return rc;
}
