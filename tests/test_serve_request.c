/* The request decoding of `pipeline serve` (stages/serve/request.c):
 * base64 in both alphabets, v1 and v2 bodies into instances, the errors
 * that name what is wrong, and the fuzz corpus (tests/corpus/serve_request). */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../stages/serve/request.h"
#include "check.h"

static const serve_shape shape = { 1, 2, 2 };

static void test_b64(void)
{
	static const struct { const char *text; const char *bytes; } ok[] = {
		{ "aGVsbG8=", "hello" }, { "aGVsbG8", "hello" }, { "", "" }, { "-_8", "\xfb\xff" },
		{ "+/8=", "\xfb\xff" }, { "YQ==", "a" },
	};
	static const char *const bad[] = { "a", "aGVs bG8=", "a=bc", "%%%%", "aGVsbG8===" };
	unsigned char *out;
	size_t n;
	pl_err err = { 0 };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_OK(serve_b64_decode(ok[i].text, strlen(ok[i].text), &out, &n, &err), &err);
		CHECK(n == strlen(ok[i].bytes) && !memcmp(out, ok[i].bytes, n), "'%s': %zu bytes",
		      ok[i].text, n);
		free(out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = serve_b64_decode(bad[i], strlen(bad[i]), &out, &n, &err);
		CHECK(rc == -PL_EDATA && !out && strstr(err.msg, "not base64"), "'%s': rc %d", bad[i], rc);
	}
}

static void test_v1(void)
{
	const char *body = "{\"instances\": [{\"b64\": \"aGk=\"}, [[[0, 0.5], [1, 0.25]]]]}";
	serve_request r;
	pl_err err = { 0 };

	CHECK_OK(serve_request_v1(body, strlen(body), shape, 4, &r, &err), &err);
	CHECK(r.n == 2 && r.inst[0].kind == SERVE_IN_IMAGE && r.inst[0].len == 2 &&
	      !memcmp(r.inst[0].bytes, "hi", 2), "b64 instance");
	CHECK(r.inst[1].kind == SERVE_IN_TENSOR && r.inst[1].values[1] == 0.5f &&
	      r.inst[1].values[3] == 0.25f, "tensor instance");
	serve_request_release(&r);
}

static void test_v2(void)
{
	const char *flat = "{\"id\": \"x\", \"inputs\": [{\"name\": \"input\", \"datatype\": \"FP32\", "
			   "\"shape\": [2, 1, 2, 2], \"data\": [1, 2, 3, 4, 5, 6, 7, 8]}]}";
	const char *bytes = "{\"inputs\": [{\"name\": \"b\", \"datatype\": \"BYTES\", \"shape\": [1], "
			    "\"data\": [\"aGk\"]}]}";
	serve_request r;
	pl_err err = { 0 };

	CHECK_OK(serve_request_v2(flat, strlen(flat), shape, 4, &r, &err), &err);
	CHECK(r.n == 2 && !strcmp(r.id, "x") && r.inst[1].values[0] == 5 && r.inst[1].values[3] == 8,
	      "flat FP32 into 2 instances");
	serve_request_release(&r);
	CHECK_OK(serve_request_v2(bytes, strlen(bytes), shape, 4, &r, &err), &err);
	CHECK(r.n == 1 && r.inst[0].len == 2 && !memcmp(r.inst[0].bytes, "hi", 2), "BYTES input");
	serve_request_release(&r);
}

static void test_errors(void)
{
	static const struct { int v2; const char *body, *msg; } cases[] = {
		{ 0, "{\"instances\": [", "malformed JSON at line 1" },
		{ 0, "[]", "must be a JSON object" },
		{ 0, "{}", "no \"instances\" array" },
		{ 0, "{\"instances\": []}", "holds no instance" },
		{ 0, "{\"instances\": [1, 1, 1, 1, 1]}", "at most 4" },
		{ 0, "{\"instances\": [[[0, 1]]]}", "instance 0: wrong shape" },
		{ 0, "{\"instances\": [[[[0, 1], [0, \"a\"]]]]}", "instance 0: value 3 is not a number" },
		{ 0, "{\"instances\": [{\"b64\": \"@\"}]}", "instance 0: not base64" },
		{ 0, "{\"instances\": [{\"bytes\": \"aGk=\"}]}", "needs a \"b64\"" },
		{ 1, "{\"inputs\": []}", "one input object" },
		{ 1, "{\"inputs\": [{\"datatype\": \"FP32\", \"shape\": [1, 3, 2, 2], \"data\": []}]}",
		  "wrong shape: the model's input is [n,1,2,2]" },
		{ 1, "{\"inputs\": [{\"datatype\": \"FP32\", \"shape\": [1, 1, 2, 2], \"data\": [1]}]}",
		  "\"data\" holds 1 values, \"shape\" says 4" },
		{ 1, "{\"inputs\": [{\"datatype\": \"BYTES\", \"shape\": [1], \"data\": [1]}]}",
		  "not a string" },
		{ 1, "{\"id\": 3, \"inputs\": [{}]}", "\"id\" must be a string" },
	};
	serve_request r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pl_err err = { 0 };
		size_t len = strlen(cases[i].body);
		int rc = cases[i].v2 ? serve_request_v2(cases[i].body, len, shape, 4, &r, &err) :
			 serve_request_v1(cases[i].body, len, shape, 4, &r, &err);
		CHECK(rc == -PL_EDATA && strstr(err.msg, cases[i].msg) && !r.inst && !r.n,
		      "'%s': rc %d, '%s'", cases[i].body, rc, err.msg);
	}
}

/* Each corpus file (first byte: decoder and shape, as the fuzz target) is
 * decoded or refused with a message. */
static void test_corpus(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 256], buf[65536];
	const char *root = getenv("PL_ROOT");
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/tests/corpus/serve_request", root ? root : ".");
	CHECK((d = opendir(dir)) != NULL, "no corpus at %s (PL_ROOT?)", dir);
	while (d && (de = readdir(d))) {
		FILE *f;
		size_t len;
		serve_request r;
		pl_err err = { 0 };
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!(f = fopen(path, "rb")))
			continue;
		len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		if (len < 1 || (buf[0] >> 2) % 3 == 2)
			continue;
		int rc = (buf[0] >> 2) % 3 ? serve_request_v2(buf + 1, len - 1, shape, 8, &r, &err) :
			 serve_request_v1(buf + 1, len - 1, shape, 8, &r, &err);
		CHECK(rc == 0 || (err.code && err.msg[0]), "%s: refused without a message", path);
		if (rc == 0)
			serve_request_release(&r);
		n++;
	}
	if (d)
		closedir(d);
	CHECK(n >= 3, "only %d corpus files", n);
}

int main(void)
{
	RUN(test_b64);
	RUN(test_v1);
	RUN(test_v2);
	RUN(test_errors);
	RUN(test_corpus);
	return check_report("test_serve_request");
}
