/* sysfs.c — the shared low level of the sysfs backends: paths, kept-open attribute reads,
 * sorted directory listings and the reasons shown when a file cannot be read. */
#include "sources/sysfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phasewatt.h"

/* ---- paths ------------------------------------------------------------------------------ */

static int put(char *out, size_t cap, const char *a, const char *sep, const char *b)
{
    int n = snprintf(out, cap, "%s%s%s", a, sep, b);
    return n >= 0 && (size_t)n < cap ? PW_OK : PW_ERR_LIMIT;
}

int pw_sysfs_path(char *out, size_t cap, const char *root, const char *abs)
{
    size_t len = root ? strlen(root) : 0;
    while (len > 0 && root[len - 1] == '/') len--;    /* "/tmp/x/" + "/sys" -> one slash */
    char base[PW_SYSFS_PATH_MAX];
    if (len >= sizeof base) return PW_ERR_LIMIT;
    if (len) memcpy(base, root, len);
    base[len] = '\0';
    return put(out, cap, base, "", abs);
}

int pw_sysfs_child(char *out, size_t cap, const char *dir, const char *name)
{
    if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return PW_ERR_INVALID;
    return put(out, cap, dir, "/", name);
}

/* ---- attribute files -------------------------------------------------------------------- */

static int fail(pw_sysfs_file *f, int err, int rc)
{
    f->err = err;
    return rc;
}

static void drop_fd(pw_sysfs_file *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
}

int pw_sysfs_open_regular(const char *path, int *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) return fd;
    close(fd);
    *err = PW_SYSFS_NOT_FILE;
    return -1;
}

static int reopen(pw_sysfs_file *f)
{
    drop_fd(f);
    int err = 0;
    f->fd = pw_sysfs_open_regular(f->path, &err);
    return f->fd >= 0 ? PW_OK : fail(f, err, pw_sysfs_error(err));
}

int pw_sysfs_open(pw_sysfs_file *f, const char *path)
{
    f->fd = -1;
    f->err = 0;
    if (put(f->path, sizeof f->path, path, "", "") != PW_OK) {
        f->path[0] = '\0';
        return fail(f, ENAMETOOLONG, PW_ERR_LIMIT);
    }
    return reopen(f);
}

void pw_sysfs_close(pw_sysfs_file *f)
{
    drop_fd(f);
}

/* A kept descriptor of a removed file still reads its old content on ordinary
 * filesystems (kernfs gives ENODEV instead): an unlinked file counts as replaced. */
static int unlinked(int fd)
{
    struct stat st;
    return fstat(fd, &st) != 0 || st.st_nlink == 0;
}

static ssize_t read_raw(pw_sysfs_file *f, char *buf, size_t cap)
{
    int fresh = 0;
    if (f->fd >= 0 && unlinked(f->fd)) drop_fd(f);
    if (f->fd < 0) {
        if (reopen(f) != PW_OK) return -1;
        fresh = 1;
    }
    ssize_t n = pread(f->fd, buf, cap, 0);
    if (n < 0 && !fresh && reopen(f) == PW_OK)      /* a stale descriptor: one retry */
        n = pread(f->fd, buf, cap, 0);
    if (n < 0) {
        f->err = errno;
        drop_fd(f);
    }
    return n;
}

int pw_sysfs_read_text(pw_sysfs_file *f, char *buf, size_t cap)
{
    char raw[PW_SYSFS_TEXT_MAX + 2];
    if (cap == 0 || cap > PW_SYSFS_TEXT_MAX + 1) return PW_ERR_INVALID;
    ssize_t n = read_raw(f, raw, sizeof raw - 1);
    if (n < 0) return f->err ? pw_sysfs_error(f->err) : PW_ERR_IO;   /* never PW_OK */
    if ((size_t)n > PW_SYSFS_TEXT_MAX || memchr(raw, '\0', (size_t)n))
        return fail(f, PW_SYSFS_BAD_VALUE, PW_ERR_FORMAT);
    size_t a = 0, b = (size_t)n;
    while (a < b && isspace((unsigned char)raw[a])) a++;
    while (b > a && isspace((unsigned char)raw[b - 1])) b--;
    if (b - a >= cap) return fail(f, PW_SYSFS_BAD_VALUE, PW_ERR_FORMAT);
    memcpy(buf, raw + a, b - a);
    buf[b - a] = '\0';
    f->err = 0;
    return PW_OK;
}

int pw_sysfs_parse_u64(const char *text, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = text;
    if (!isdigit((unsigned char)*p)) return PW_ERR_FORMAT;
    /* NOLINTNEXTLINE(clang-analyzer-core.uninitialized.ArraySubscript): pread filled the text; the analyser does not model it */
    for (; isdigit((unsigned char)*p); p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return PW_ERR_FORMAT;   /* would overflow */
        v = v * 10 + d;
    }
    if (*p) return PW_ERR_FORMAT;
    *out = v;
    return PW_OK;
}

int pw_sysfs_digits(const char **p, int maxdigits, unsigned *out)
{
    unsigned v = 0;
    int n = 0;
    for (; isdigit((unsigned char)**p) && n <= maxdigits; (*p)++, n++)
        v = v * 10 + (unsigned)(**p - '0');
    *out = v;
    return n >= 1 && n <= maxdigits;
}

