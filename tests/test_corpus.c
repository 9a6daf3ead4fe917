/* Regression inputs found by fuzzing the model loader and the config parser
 * (tests/corpus/model, tests/corpus/config): each must load or be refused
 * with a message, never crash (make asan runs this under the sanitizers). */
#include <dirent.h>
#include <limits.h>

#include "../nn/nn.h"
#include "../stages/schema.h"
#include "check.h"

/* Calls fn on every file of tests/corpus/NAME; returns how many. */
static int each_file(const char *name, void (*fn)(const char *path))
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	const char *root = getenv("PL_ROOT");
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/tests/corpus/%s", root ? root : ".", name);
	if (!(d = opendir(dir)))
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fn(path);
		n++;
	}
	closedir(d);
	return n;
}

static void load_model(const char *path)
{
	nn_err e = { 0 };
	nn_meta meta = { 0 };
	nn_net *net = nn_model_load(path, 1, 4, &meta, &e);

	CHECK(net || (e.code && e.msg[0]), "%s: refused without a message", path);
	nn_net_free(net);
	nn_meta_free(&meta);
}

static void load_config(const char *path)
{
	pl_err err = { 0 };
	cfg *c = NULL;
	int rc = schema_load(path, NULL, 0, &c, &err);

	CHECK(rc == 0 || (err.code == PL_EUSAGE && strstr(err.msg, path)),
	      "%s: rc %d, '%s'", path, rc, err.msg);
	cfg_free(c);
}

static void test_model_corpus(void)
{
	CHECK(each_file("model", load_model) >= 1, "no model corpus found (PL_ROOT?)");
}

static void test_config_corpus(void)
{
	CHECK(each_file("config", load_config) >= 1, "no config corpus found (PL_ROOT?)");
}

int main(void)
{
	RUN(test_model_corpus);
	RUN(test_config_corpus);
	return check_report("test_corpus");
}
