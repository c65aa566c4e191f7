/* platform.h — the one boundary between phasewatt and its operating system: the clocks,
 * sleeping to a deadline, timed waits, thread ids, this program's path and library names.
 * Linux in linux.c, macOS in darwin.c; nothing else in the tree asks which system it is on. */
#ifndef PW_PLATFORM_H
#define PW_PLATFORM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* PW_CLOCK_AWAKE stops while the machine sleeps, PW_CLOCK_WITH_SLEEP counts the sleep:
 * their difference grows by exactly the time slept. macOS has no CLOCK_BOOTTIME; there
 * CLOCK_MONOTONIC is the one that counts sleep and CLOCK_UPTIME_RAW the one that stops. */
#ifdef __APPLE__
#define PW_CLOCK_AWAKE CLOCK_UPTIME_RAW
#define PW_CLOCK_WITH_SLEEP CLOCK_MONOTONIC
#define PW_SHLIB_SUFFIX ".dylib"
#else
#define PW_CLOCK_AWAKE CLOCK_MONOTONIC
#define PW_CLOCK_WITH_SLEEP CLOCK_BOOTTIME
#define PW_SHLIB_SUFFIX ".so"
#endif

/* The calling thread's id as the system's tools show it (gettid; pthread_threadid_np). */
uint32_t pw_thread_id(void);

/* Sleeps until PW_CLOCK_AWAKE reaches deadline_ns, through signals. */
void pw_sleep_until(uint64_t deadline_ns);

/* A condition variable whose timed waits are measured on PW_CLOCK_AWAKE. */
int pw_cond_init(pthread_cond_t *cond);
/* Waits on cond until deadline_ns (PW_CLOCK_AWAKE): 0, or ETIMEDOUT. */
int pw_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex, uint64_t deadline_ns);

/* A pipe whose both ends close on exec (pipe2 where the system has it). 0, or -1 (errno). */
int pw_pipe_cloexec(int fd[2]);

/* The environment a spawned child inherits (a dylib cannot reach `environ` on macOS). */
char **pw_environ(void);

/* perf_event_open counting one event on one CPU for every process, close-on-exec: an fd, or
 * -1 with errno (ENOSYS where the system has no perf events). */
int pw_perf_event_open(uint32_t type, uint64_t config, int cpu);

/* 8 random bytes from the kernel without blocking; 0, or -1 when it has none yet. */
int pw_random_u64(uint64_t *out);

/* Makes every byte of [0, size) of fd exist on its file system (so a mapping of it never
 * faults for want of space): 0, or an errno (ENOSPC where it does not fit). */
int pw_reserve_file(int fd, uint64_t size);

/* Joins thread t if it ends within wait_ns: 0, or -1 and the thread is left running. */
int pw_join_within(pthread_t t, uint64_t wait_ns);

/* This program's own path (for the libraries installed next to it); 0, or -1. */
int pw_self_exe(char *out, size_t cap);

/* CPU time in USER_HZ ticks (1/100 s) summed over all cores: busy (everything but idle)
 * and the number of cores. proc_root is Linux's /proc (ignored on macOS, which asks the
 * kernel through host_processor_info). 0, or a PW_ERR_* with a reason in why. */
int pw_cpu_ticks(const char *proc_root, uint64_t *busy, int *ncpu, char *why, size_t whylen);

/* The effective uid of the process at the other end of a connected Unix socket
 * (SO_PEERCRED; getpeereid): 0, or -1 (errno). */
int pw_socket_peer_uid(int fd, uint32_t *uid);

#endif