static int name_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

int pw_sysfs_is_name(const char *s, size_t maxlen)
{
    size_t n = 0;
    for (; n <= maxlen && s[n]; n++)
        if (!name_char(s[n])) return 0;
    return n >= 1 && n <= maxlen;
}

void pw_sysfs_clean_name(char *s)
{
    for (; *s; s++)
        if (!name_char(*s)) *s = '_';
}

int pw_sysfs_read_u64(pw_sysfs_file *f, uint64_t *out)
{
    char text[64];
    int rc = pw_sysfs_read_text(f, text, sizeof text);
    if (rc == PW_OK && pw_sysfs_parse_u64(text, out) != PW_OK)
        rc = fail(f, PW_SYSFS_BAD_VALUE, PW_ERR_FORMAT);
    return rc;
}

int pw_sysfs_read_text_at(const char *path, char *buf, size_t cap, int *err)
{
    pw_sysfs_file f;
    int rc = pw_sysfs_open(&f, path);
    if (rc == PW_OK) rc = pw_sysfs_read_text(&f, buf, cap);
    pw_sysfs_close(&f);
    *err = f.err;
    return rc;
}

int pw_sysfs_read_u64_at(const char *path, uint64_t *out, int *err)
{
    pw_sysfs_file f;
    int rc = pw_sysfs_open(&f, path);
    if (rc == PW_OK) rc = pw_sysfs_read_u64(&f, out);
    pw_sysfs_close(&f);
    *err = f.err;
    return rc;
}

/* ---- directory listings ----------------------------------------------------------------- */

/* Runs of digits compare by value, so "intel-rapl:10" sorts after "intel-rapl:2". */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0' && isdigit((unsigned char)a[1])) a++;
            while (*b == '0' && isdigit((unsigned char)b[1])) b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la])) la++;
            while (isdigit((unsigned char)b[lb])) lb++;
            if (la != lb) return la < lb ? -1 : 1;
            int c = memcmp(a, b, la);
            if (c) return c;
            a += la;
            b += lb;
        } else {
            if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static int cmp_names(const void *x, const void *y)
{
    const char *a = *(const char *const *)x, *b = *(const char *const *)y;
    int c = natural_cmp(a, b);
    return c ? c : strcmp(a, b);
}

void pw_sysfs_list_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

int pw_sysfs_list(const char *dir, char ***names, size_t *n, int *err)
{
    *names = NULL;
    *n = 0;
    *err = 0;
    DIR *d = opendir(dir);
    if (!d) {
        *err = errno;
        return pw_sysfs_error(errno);
    }
    size_t cap = 0, count = 0;
    char **list = NULL;
    int rc = PW_OK;
    for (struct dirent *e; rc == PW_OK && (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (count == PW_SYSFS_LIST_MAX) {
            *err = E2BIG;
            rc = PW_ERR_LIMIT;
            break;
        }
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 32;
            char **grown = realloc(list, ncap * sizeof *grown);
            if (!grown) { rc = PW_ERR_NOMEM; break; }
            list = grown;
            cap = ncap;
        }
        if (!(list[count] = strdup(e->d_name))) rc = PW_ERR_NOMEM;
        else count++;
    }
    closedir(d);
    if (rc != PW_OK) {
        pw_sysfs_list_free(list, count);
        return rc;
    }
    if (count) qsort(list, count, sizeof *list, cmp_names);
    *names = list;
    *n = count;
    return PW_OK;
}

/* ---- reasons ------------------------------------------------------------------------------ */

int pw_sysfs_error(int err)
{
    switch (err) {
    case 0: return PW_OK;
    case PW_SYSFS_BAD_VALUE: return PW_ERR_FORMAT;
    case EACCES: case EPERM: return PW_ERR_PERMISSION;
    case ENOENT: case ENOTDIR: case ENODEV: case ENXIO: return PW_ERR_NOT_FOUND;
    case ENAMETOOLONG: case E2BIG: return PW_ERR_LIMIT;
    case ENOMEM: return PW_ERR_NOMEM;
    default: return PW_ERR_IO;
    }
}

void pw_sysfs_reason(char *why, size_t whylen, const char *path, int err)
{
    if (!why || whylen == 0) return;
    switch (err) {
    case EACCES: case EPERM:
        snprintf(why, whylen, "permission denied on %s: run as root, or see docs/sources.md "
                              "for a udev rule that makes it readable", path);
        break;
    case PW_SYSFS_BAD_VALUE:
        snprintf(why, whylen, "%s: malformed value (want one non-negative decimal integer "
                              "or a short name)", path);
        break;
    case PW_SYSFS_NOT_FILE:
        snprintf(why, whylen, "%s is not a regular file (a FIFO, socket or device): refused",
                 path);
        break;
    case ENOENT: snprintf(why, whylen, "%s does not exist", path); break;
    case ENODEV: case ENXIO: snprintf(why, whylen, "%s: the device is gone", path); break;
    default: snprintf(why, whylen, "cannot read %s: %s", path, strerror(err)); break;
    }
}

void pw_sysfs_note(char *notes, size_t cap, const char *text)
{
    size_t len = strnlen(notes, cap);
    if (cap == 0 || len + 1 >= cap) return;
    snprintf(notes + len, cap - len, "%s%s", len ? "; " : "", text);
}
