/* sysfs.h — reading one-value sysfs files fast and safely (kept open, re-read with pread),
 * listing directories in natural order, and turning errno into a one-line reason. */
#ifndef PW_SYSFS_H
#define PW_SYSFS_H

#include <stddef.h>
#include <stdint.h>

#define PW_SYSFS_PATH_MAX 1024
#define PW_SYSFS_TEXT_MAX 255     /* longest file content accepted (values, names, labels) */
#define PW_SYSFS_LIST_MAX 4096    /* most entries taken from one directory */
#define PW_SYSFS_BAD_VALUE (-1)   /* pw_sysfs_file.err: the content was not a valid value */
#define PW_SYSFS_NOT_FILE (-2)    /* pw_sysfs_file.err: a FIFO, socket or device, refused */

/* One attribute file. The descriptor stays open between reads; after a failure it is
 * closed, and the next read reopens the path (the zone or device may come back). */
typedef struct pw_sysfs_file {
    int fd;                       /* -1 while closed */
    int err;                      /* errno (or PW_SYSFS_BAD_VALUE) of the last failure */
    char path[PW_SYSFS_PATH_MAX];
} pw_sysfs_file;

/* root + abs ("" or "/tmp/fake" + "/sys/class/powercap"); PW_ERR_LIMIT if too long. */
int pw_sysfs_path(char *out, size_t cap, const char *root, const char *abs);
/* dir + "/" + name, where name must be one path component (no '/', not "." or ".."). */
int pw_sysfs_child(char *out, size_t cap, const char *dir, const char *name);

/* Opens path for reading without blocking (a FIFO planted there cannot hang the probe) and
 * only if it is a regular file, as every sysfs and proc attribute is; -1 with *err set
 * (an errno, or PW_SYSFS_NOT_FILE) otherwise. */
int pw_sysfs_open_regular(const char *path, int *err);
/* Opens path for reading; the path is kept even on failure, for the reason and retries. */
int pw_sysfs_open(pw_sysfs_file *f, const char *path);
/* Whole content, surrounding whitespace trimmed, NUL-terminated; cap <= TEXT_MAX + 1. */
int pw_sysfs_read_text(pw_sysfs_file *f, char *buf, size_t cap);
/* A non-negative decimal integer (nothing else but surrounding whitespace). */
int pw_sysfs_read_u64(pw_sysfs_file *f, uint64_t *out);
void pw_sysfs_close(pw_sysfs_file *f);

/* One-shot reads (open, read, close); *err gets the errno or PW_SYSFS_BAD_VALUE. */
int pw_sysfs_read_text_at(const char *path, char *buf, size_t cap, int *err);
int pw_sysfs_read_u64_at(const char *path, uint64_t *out, int *err);

int pw_sysfs_parse_u64(const char *text, uint64_t *out);
/* 1 to maxdigits decimal digits at *p (an index in a file name); advances *p. */
int pw_sysfs_digits(const char **p, int maxdigits, unsigned *out);
/* Names that become part of domain names: [A-Za-z0-9._-], 1 to maxlen characters;
 * clean_name replaces any other character with '_'. */
int pw_sysfs_is_name(const char *s, size_t maxlen);
void pw_sysfs_clean_name(char *s);

/* The entries of dir but "." and "..", in natural order ("hwmon2" before "hwmon10").
 * The caller owns *names and frees it with pw_sysfs_list_free. */
int pw_sysfs_list(const char *dir, char ***names, size_t *n, int *err);
void pw_sysfs_list_free(char **names, size_t n);

/* errno (or PW_SYSFS_BAD_VALUE, PW_SYSFS_NOT_FILE) -> PW_ERR_*, and the one-line reason naming path and fix. */
int pw_sysfs_error(int err);
void pw_sysfs_reason(char *why, size_t whylen, const char *path, int err);

/* Appends "; text" (or text, when empty) to a bounded list of notes, truncating. */
void pw_sysfs_note(char *notes, size_t cap, const char *text);

#endif
