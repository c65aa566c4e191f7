/* nvtx_app.c — an NVTX-annotated program with no phasewatt code, built by test_nvtx.c
 * against the CUDA toolkit's nvtx3 headers where present, and always against the tests' own
 * client side (nvtx_client.h, with PW_NVTX_OWN_CLIENT): every kind of range phasewatt turns into
 * phases (ASCII, wide, attributes, registered strings, domains, start/end), and a worker
 * thread named with nvtxNameOsThread whose track takes its name and its domain's. */
#define _GNU_SOURCE
#ifdef PW_NVTX_OWN_CLIENT
#include "nvtx_client.h"
#else
#include <nvtx3/nvToolsExt.h>
#endif
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void busy_ms(int ms)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

static void *worker(void *domain)
{
    nvtxNameOsThreadA((uint32_t)syscall(SYS_gettid), "worker-1");
    nvtxEventAttributes_t a = {0};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = "expert";
    nvtxDomainRangePushEx(domain, &a);
    busy_ms(1);
    nvtxDomainRangePop(domain);
    return NULL;
}

int main(void)
{
    nvtxRangePushA("prefill");
    busy_ms(5);
    nvtxMarkA("first-token");
    nvtxRangePop();
    for (int i = 0; i < 3; i++) {
        nvtxRangePushW(L"decode");
        nvtxEventAttributes_t a = {0};
        a.version = NVTX_VERSION;
        a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
        a.messageType = NVTX_MESSAGE_TYPE_ASCII;
        a.message.ascii = "attention";
        nvtxRangePushEx(&a);
        busy_ms(2);
        nvtxRangePop();
        nvtxRangePop();
    }
    nvtxDomainHandle_t engine = nvtxDomainCreateA("engine");
    nvtxEventAttributes_t s = {0};
    s.version = NVTX_VERSION;
    s.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    s.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    s.message.registered = nvtxDomainRegisterStringA(engine, "sampling");
    nvtxDomainRangePushEx(engine, &s);
    busy_ms(1);
    nvtxDomainRangePop(engine);
    pthread_t th;
    if (pthread_create(&th, NULL, worker, engine) == 0) pthread_join(th, NULL);
    nvtxRangeId_t post = nvtxRangeStartA("post-inference");
    busy_ms(1);
    nvtxRangeEnd(post);
    return 0;
}
