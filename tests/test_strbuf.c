/* io/strbuf: appending, growth, handing over, writing, failure. */
#include <stdint.h>

#include "check.h"
#include "../io/strbuf.h"

static void test_append_and_take(void)
{
	strbuf b;
	size_t len = 0;
	char *text;

	strbuf_init(&b);
	CHECK(strcmp(strbuf_str(&b), "") == 0 && b.len == 0, "empty: '%s'", strbuf_str(&b));
	CHECK(strbuf_appendf(&b, "%d,%s", 12, "ab") == 0, "appendf");
	CHECK(strbuf_append(&b, "xyz", 2) == 0, "append");
	CHECK(strcmp(strbuf_str(&b), "12,abxy") == 0 && b.len == 7, "'%s'", strbuf_str(&b));
	text = strbuf_take(&b, &len);
	CHECK(text && strcmp(text, "12,abxy") == 0 && len == 7, "taken '%s'", text ? text : "");
	CHECK(b.s == NULL && b.len == 0 && strcmp(strbuf_str(&b), "") == 0, "not empty after take");
	free(text);
	text = strbuf_take(&b, &len);
	CHECK(text && text[0] == '\0' && len == 0, "an empty buffer hands over \"\"");
	free(text);
}

/* Many appends cross several growths and keep every byte. */
static void test_growth(void)
{
	strbuf b = { 0 };
	int bad = 0, failed = 0;

	for (int i = 0; i < 5000; i++)
		failed += strbuf_appendf(&b, "%04d\n", i) != 0;
	CHECK(failed == 0, "%d appends failed", failed);
	CHECK(b.len == 5000 * 5 && b.cap > b.len && b.s[b.len] == '\0', "len %zu cap %zu",
	      b.len, b.cap);
	for (int i = 0; i < 5000; i++) {
		char want[8];
		snprintf(want, sizeof(want), "%04d\n", i);
		bad += memcmp(b.s + (size_t)i * 5, want, 5) != 0;
	}
	CHECK(bad == 0, "%d lines differ", bad);
	strbuf_release(&b);
	CHECK(b.s == NULL && b.len == 0 && b.cap == 0, "release leaves it empty");
}

/* A failed append (here: a size no allocation can meet) sticks: later
 * appends are ignored, take gives NULL, writing reports it and writes nothing. */
static void test_failure(void)
{
	strbuf b = { 0 };
	pl_err err = { 0 };

	CHECK(strbuf_appendf(&b, "kept") == 0, "first");
	CHECK(strbuf_append(&b, "", SIZE_MAX / 2) == -PL_ENOMEM && b.failed, "huge append");
	CHECK(strbuf_appendf(&b, "more") == -PL_ENOMEM, "append after a failure");
	CHECK(strcmp(strbuf_str(&b), "kept") == 0, "text before the failure: '%s'", strbuf_str(&b));
	CHECK(strbuf_write_file(&b, "out.txt", &err) == -PL_ENOMEM && err.code == PL_ENOMEM &&
	      strstr(err.msg, "out.txt"), "write: %s", err.msg);
	CHECK(access("out.txt", F_OK) != 0, "a failed buffer wrote a file");
	CHECK(b.s == NULL && !b.failed, "write releases");
	CHECK(strbuf_append(&b, "", SIZE_MAX / 2) < 0 && strbuf_take(&b, NULL) == NULL,
	      "take of a failed buffer");
	CHECK(b.s == NULL && !b.failed, "take of a failed buffer releases it");
}

static void test_write_file(void)
{
	strbuf b = { 0 };
	pl_err err = { 0 };

	strbuf_appendf(&b, "a,b\n1,2\n");
	CHECK_OK(strbuf_write_file(&b, "t.csv", &err), &err);
	CHECK(check_file_equals("t.csv", "a,b\n1,2\n", 8), "t.csv content");
	CHECK(b.s == NULL, "write releases");
	CHECK_OK(strbuf_write_file(&b, "empty.csv", &err), &err);
	CHECK(check_file_equals("empty.csv", "", 0), "an empty buffer writes an empty file");
	strbuf_appendf(&b, "x");
	CHECK(strbuf_write_file(&b, "no/such/dir/t.csv", &err) == -PL_EIO &&
	      strstr(err.msg, "no/such/dir/t.csv"), "missing folder: %s", err.msg);
}

int main(void)
{
	RUN(test_append_and_take);
	RUN(test_growth);
	RUN(test_failure);
	RUN(test_write_file);
	return check_report("test_strbuf");
}
