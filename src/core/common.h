/* Common helpers: error reporting, checked allocation, small utilities. */
#ifndef DR_COMMON_H
#define DR_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define DR_ERR_MAX 512

/* Records a one-line error message (printf format) and returns -1.
 * Library functions report failure by returning a negative value; the caller
 * reads the message with dr_last_error(). The buffer is thread-local. */
int dr_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *dr_last_error(void);

/* Allocation that calls the out-of-memory handler when memory runs out: by
 * default a message and abort(), the one way the library ends a process (it
 * never calls exit()); a program may install its own handler, which must not
 * return. Sizes that come from untrusted files must be validated before calling. */
typedef void (*dr_oom_handler)(size_t bytes);
void dr_set_oom_handler(dr_oom_handler h);
void *dr_xmalloc(size_t n);
void *dr_xcalloc(size_t count, size_t size);
void *dr_xrealloc(void *p, size_t n);
char *dr_xstrdup(const char *s);
/* Copy of n bytes as a NUL-terminated string. */
char *dr_xstrndup(const char *s, size_t n);
/* 64-byte aligned allocation (for SIMD and packed bit-planes); free with free(). */
void *dr_xalign(size_t n);

/* The memory a network or a data set may plan to use: 80% of this machine's
 * physical memory, or DOREFA_MAX_MEMORY (bytes, with an optional K, M or G
 * suffix) when set. */
double dr_memory_limit(void);
/* "12.3 GiB", "4.0 MiB", "512 bytes" into buf (returned). */
const char *dr_format_bytes(double bytes, char *buf, size_t cap);

/* Monotonic clock in seconds. */
double dr_now(void);

/* The calling thread's share [*i0, *i1) of n elements, in an OpenMP
 * parallel region (all of them outside one). */
void dr_thread_span(size_t n, size_t *i0, size_t *i1);

/* Reads a whole file into memory (NUL-terminated); NULL + error on failure. */
char *dr_read_file(const char *path, size_t *len_out);

/* Run-time dispatched copies of a hot function, for CPUs the build did not
 * target: SIMD loops (AVX-512, AVX2, baseline) and popcount loops. */
#if defined(__x86_64__) && !defined(DR_NO_CLONES)
#define DR_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
/* Float multiply-add loops: "avx2" alone leaves FMA out (a multiply and an add
 * each), so these take "fma" (AVX's 256-bit floats and FMA; every AVX2 CPU has
 * it); and "avx512f" alone leaves out the 256-bit FMA that their 8-lane loops
 * (run there under DOREFA_KERNEL=avx2) need to give the same fused sums, so
 * their AVX-512 copy is x86-64-v4 (AVX-512 F/BW/DQ/VL with AVX2 and FMA). */
#define DR_FMA_CLONES __attribute__((target_clones("arch=x86-64-v4", "fma", "default")))
#define DR_POPCNT_CLONES __attribute__((target_clones("popcnt", "default")))
#else
#define DR_SIMD_CLONES
#define DR_FMA_CLONES
#define DR_POPCNT_CLONES
#endif

/* What is wrong with a class name of n bytes (checkpoints, model files, a
 * data set's classes.txt, the API): DR_NAME_OK, or empty, a control
 * character, over 255 bytes. */
enum { DR_NAME_OK, DR_NAME_EMPTY, DR_NAME_CONTROL, DR_NAME_LONG };
int dr_class_name_check(const char *p, size_t n);

#define DR_MIN(a, b) ((a) < (b) ? (a) : (b))
/* The network input is pixel values (0..255) times this, in training and in the engine (the SVHN recipe). */
#define DR_PIXEL_SCALE (1.0f / 256.0f)
/* Elements below which an elementwise loop runs on the calling thread: starting a
 * team of threads costs more (a batch-1 inference layer). */
#define DR_SMALL_LOOP 16384
#define DR_MAX(a, b) ((a) > (b) ? (a) : (b))
/* Where share `part` of `parts` equal shares of [0, total) begins (it ends
 * where share part + 1 begins): a team's threads splitting work themselves. */
static inline long dr_share_begin(long total, int part, int parts) { return total * part / parts; }

#endif
