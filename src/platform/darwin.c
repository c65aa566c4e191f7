/* darwin.c — platform.h on macOS: mach thread ids, relative timed waits (macOS has neither
 * clock_nanosleep nor pthread_condattr_setclock), host_processor_info for CPU ticks. */
#ifdef __APPLE__
#include <crt_externs.h>
#include <errno.h>
#include <fcntl.h>
#include <mach-o/dyld.h>
#include <mach/mach.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "phasewatt.h"
#include "platform/platform.h"

uint32_t pw_thread_id(void)
{
    uint64_t tid = 0;
    pthread_threadid_np(NULL, &tid);
    return (uint32_t)tid;
}

/* PW_CLOCK_AWAKE in ns, as base/clock.h reads it (the platform sits below that layer). */
static uint64_t awake_ns(void)
{
    struct timespec ts;
    clock_gettime(PW_CLOCK_AWAKE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct timespec until(uint64_t deadline_ns)
{
    uint64_t now = awake_ns(), left = deadline_ns > now ? deadline_ns - now : 0;
    return (struct timespec){(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
}

/* A relative sleep, re-aimed at the deadline after each wake-up. */
void pw_sleep_until(uint64_t deadline_ns)
{
    while (awake_ns() < deadline_ns) {
        struct timespec left = until(deadline_ns);
        (void)nanosleep(&left, NULL);
    }
}

int pw_cond_init(pthread_cond_t *cond) { return pthread_cond_init(cond, NULL); }

int pw_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex, uint64_t deadline_ns)
{
    struct timespec left = until(deadline_ns);
    if (left.tv_sec == 0 && left.tv_nsec == 0) return ETIMEDOUT;
    return pthread_cond_timedwait_relative_np(cond, mutex, &left) == ETIMEDOUT ? ETIMEDOUT : 0;
}

int pw_pipe_cloexec(int fd[2])
{
    if (pipe(fd) != 0) return -1;
    (void)fcntl(fd[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(fd[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

char **pw_environ(void) { return *_NSGetEnviron(); }

int pw_random_u64(uint64_t *out)
{
    arc4random_buf(out, sizeof *out);
    return 0;
}

int pw_reserve_file(int fd, uint64_t size)
{
    fstore_t fs = {F_ALLOCATEALL, F_PEOFPOSMODE, 0, (off_t)size, 0};
    if (fcntl(fd, F_PREALLOCATE, &fs) != 0) return errno == ENOSPC ? ENOSPC : errno;
    return 0;
}

/* macOS has no timed join: the thread is asked to end, so wait for it in short steps, then
 * let it go (it ends on its own) rather than block. */
int pw_join_within(pthread_t t, uint64_t wait_ns)
{
    mach_port_t port = pthread_mach_thread_np(t);
    for (uint64_t waited = 0; waited < wait_ns; waited += 1000000) {
        thread_basic_info_data_t info;
        mach_msg_type_number_t n = THREAD_BASIC_INFO_COUNT;
        if (thread_info(port, THREAD_BASIC_INFO, (thread_info_t)&info, &n) != KERN_SUCCESS)
            return pthread_join(t, NULL) == 0 ? 0 : -1;   /* it has ended */
        usleep(1000);
    }
    return -1;
}

/* The RAPL PMU is Linux's: the probe stops at its missing sysfs directory first. */
int pw_perf_event_open(uint32_t type, uint64_t config, int cpu)
{
    (void)type, (void)config, (void)cpu;
    errno = ENOSYS;
    return -1;
}

int pw_self_exe(char *out, size_t cap)
{
    uint32_t size = (uint32_t)cap;
    return cap && _NSGetExecutablePath(out, &size) == 0 ? 0 : -1;
}

/* Mach's per-core tick counters (CLK_TCK = 100 per second, as USER_HZ on Linux). */
int pw_cpu_ticks(const char *proc_root, uint64_t *busy, int *ncpu, char *why, size_t whylen)
{
    natural_t count = 0;
    processor_info_array_t info = NULL;
    mach_msg_type_number_t n = 0;
    (void)proc_root;
    kern_return_t kr = host_processor_info(mach_host_self(), PROCESSOR_CPU_LOAD_INFO, &count,
                                           &info, &n);
    if (kr != KERN_SUCCESS) {
        snprintf(why, whylen, "host_processor_info failed: %s", mach_error_string(kr));
        return PW_ERR_IO;
    }
    const processor_cpu_load_info_data_t *load = (const processor_cpu_load_info_data_t *)info;
    *busy = 0;
    for (natural_t i = 0; i < count; i++)
        *busy += (uint64_t)load[i].cpu_ticks[CPU_STATE_USER] +
                 load[i].cpu_ticks[CPU_STATE_SYSTEM] + load[i].cpu_ticks[CPU_STATE_NICE];
    *ncpu = count ? (int)count : 1;
    vm_deallocate(mach_task_self(), (vm_address_t)info, (vm_size_t)n * sizeof *info);
    return PW_OK;
}

int pw_socket_peer_uid(int fd, uint32_t *uid)
{
    uid_t u;
    gid_t g;
    if (getpeereid(fd, &u, &g) != 0) return -1;
    *uid = (uint32_t)u;
    return 0;
}

#endif
