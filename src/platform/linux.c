/* linux.c — platform.h on Linux (and any non-Apple POSIX system with its clocks). */
#ifndef __APPLE__
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "phasewatt.h"
#include "platform/platform.h"

static struct timespec to_timespec(uint64_t ns)
{
    return (struct timespec){(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
}

uint32_t pw_thread_id(void) { return (uint32_t)syscall(SYS_gettid); }

void pw_sleep_until(uint64_t deadline_ns)
{
    struct timespec ts = to_timespec(deadline_ns);
    while (clock_nanosleep(PW_CLOCK_AWAKE, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

int pw_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc) return rc;
    rc = pthread_condattr_setclock(&ca, PW_CLOCK_AWAKE);
    if (!rc) rc = pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

int pw_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex, uint64_t deadline_ns)
{
    struct timespec ts = to_timespec(deadline_ns);
    return pthread_cond_timedwait(cond, mutex, &ts) == ETIMEDOUT ? ETIMEDOUT : 0;
}

int pw_pipe_cloexec(int fd[2]) { return pipe2(fd, O_CLOEXEC); }

int pw_random_u64(uint64_t *out)
{
    return getrandom(out, sizeof *out, GRND_NONBLOCK) == (ssize_t)sizeof *out ? 0 : -1;
}

int pw_reserve_file(int fd, uint64_t size) { return posix_fallocate(fd, 0, (off_t)size); }

int pw_join_within(pthread_t t, uint64_t wait_ns)
{
    struct timespec until;   /* pthread_timedjoin_np's deadline is on CLOCK_REALTIME */
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(wait_ns / 1000000000ull);
    until.tv_nsec += (long)(wait_ns % 1000000000ull);
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    return pthread_timedjoin_np(t, NULL, &until) == 0 ? 0 : -1;
}

extern char **environ;
char **pw_environ(void) { return environ; }

int pw_perf_event_open(uint32_t type, uint64_t config, int cpu)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.type = type;
    attr.size = sizeof attr;
    attr.config = config;
    return (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

int pw_self_exe(char *out, size_t cap)
{
    ssize_t n = cap ? readlink("/proc/self/exe", out, cap - 1) : -1;
    if (n <= 0) return -1;
    out[n] = '\0';
    return 0;
}

/* The aggregate "cpu" line of /proc/stat: busy = everything but idle and iowait. */
int pw_cpu_ticks(const char *proc_root, uint64_t *busy, int *ncpu, char *why, size_t whylen)
{
    char path[1024], buf[65536];
    snprintf(path, sizeof path, "%s/stat", proc_root && *proc_root ? proc_root : "/proc");
    /* non-blocking and regular files only: a FIFO planted there must not hang the probe */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        snprintf(why, whylen, "%s is not a regular file", path);
        return PW_ERR_NOT_FOUND;
    }
    if (fd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return PW_ERR_NOT_FOUND;
    }
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    size_t n = got > 0 ? (size_t)got : 0;
    buf[n] = '\0';
    unsigned long long v[8] = {0};
    if (strncmp(buf, "cpu ", 4) != 0 ||
        sscanf(buf + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) < 4) {
        snprintf(why, whylen, "%s: unexpected format", path);
        return PW_ERR_FORMAT;
    }
    *busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    *ncpu = 0;
    for (const char *p = buf; (p = strstr(p, "\ncpu")) != NULL; p++)
        if (p[4] >= '0' && p[4] <= '9') ++*ncpu;
    if (*ncpu == 0) *ncpu = 1;
    return PW_OK;
}

int pw_socket_peer_uid(int fd, uint32_t *uid)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *uid = (uint32_t)cred.uid;
    return 0;
}
#endif
