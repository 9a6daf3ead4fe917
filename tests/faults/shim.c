/* LD_PRELOAD shim for fault injection in tests/cli/test_faults.sh: makes
 * allocations fail. FAULT_MALLOC_MIN=BYTES fails every malloc, calloc,
 * realloc, aligned_alloc and posix_memalign of at least BYTES once
 * FAULT_MALLOC_SKIP (default 0) such allocations have succeeded.
 * Built by the test itself: cc -shared -fPIC -O1 -o shim.so shim.c */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);

static long min_bytes = -1;  /* -1: not read yet; 0: off */
static long skip;

/* Returns 1 when an allocation of n bytes must fail. */
static int fail(size_t n)
{
	if (min_bytes < 0) {
		const char *m = getenv("FAULT_MALLOC_MIN"), *s = getenv("FAULT_MALLOC_SKIP");
		skip = s ? atol(s) : 0;
		min_bytes = m ? atol(m) : 0;
	}
	if (min_bytes <= 0 || n < (size_t)min_bytes)
		return 0;
	if (skip > 0) {
		skip--;
		return 0;
	}
	return 1;
}

void *malloc(size_t n)
{
	if (fail(n)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	if (m && n <= (size_t)-1 / m && fail(n * m)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	if (fail(n)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, n);
}

void *aligned_alloc(size_t a, size_t n)
{
	if (fail(n)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_memalign(a, n);
}

int posix_memalign(void **out, size_t a, size_t n)
{
	void *p;

	if (fail(n))
		return ENOMEM;
	p = __libc_memalign(a, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}
