/* Tests of io/fs's path formatter: a path that fits is written whole, one
 * that does not is refused with "path too long" and never cut, and the
 * helpers and stages built on it pass that error on. */
#include <limits.h>

#include "../io/fs.h"
#include "../stages/dataset.h"
#include "check.h"

/* A path of len bytes below the current directory: "long/xxx...". */
static char *long_path(size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		exit(2);
	memset(p, 'x', len);
	memcpy(p, "long/", 5);
	for (size_t i = 100; i < len; i += 100)
		p[i] = '/';   /* components stay below NAME_MAX */
	p[len] = '\0';
	return p;
}

/* err says "path too long" and quotes the start of what was asked for. */
static int is_too_long(const pl_err *err, int rc)
{
	if (rc == -PL_EIO && err->code == PL_EIO && !strncmp(err->msg, "path too long: 'long/", 21) &&
	    strstr(err->msg, "...'") && strlen(err->msg) < 120)
		return 1;
	fprintf(stderr, "  rc %d, code %d: %s\n", rc, err->code, err->msg);
	return 0;
}

static void test_fits(void)
{
	char out[PATH_MAX] = "stale";
	pl_err err = {0};

	CHECK_OK(fs_path(out, sizeof(out), &err, "%s/%s-%d", "dir", "name", 7), &err);
	CHECK(!strcmp(out, "dir/name-7"), "got '%s'", out);
	CHECK(err.code == 0 && !err.msg[0], "err touched: %d %s", err.code, err.msg);
}

/* n - 1 characters fit in n bytes; n do not. */
static void test_limit(void)
{
	char out[8], *p = long_path(PATH_MAX), big[PATH_MAX];
	pl_err err = {0};
	int rc;

	CHECK_OK(fs_path(out, sizeof(out), &err, "%s", "1234567"), &err);
	CHECK(!strcmp(out, "1234567"), "got '%s'", out);
	rc = fs_path(out, sizeof(out), &err, "%s", "12345678");
	CHECK(rc == -PL_EIO && out[0] == '\0', "rc %d, out '%s'", rc, out);
	CHECK(strstr(err.msg, "'12345678...'"), "%s", err.msg);
	p[PATH_MAX - 1] = '\0';
	CHECK_OK(fs_path(big, sizeof(big), &err, "%s", p), &err);
	CHECK(strlen(big) == PATH_MAX - 1, "%zu bytes", strlen(big));
	free(p);
}

static void test_too_long(void)
{
	char out[PATH_MAX], *dir = long_path(PATH_MAX - 8);
	pl_err err = {0};
	int rc;

	rc = fs_path(out, sizeof(out), &err, "%s/%s", dir, "stage.json");
	CHECK(is_too_long(&err, rc), "dir + name over PATH_MAX");
	CHECK(out[0] == '\0', "a cut path was left: %zu bytes", strlen(out));
	CHECK(fs_path(out, sizeof(out), NULL, "%s/%s", dir, "stage.json") == -PL_EIO,
	      "without an error record");
	free(dir);
}

/* The helpers built on fs_path refuse too long a path rather than work on
 * a cut one (which would name another file). */
static void test_helpers(void)
{
	char *path = long_path(PATH_MAX - 8), *over = long_path(PATH_MAX + 100);
	pl_err err = {0};
	dataset ds;
	int rc;

	rc = fs_write_atomic(path, "x", 1, &err);   /* its temporary name does not fit */
	CHECK(is_too_long(&err, rc), "fs_write_atomic");
	CHECK(!fs_exists("long"), "something was written under long/");
	pl_errclear(&err);
	rc = fs_mkdirs(over, &err);
	CHECK(is_too_long(&err, rc), "fs_mkdirs");
	pl_errclear(&err);
	rc = dataset_load(path, &ds, &err);
	CHECK(is_too_long(&err, rc), "dataset_load");
	dataset_release(&ds);
	free(path);
	free(over);
}

int main(void)
{
	RUN(test_fits);
	RUN(test_limit);
	RUN(test_too_long);
	RUN(test_helpers);
	return check_report("test_fs");
}
