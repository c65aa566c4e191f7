/* log.c — where the library's messages go: the caller's pw_set_log callback, else stderr. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "core/log.h"

static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static pw_log_fn g_log_fn;            /* guarded by g_log_lock, with its context */
static void *g_log_ctx;
static atomic_int g_quiet;

void pw_set_log(pw_log_fn fn, void *ctx)
{
    pthread_mutex_lock(&g_log_lock);
    g_log_fn = fn;
    g_log_ctx = ctx;
    pthread_mutex_unlock(&g_log_lock);
}

void pw_log_quiet(int quiet) { atomic_store(&g_quiet, quiet); }

void pw_log(int level, const char *fmt, ...)
{
    if (atomic_load(&g_quiet)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Under the lock: messages never interleave, and none reaches a callback once replaced. */
    pthread_mutex_lock(&g_log_lock);
    if (g_log_fn)
        g_log_fn(level, msg, g_log_ctx);
    else
        fprintf(stderr, "phasewatt: %s\n", msg);
    pthread_mutex_unlock(&g_log_lock);
}
