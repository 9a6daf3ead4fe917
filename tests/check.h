/* Minimal unit-test harness: each test runs in a fresh temporary directory;
 * CHECK counts assertions; the program ends with "N passed, N failed". */
#ifndef PL_CHECK_H
#define PL_CHECK_H

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

/* Prints the closing line and returns the exit status for main. */
static inline int check_report(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
