/* sysfs_fixture.h — what the sysfs backends' tests share: building fake trees, dropping
 * root to see permission errors, and reading back what a source's describe() wrote. */
#ifndef PW_SYSFS_FIXTURE_H
#define PW_SYSFS_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sources/source.h"
#include "tf.h"

/* mkdir -p */
static inline void fx_mkdirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

static inline void fx_write(const char *dir, const char *file, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    CHECK_MSG(tf_write_file(path, text, strlen(text)) == 0, "cannot write %s", path);
}

static inline void fx_write_u64(const char *dir, const char *file, uint64_t v)
{
    char text[32];
    snprintf(text, sizeof text, "%llu\n", (unsigned long long)v);
    fx_write(dir, file, text);
}

/* Root ignores file modes: the test (in its own forked child) drops to nobody first. */
static inline void fx_drop_privileges(void)
{
    CHECK_INT(chmod(tf_tmpdir(), 0755), 0);
    if (setgid(65534) != 0 || setuid(65534) != 0) tf_skip("cannot drop privileges");
}

static inline pw_source_config fx_config(void)
{
    pw_source_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sysfs_root = tf_tmpdir();
    cfg.interval_ns = 10000000;
    return cfg;
}

static inline int fx_index(const pw_source_info *info, const char *name)
{
    for (size_t i = 0; i < info->ndomains; i++)
        if (!strcmp(info->domains[i].name, name)) return (int)i;
    tf_fail(__FILE__, __LINE__, "no domain %s", name);
}

/* Probes a backend with cfg, as the sampler would. */
static inline int fx_probe_with(const pw_source_ops *ops, const pw_source_config *cfg, void **st,
                                pw_source_info *info, char *why, size_t whylen)
{
    *st = NULL;
    memset(info, 0, sizeof *info);
    return ops->probe(cfg, st, info, why, whylen);
}

static inline void *fx_probe_with_ok(const pw_source_ops *ops, const pw_source_config *cfg,
                                     pw_source_info *info)
{
    void *st;
    char why[PW_WHY_MAX] = "";
    int rc = fx_probe_with(ops, cfg, &st, info, why, sizeof why);
    CHECK_MSG(rc == PW_OK, "probe failed (%d): %s", rc, why);
    CHECK(st != NULL);
    return st;
}

/* Probes expecting failure rc: nothing kept, and a one-line reason (returned, static). */
static inline const char *fx_probe_with_fails(const pw_source_ops *ops,
                                              const pw_source_config *cfg, int rc)
{
    static char why[PW_WHY_MAX];
    void *st;
    pw_source_info info;
    why[0] = '\0';
    int got = fx_probe_with(ops, cfg, &st, &info, why, sizeof why);
    CHECK_MSG(got == rc, "probe gave %d, expected %d: %s", got, rc, why);
    CHECK(st == NULL);
    CHECK_INT(info.ndomains, 0);
    CHECK(why[0] && !strchr(why, '\n'));
    return why;
}

/* Probes a backend against the fake tree under tf_tmpdir(). */
static inline int fx_probe(const pw_source_ops *ops, void **st, pw_source_info *info, char *why,
                           size_t whylen)
{
    pw_source_config cfg = fx_config();
    return fx_probe_with(ops, &cfg, st, info, why, whylen);
}

static inline void *fx_probe_ok(const pw_source_ops *ops, pw_source_info *info)
{
    pw_source_config cfg = fx_config();
    return fx_probe_with_ok(ops, &cfg, info);
}

/* A domain's kind, flags 0, and parent by name (NULL: top level), listed after it. */
static inline void fx_check_domain(const pw_source_info *info, const char *name, pw_kind kind,
                                   const char *parent)
{
    int i = fx_index(info, name);
    CHECK_INT(info->domains[i].kind, kind);
    CHECK_INT(info->domains[i].flags, 0);
    if (!parent) CHECK_INT(info->domains[i].parent, -1);
    else CHECK_INT(info->domains[i].parent, fx_index(info, parent));
    CHECK(info->domains[i].parent < i);          /* parents come first */
}

/* One read at a chosen time, as the sampler makes it. */
static inline int fx_read_at(const pw_source_ops *ops, void *st, uint64_t t_ns, uint64_t *energy)
{
    uint64_t t = t_ns;
    return ops->read(st, &t, energy);
}


/* Open descriptors of this process: a source must give back every one it took. */
static inline int fx_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) tf_skip("no /proc/self/fd");
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* Runs ops->describe (and ops->finish, if any) into a real trace file and returns the
 * value written for key (malloc'd, NULL if absent), read back through the public reader. */
static inline char *fx_described(const pw_source_ops *ops, void *state, const char *key)
{
    pw_writer *w = NULL;
    pw_writer_header h = {1, 0};
    const char *path = tf_path("describe.pwt");
    CHECK_INT(pw_writer_open(path, &h, &w), PW_OK);
    pw_sink out = pw_writer_sink(w);
    ops->describe(state, &out);
    if (ops->finish) ops->finish(state, &out, 1);
    CHECK_INT(pw_writer_close(w, 2, 0), PW_OK);
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(path, &t), PW_OK);
    const char *v = pw_trace_meta(t, key);
    char *copy = v ? strdup(v) : NULL;
    pw_trace_close(t);
    return copy;
}

#endif
