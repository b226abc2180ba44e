/* A barrier for the threads of one parallel region that spins on a shared
 * generation counter: libgomp's barrier makes a futex system call at every
 * release (about 0.3 us here, against 0.03-0.08 for this one), which a
 * small batch's layers pay several times each. After a few thousand spins
 * it yields the CPU, so that more threads than cores still make progress.
 * Declare one per region (shared, zeroed) before it starts. */
#ifndef DR_SPIN_BARRIER_H
#define DR_SPIN_BARRIER_H

#include <sched.h>
#include <stdatomic.h>

typedef struct {
    atomic_uint arrived, generation;
} dr_spin_barrier;

static inline void dr_spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Returns when all `threads` threads of the region have called it. */
static inline void dr_spin_barrier_wait(dr_spin_barrier *b, int threads)
{
    const unsigned gen = atomic_load_explicit(&b->generation, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) + 1 == (unsigned)threads) {
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->generation, 1, memory_order_release);
        return;
    }
    for (unsigned spins = 0; atomic_load_explicit(&b->generation, memory_order_acquire) == gen; spins++) {
        if (spins < 4096) dr_spin_pause();
        else sched_yield();
    }
}

#endif
