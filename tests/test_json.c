/* io/json: the one format of the JSON files pipeline writes. */
#include <math.h>
#include <sys/stat.h>

#include "check.h"
#include "../io/json.h"

static void test_format(void)
{
	json_t *obj = json_pack("{s:i,s:f,s:[s,b],s:{}}", "z", 1, "pi", M_PI, "list", "é", 1,
				"empty");
	const char *want = "{\n  \"z\": 1,\n  \"pi\": 3.1415926535897931,\n  \"list\": [\n"
			   "    \"\xc3\xa9\",\n    true\n  ],\n  \"empty\": {}\n}\n";
	size_t len = 0;
	char *text = json_format(obj, &len);

	CHECK(text && strcmp(text, want) == 0 && len == strlen(want), "got:\n%s", text ? text : "");
	free(text);
	CHECK(json_format(NULL, &len) == NULL, "NULL object");
	json_decref(obj);
}

/* 17 significant digits: every double reads back to itself. */
static void test_reals_round_trip(void)
{
	double v[] = { 0.1, 1.0 / 3.0, 2.0 / 3.0 * 1e-300, 123456789.12345678, -0.0 };
	json_t *arr = json_array(), *back;
	char *text;
	int bad = 0;

	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++)
		json_array_append_new(arr, json_real(v[i]));
	text = json_format(arr, NULL);
	back = text ? json_loads(text, 0, NULL) : NULL;
	for (size_t i = 0; back && i < sizeof(v) / sizeof(*v); i++)
		bad += json_real_value(json_array_get(back, i)) != v[i];
	CHECK(back && bad == 0, "%d reals changed:\n%s", bad, text ? text : "");
	free(text);
	json_decref(back);
	json_decref(arr);
}

static void test_write(void)
{
	json_t *obj = json_pack("{s:s}", "k", "v");
	pl_err err = { 0 };
	const char *want = "{\n  \"k\": \"v\"\n}\n";

	CHECK_OK(json_write_file("a.json", obj, &err), &err);
	CHECK(check_file_equals("a.json", want, strlen(want)), "a.json");
	CHECK(mkdir("d", 0755) == 0, "mkdir");
	CHECK_OK(json_write_in("d", "b.json", obj, &err), &err);
	CHECK(check_file_equals("d/b.json", want, strlen(want)), "d/b.json");
	CHECK_OK(json_write_atomic("a.json", obj, &err), &err);
	CHECK(check_file_equals("a.json", want, strlen(want)), "a.json replaced");
	CHECK(json_write_in("d", "b.json", NULL, &err) == -PL_ENOMEM &&
	      strstr(err.msg, "d/b.json"), "NULL object: %s", err.msg);
	CHECK(check_file_equals("d/b.json", want, strlen(want)), "a NULL object wrote over the file");
	CHECK(json_write_file("nowhere/c.json", obj, &err) == -PL_EIO &&
	      strstr(err.msg, "nowhere/c.json"), "missing folder: %s", err.msg);
	char dir[5000];
	memset(dir, 'x', sizeof(dir) - 1);
	dir[sizeof(dir) - 1] = '\0';
	CHECK(json_write_in(dir, "c.json", obj, &err) == -PL_EIO &&
	      strstr(err.msg, "path too long"), "long path: %s", err.msg);
	json_decref(obj);
}

int main(void)
{
	RUN(test_format);
	RUN(test_reals_round_trip);
	RUN(test_write);
	return check_report("test_json");
}
