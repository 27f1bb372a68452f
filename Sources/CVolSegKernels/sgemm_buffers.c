// Packing buffers of the sgemm kernels: one per thread, allocated on first use and freed when the
// thread ends, shared by the AVX-512 and AVX2 kernels (a thread runs one GEMM at a time). They
// are scratch of the kernels, not tensors, so they stay outside the memory ledger (like OpenBLAS's
// own buffers).

#include "sgemm_driver.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_key_t buffer_key;
static pthread_once_t buffer_once = PTHREAD_ONCE_INIT;
static _Thread_local float *thread_buffer;

static void make_buffer_key(void) { pthread_key_create(&buffer_key, free); }

float *volseg_sgemm_packing_buffer(void) {
    if (!thread_buffer) {
        pthread_once(&buffer_once, make_buffer_key);
        thread_buffer = aligned_alloc(64, sizeof(float) * VOLSEG_SGEMM_BUFFER_FLOATS);
        if (!thread_buffer) abort();
        pthread_setspecific(buffer_key, thread_buffer);
    }
    return thread_buffer;
}
