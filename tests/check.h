/* Minimal unit-test harness: each test runs in a fresh temporary directory;
 * CHECK counts assertions; the program ends with "N passed, N failed". */
#ifndef PL_CHECK_H
#define PL_CHECK_H

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_passed, check_failed;
static const char *check_test;

#define CHECK(cond, ...) do { \
	if (cond) { check_passed++; } else { \
		check_failed++; \
		fprintf(stderr, "FAIL %s:%d %s: %s: ", __FILE__, __LINE__, check_test, #cond); \
		fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); \
	} } while (0)

/* CHECK_OK(call, err): call returns 0, else prints err.msg. */
#define CHECK_OK(call, errp) do { int rc_ = (call); \
	CHECK(rc_ == 0, "%s returned %d: %s", #call, rc_, (errp)->msg); } while (0)

/* Runs fn in a fresh temporary directory that is removed afterwards. */
#define RUN(fn) check_run(#fn, fn)

static inline void check_run(const char *name, void (*fn)(void))
{
	char dir[] = "/tmp/pltest-XXXXXX", cwd[4096], cmd[4200];
	int before = check_failed;

	if (!mkdtemp(dir) || !getcwd(cwd, sizeof(cwd)) || chdir(dir) != 0) {
		perror("check_run");
		exit(2);
	}
	check_test = name;
	fn();
	if (chdir(cwd) != 0)
		exit(2);
	if (check_failed == before || getenv("PL_KEEP_FAILED") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	} else {
		fprintf(stderr, "kept %s\n", dir);
	}
}

/* Reads a whole file into a NUL-terminated heap buffer (caller frees);
 * NULL when it cannot be read. */
static inline char *check_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* 1 when the file at path holds exactly len bytes equal to data. */
static inline int check_file_equals(const char *path, const void *data, size_t len)
{
	size_t n = 0;
	char *got = check_slurp(path, &n);
	int same = got && n == len && memcmp(got, data, len) == 0;

	free(got);
	return same;
}

/* Prints the closing line and returns the exit status for main. */
/* Pins the process to the first CPU it may use; *was gets the CPUs it had,
 * for sched_setaffinity(0, sizeof(*was), was) afterwards. 0 on success. */
static inline int check_pin_one_cpu(cpu_set_t *was)
{
	cpu_set_t one;

	if (sched_getaffinity(0, sizeof(*was), was) != 0)
		return -1;
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, was)) {
			CPU_SET(c, &one);
			break;
		}
	return sched_setaffinity(0, sizeof(one), &one);
}

static inline int check_report(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
