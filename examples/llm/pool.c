/* pool.c — a fixed set of worker threads that split each matmul's output rows with the
 * caller; the split is fixed, so results do not depend on timing. */
#include <pthread.h>
#include <stdlib.h>

#include "llm.h"

struct llm_pool {
    int nthreads;                 /* including the caller */
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    uint64_t generation;          /* bumped for every job */
    int pending;                  /* workers still on the current job */
    int stop;
    llm_range_fn fn;
    void *ctx;
    int items;
};

typedef struct worker_arg {
    llm_pool *pool;
    int index;
} worker_arg;

static void range_of(const llm_pool *p, int index, int *begin, int *end)
{
    *begin = (int)((long long)p->items * index / p->nthreads);
    *end = (int)((long long)p->items * (index + 1) / p->nthreads);
}

static void *worker_main(void *arg)
{
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    llm_pool *p = a.pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->start, &p->lock);
        if (p->stop) break;
        seen = p->generation;
        int begin, end;
        range_of(p, a.index, &begin, &end);
        llm_range_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->lock);
        if (begin < end) fn(ctx, begin, end);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

llm_pool *llm_pool_new(int nthreads)
{
    llm_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->nthreads = nthreads > 0 ? nthreads : 1;
    p->workers = calloc((size_t)p->nthreads, sizeof *p->workers);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    int started = 1;
    for (; p->workers && started < p->nthreads; started++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) break;
        *a = (worker_arg){p, started};
        if (pthread_create(&p->workers[started], NULL, worker_main, a) != 0) {
            free(a);
            break;
        }
    }
    /* fewer threads than asked (no memory, thread limit): run with those that started */
    p->nthreads = p->workers ? started : 1;
    return p;
}

void llm_pool_run(llm_pool *p, llm_range_fn fn, void *ctx, int items)
{
    if (p->nthreads == 1 || items < 2 * p->nthreads) {
        fn(ctx, 0, items);   /* too small to be worth a wake-up */
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->items = items;
    p->pending = p->nthreads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    int begin, end;
    range_of(p, 0, &begin, &end);
    fn(ctx, begin, end);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void llm_pool_free(llm_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->nthreads; i++) pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}
