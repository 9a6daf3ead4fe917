/* Stage engine tests with test-only stages: cache hits, every kind of
 * invalidation, --force/--from/--until, failures, SIGKILL mid-write, the
 * workspace lock. And configuration errors with the real schema. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../io/fs.h"
#include "../io/log.h"
#include "../stages/schema.h"
#include "../stages/engine.h"
#include "check.h"

static const cfg_key schema[] = {
	{ "a", "x", CFG_INT, "1", 0, 100, NULL, "a value", 0 },
	{ "a", "threads", CFG_INT, "0", 0, 8, NULL, "runtime only", CFG_RUNTIME },
	{ "b", "y", CFG_STR, "hello", 0, 0, NULL, "b value", 0 },
};

static int runs[2];          /* how often each stage ran */
static int fail_next;        /* make s2 fail once */
static int slow_write;       /* s2 writes half, then sleeps (for SIGKILL) */

static int write_text(stage_ctx *ctx, const char *file, const char *text, pl_err *err)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", ctx->out_dir, file);
	return fs_write_file(path, text, strlen(text), err);
}

static int s1_run(stage_ctx *ctx, pl_err *err)
{
	char text[64];

	runs[0]++;
	snprintf(text, sizeof(text), "x=%ld\n", cfg_int(ctx->cfg, "a", "x"));
	json_object_set_new(ctx->metrics, "x", json_integer(cfg_int(ctx->cfg, "a", "x")));
	return write_text(ctx, "out.txt", text, err);
}

static int s2_run(stage_ctx *ctx, pl_err *err)
{
	char path[4200], *in = NULL, text[256];
	size_t len;
	int rc;

	runs[1]++;
	if (fail_next) {
		fail_next = 0;
		return pl_errorf(err, PL_EDATA, "s2 was told to fail");
	}
	snprintf(path, sizeof(path), "%s/out.txt", ctx->up_dir);
	if ((rc = fs_read_file(path, 0, &in, &len, err)) < 0)
		return rc;
	snprintf(text, sizeof(text), "%s%s\n", in, cfg_str(ctx->cfg, "b", "y"));
	free(in);
	if (slow_write) {
		write_text(ctx, "result.txt", "partial", err);
		for (;;)
			pause();
	}
	return write_text(ctx, "result.txt", text, err);
}

static const stage_def defs[] = {
	{ "s1", 1, "a", NULL, NULL, s1_run },
	{ "s2", 1, "b", "s1", NULL, s2_run },
};

/* Runs both stages with the given --set assignments. */
static int run_with(const char *ws, const char *from, const char *until, const char *force,
		    const char *set1, const char *set2, stage_status *st, pl_err *err)
{
	char *sets[2] = { (char *)set1, (char *)set2 };
	engine_opts o = { ws, NULL, from, until, force, 0, NULL, NULL };
	cfg *c = cfg_new(schema, sizeof(schema) / sizeof(schema[0]));
	int rc = 0;

	for (int i = 0; i < 2 && rc == 0; i++)
		if (sets[i])
			rc = cfg_set(c, sets[i], "--set", err);
	o.cfg = c;
	if (rc == 0)
		rc = engine_run(defs, 2, &o, st, err);
	cfg_free(c);
	return rc;
}

static void status_of(const char *ws, const char *set1, stage_status *st)
{
	cfg *c = cfg_new(schema, sizeof(schema) / sizeof(schema[0]));
	pl_err err = { 0 };

	if (set1)
		cfg_set(c, set1, "--set", &err);
	engine_status(defs, 2, ws, c, 0, st, &err);
	cfg_free(c);
}

static void reset(void)
{
	runs[0] = runs[1] = 0;
}

/* A stage reading outside data whose identity cannot be had until the
 * configuration names the data: [b] y empty stands for "no source". */
static int id_identity(stage_ctx *ctx, char *out, size_t n, pl_err *err)
{
	const char *src = cfg_str(ctx->cfg, "b", "y");

	if (!*src)
		return pl_errorf(err, PL_EUSAGE, "no data source: set [b] y");
	snprintf(out, n, "data:%s", src);
	return 0;
}

static const stage_def id_defs[] = {
	{ "s1", 1, "a b", NULL, id_identity, s1_run },
	{ "s2", 1, "b", "s1", NULL, s2_run },
};

static int status_with(const char *ws, const char *set, int unknown_ok, stage_status *st,
		       pl_err *err)
{
	cfg *c = cfg_new(schema, sizeof(schema) / sizeof(schema[0]));
	int rc = cfg_set(c, set, "--set", err);

	if (rc == 0)
		rc = engine_status(id_defs, 2, ws, c, unknown_ok, st, err);
	cfg_free(c);
	return rc;
}

/* status on a workspace with no data source shows every stage as never
 * run (gc, which asks for the strict form, gets the error); once a result
 * exists, the reason says why its state cannot be told. */
static void test_unknown_identity(void)
{
	engine_opts o = { "ws-id", NULL, NULL, NULL, NULL, 0, NULL, NULL };
	stage_status st[2];
	pl_err err = { 0 };
	cfg *c;

	CHECK(status_with("ws-id", "b.y=", 0, st, &err) == -PL_EUSAGE, "strict status accepted it");
	CHECK(strstr(err.msg, "s1: no data source") != NULL, "strict message '%s'", err.msg);
	pl_errclear(&err);
	CHECK_OK(status_with("ws-id", "b.y=", 1, st, &err), &err);
	CHECK(st[0].state == ST_NEVER && st[1].state == ST_NEVER, "states %d %d", st[0].state,
	      st[1].state);
	CHECK(!strcmp(st[0].reason, "never run: no data source: set [b] y") &&
	      !strcmp(st[1].reason, "never run"), "reasons '%s' '%s'", st[0].reason, st[1].reason);
	CHECK(!st[0].fingerprint[0], "fingerprint '%s' without an identity", st[0].fingerprint);
	engine_status_release(st, 2);
	c = cfg_new(schema, sizeof(schema) / sizeof(schema[0]));
	cfg_set(c, "b.y=plate", "--set", &err);
	o.cfg = c;
	CHECK_OK(engine_run(id_defs, 2, &o, st, &err), &err);
	CHECK(!strcmp(st[0].data, "data:plate"), "data identity '%s'", st[0].data);
	CHECK(st[1].up.fingerprint[0] && !strcmp(st[1].up.fingerprint, st[0].fingerprint),
	      "s2 read upstream '%s'", st[1].up.fingerprint);
	engine_status_release(st, 2);
	cfg_free(c);
	CHECK_OK(status_with("ws-id", "b.y=", 1, st, &err), &err);
	CHECK(st[0].state == ST_STALE, "s1 state %d", st[0].state);
	CHECK(!strcmp(st[0].reason, "cannot tell: no data source: set [b] y"), "s1 reason '%s'",
	      st[0].reason);
	engine_status_release(st, 2);
}

static void test_cache_hit(void)
{
	stage_status st[2];
	pl_err err = { 0 };

	reset();
	CHECK_OK(run_with("ws", NULL, NULL, NULL, NULL, NULL, st, &err), &err);
	CHECK(runs[0] == 1 && runs[1] == 1, "first run ran %d %d", runs[0], runs[1]);
	CHECK(st[0].state == ST_RAN && st[1].state == ST_RAN, "states %d %d", st[0].state, st[1].state);
	engine_status_release(st, 2);
	CHECK_OK(run_with("ws", NULL, NULL, NULL, NULL, NULL, st, &err), &err);
	CHECK(runs[0] == 1 && runs[1] == 1, "second run ran %d %d", runs[0], runs[1]);
	CHECK(st[0].state == ST_CACHED && st[1].state == ST_CACHED, "not cached");
	CHECK(!strcmp(st[1].reason, "cached"), "reason %s", st[1].reason);
	engine_status_release(st, 2);
	/* a runtime-only key does not invalidate */
	CHECK_OK(run_with("ws", NULL, NULL, NULL, "a.threads=4", NULL, st, &err), &err);
	CHECK(runs[0] == 1, "runtime key reran s1");
	engine_status_release(st, 2);
	CHECK(fs_exists("ws/s1/stage.json") && fs_exists("ws/s2/result.txt"), "outputs in place");
}

static void test_config_and_upstream_change(void)
{
	stage_status st[2];
	pl_err err = { 0 };

	reset();
	CHECK_OK(run_with("ws", NULL, NULL, NULL, NULL, NULL, st, &err), &err);
	engine_status_release(st, 2);
	status_of("ws", "a.x=2", st);
	CHECK(st[0].state == ST_STALE, "s1 state %d", st[0].state);
	CHECK(!strcmp(st[0].reason, "config changed: a.x 1 -> 2"), "s1 reason '%s'", st[0].reason);
	CHECK(!strcmp(st[1].reason, "upstream s1 changed"), "s2 reason '%s'", st[1].reason);
	engine_status_release(st, 2);
	status_of("ws", "a.x=+01", st);   /* another spelling of the default 1 */
	CHECK(st[0].state == ST_CACHED, "a.x=+01: s1 state %d (%s)", st[0].state, st[0].reason);
	engine_status_release(st, 2);
	CHECK_OK(run_with("ws", NULL, NULL, NULL, "a.x=2", NULL, st, &err), &err);
	CHECK(runs[0] == 2 && runs[1] == 2, "both reran: %d %d", runs[0], runs[1]);
	engine_status_release(st, 2);
	/* a downstream-only key reruns only downstream */
	CHECK_OK(run_with("ws", NULL, NULL, NULL, "a.x=2", "b.y=bye", st, &err), &err);
	CHECK(runs[0] == 2 && runs[1] == 3, "only s2 reran: %d %d", runs[0], runs[1]);
	engine_status_release(st, 2);
	char *text = NULL;
	size_t len;
	CHECK_OK(fs_read_file("ws/s2/result.txt", 0, &text, &len, &err), &err);
	CHECK(text && !strcmp(text, "x=2\nbye\n"), "result '%s'", text);
	free(text);
}

static void test_damaged_outputs(void)
{
	stage_status st[2];
	pl_err err = { 0 };

	reset();
	CHECK_OK(run_with("ws", NULL, NULL, NULL, NULL, NULL, st, &err), &err);
	engine_status_release(st, 2);
	CHECK(truncate("ws/s2/result.txt", 3) == 0, "truncate");
	status_of("ws", NULL, st);
	CHECK(st[1].state == ST_STALE && strstr(st[1].reason, "output changed: result.txt"),
	      "truncated: '%s'", st[1].reason);
	engine_status_release(st, 2);
	CHECK_OK(run_with("ws", NULL, NULL, NULL, NULL, NULL, st, &err), &err);
	engine_status_release(st, 2);
	struct stat sb;
	FILE *w = fopen("ws/s2/result.txt", "r+");
	CHECK(w && fputc('#', w) != EOF && fclose(w) == 0, "overwrite the first byte");
	status_of("ws", NULL, st);
	CHECK(st[1].state == ST_STALE &&
	      !strcmp(st[1].reason, "output changed: result.txt no longer has its recorded SHA-256"),
	      "same size, other bytes: '%s'", st[1].reason);
	CHECK(stat("ws/s2/result.txt", &sb) == 0, "still there");
	engine_status_release(st, 2);
	unlink("ws/s2/result.txt");
	status_of("ws", NULL, st);
	CHECK(!strcmp(st[1].reason, "outputs missing: result.txt"), "missing: '%s'", st[1].reason);
	engine_status_release(st, 2);
	CHECK_OK(run_with("ws", NULL, NULL, NULL, NULL, NULL, st, &err), &err);
	CHECK(runs[0] == 1 && runs[1] == 3, "s2 rerun after damage: %d %d", runs[0], runs[1]);
	engine_status_release(st, 2);
	unlink("ws/s1/stage.json");
	status_of("ws", NULL, st);
	CHECK(st[0].state == ST_NEVER && !strcmp(st[0].reason, "no valid stage.json"),
	      "no stage.json: '%s'", st[0].reason);
	engine_status_release(st, 2);
	FILE *f = fopen("ws/s2/stage.json", "w");
	fputs("{ not json", f);
	fclose(f);
	status_of("ws", NULL, st);
	CHECK(st[1].state == ST_NEVER, "corrupt stage.json state %d", st[1].state);
	engine_status_release(st, 2);
}

static void test_force_from_until(void)
{
	stage_status st[2];
	pl_err err = { 0 };

	reset();
	CHECK(run_with("ws", "s2", NULL, NULL, NULL, NULL, st, &err) == -PL_EUSAGE &&
	      strstr(err.msg, "s2 cannot start: s1 has no current result"), "from without s1: %s", err.msg);
	engine_status_release(st, 2);
	CHECK_OK(run_with("ws", NULL, "s1", NULL, NULL, NULL, st, &err), &err);
	CHECK(runs[0] == 1 && runs[1] == 0 && st[1].state == ST_SKIPPED, "until s1: %d %d", runs[0], runs[1]);
	engine_status_release(st, 2);
	CHECK_OK(run_with("ws", "s2", NULL, NULL, NULL, NULL, st, &err), &err);
	CHECK(runs[0] == 1 && runs[1] == 1, "from s2: %d %d", runs[0], runs[1]);
	engine_status_release(st, 2);
	CHECK_OK(run_with("ws", NULL, NULL, "s2", NULL, NULL, st, &err), &err);
	CHECK(runs[0] == 1 && runs[1] == 2 && !strcmp(st[1].reason, "forced"), "force s2: %d %d",
	      runs[0], runs[1]);
	engine_status_release(st, 2);
	CHECK_OK(run_with("ws", NULL, NULL, "all", NULL, NULL, st, &err), &err);
	CHECK(runs[0] == 2 && runs[1] == 3, "force all: %d %d", runs[0], runs[1]);
	engine_status_release(st, 2);
	CHECK(run_with("ws", NULL, NULL, "nope", NULL, NULL, st, &err) == -PL_EUSAGE &&
	      strstr(err.msg, "unknown stage 'nope'"), "unknown stage: %s", err.msg);
}

static void test_failure_keeps_previous(void)
{
	stage_status st[2];
	pl_err err = { 0 };
	char *text = NULL;
	size_t len;

	reset();
	CHECK_OK(run_with("ws", NULL, NULL, NULL, NULL, NULL, st, &err), &err);
	engine_status_release(st, 2);
	fail_next = 1;
	CHECK(run_with("ws", NULL, NULL, NULL, NULL, "b.y=new", st, &err) == -PL_EDATA, "failure code");
	CHECK(strstr(err.msg, "s2: s2 was told to fail") != NULL, "message '%s'", err.msg);
	CHECK(st[1].state == ST_FAILED, "state %d", st[1].state);
	engine_status_release(st, 2);
	CHECK_OK(fs_read_file("ws/s2/result.txt", 0, &text, &len, &err), &err);
	CHECK(text && !strcmp(text, "x=1\nhello\n"), "previous result kept: '%s'", text);
	free(text);
	cfg *c = cfg_new(schema, 3);
	cfg_set(c, "b.y=new", "--set", &err);
	engine_status(defs, 2, "ws", c, 0, st, &err);
	CHECK(st[1].state == ST_FAILED && strstr(st[1].reason, "failed: s2 was told to fail"),
	      "status after failure: '%s'", st[1].reason);
	engine_status_release(st, 2);
	cfg_free(c);
	CHECK_OK(run_with("ws", NULL, NULL, NULL, NULL, "b.y=new", st, &err), &err);
	CHECK(st[1].state == ST_RAN && !fs_exists("ws/.status/s2.failed.json"), "failure cleared");
	engine_status_release(st, 2);
}

/* A child killed with SIGKILL in the middle of writing s2 leaves the last
 * good result in place, and the next run redoes s2. */
static void test_sigkill_mid_write(void)
{
	stage_status st[2];
	pl_err err = { 0 };
	char *text = NULL;
	size_t len;
	pid_t pid;

	reset();
	CHECK_OK(run_with("ws", NULL, NULL, NULL, NULL, NULL, st, &err), &err);
	engine_status_release(st, 2);
	if ((pid = fork()) == 0) {
		slow_write = 1;
		run_with("ws", NULL, NULL, NULL, NULL, "b.y=changed", st, &err);
		_exit(0);
	}
	for (int i = 0; i < 500 && !fs_exists("ws/.tmp/s2/result.txt"); i++)
		usleep(10000);
	CHECK(fs_exists("ws/.tmp/s2/result.txt"), "child started writing");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_OK(fs_read_file("ws/s2/result.txt", 0, &text, &len, &err), &err);
	CHECK(text && !strcmp(text, "x=1\nhello\n"), "previous result intact: '%s'", text);
	free(text);
	status_of("ws", NULL, st);
	CHECK(st[0].state == ST_CACHED && st[1].state == ST_CACHED, "old config still cached");
	engine_status_release(st, 2);
	CHECK_OK(run_with("ws", NULL, NULL, NULL, NULL, "b.y=changed", st, &err), &err);
	CHECK(st[1].state == ST_RAN, "s2 redone");
	engine_status_release(st, 2);
	CHECK_OK(fs_read_file("ws/s2/result.txt", 0, &text, &len, &err), &err);
	CHECK(text && !strcmp(text, "x=1\nchanged\n"), "new result: '%s'", text);
	free(text);
}

static void test_lock(void)
{
	pl_err err = { 0 };
	int fd = -1, fd2 = -1, pipefd[2];
	char c;
	pid_t pid;

	CHECK(pipe(pipefd) == 0, "pipe");
	if ((pid = fork()) == 0) {
		int held;
		close(pipefd[0]);
		if (engine_lock("ws", &held, &err) == 0 && write(pipefd[1], "x", 1) == 1)
			for (;;)
				pause();
		_exit(1);
	}
	close(pipefd[1]);
	CHECK(read(pipefd[0], &c, 1) == 1, "child took the lock");
	CHECK(engine_lock("ws", &fd, &err) == -PL_ELOCK, "second lock refused");
	char want[64];
	snprintf(want, sizeof(want), "pid %d", (int)pid);
	CHECK(strstr(err.msg, want) != NULL, "message names the holder: '%s'", err.msg);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(pipefd[0]);
	CHECK_OK(engine_lock("ws", &fd2, &err), &err);
	engine_unlock(fd2);
}

/* Writes text to pipeline.ini and loads it with the real schema. */
static int load_ini(const char *text, pl_err *err)
{
	cfg *c = NULL;
	FILE *f = fopen("pipeline.ini", "w");
	int rc;

	fputs(text, f);
	fclose(f);
	rc = schema_load("pipeline.ini", NULL, 0, &c, err);
	cfg_free(c);
	return rc;
}

/* Values are stored in one spelling, so the fingerprint does not change
 * with the way a number or boolean is written; defaults are already in it. */
static void test_canonical_values(void)
{
	static const char *const in[][2] = {
		{ "train.lr=0.010", "0.01" }, { "train.lr=1e-2", "0.01" }, { "train.lr=.5", "0.5" },
		{ "train.lr=0.1234567890123", "0.1234567890123" }, { "train.epochs=010", "10" },
		{ "train.epochs=+7", "7" }, { "prepare.standardize=yes", "true" },
		{ "prepare.standardize=OFF", "false" }, { "validate.min_value=-0", "0" },
	};
	pl_err err = { 0 };
	cfg *c = NULL;
	size_t n;

	CHECK_OK(schema_load(NULL, NULL, 0, &c, &err), &err);
	for (size_t i = 0; c && i < sizeof(in) / sizeof(in[0]); i++) {
		char key[64];
		snprintf(key, sizeof(key), "%.*s", (int)strcspn(in[i][0], "="), in[i][0]);
		CHECK_OK(cfg_set(c, in[i][0], "--set", &err), &err);
		*strchr(key, '.') = '\0';
		CHECK(!strcmp(cfg_str(c, key, key + strlen(key) + 1), in[i][1]), "%s stored as '%s'",
		      in[i][0], cfg_str(c, key, key + strlen(key) + 1));
	}
	const cfg_key *k = c ? cfg_schema(c, &n) : NULL;
	for (size_t i = 0; k && i < n; i++) {
		char set[256];
		snprintf(set, sizeof(set), "%s.%s=%s", k[i].section, k[i].key, k[i].def);
		if (!k[i].def[0])
			continue;
		CHECK_OK(cfg_set(c, set, "--set", &err), &err);
		CHECK(!strcmp(cfg_str(c, k[i].section, k[i].key), k[i].def), "default of %s.%s '%s' "
		      "is not canonical ('%s')", k[i].section, k[i].key, k[i].def,
		      cfg_str(c, k[i].section, k[i].key));
	}
	cfg_free(c);
}

static void test_config_errors(void)
{
	pl_err err = { 0 };
	char *sets[1] = { "train.lr=0.02" };
	cfg *c = NULL;

	/* each file is refused (exit 2) with a message holding want */
	static const struct { const char *ini, *want; } bad[] = {
		{ "[train]\nepochs = 3\nlr_rate = 0.1\n",
		  "pipeline.ini:3: unknown key 'lr_rate' in [train] (did you mean 'lr'?)" },
		{ "[trian]\n", "pipeline.ini:1: unknown section [trian] (did you mean 'train'?)" },
		{ "[prepare]\nsede = 3\n",      /* a swapped pair is one edit */
		  "unknown key 'sede' in [prepare] (did you mean 'seed'?)" },
		{ "[prepare]\nval_fraction = 0.5\ntest_fraction = 0.5\n",
		  "pipeline.ini:2, pipeline.ini:3: [prepare] val_fraction 0.5 + test_fraction 0.5 = 1 "
		  "leaves less than 5% for training" },
		{ "[train]\naugment = flips, mirror\n",
		  "pipeline.ini:2: [train] augment: unknown augmentation 'mirror'" },
		{ "[prepare]\ntransforms = anscombe, bogus\n",
		  "pipeline.ini:2: [prepare] transforms: unknown transform 'bogus'" },
		{ "[prepare]\nresize = 256of 64x64\n", "pipeline.ini:2: [prepare] resize: " },
		{ "[package]\nname = My Model\n",
		  "pipeline.ini:2: [package] name 'My Model' may hold only" },
		{ "[dataset]\nsha256 = xyz\n", "pipeline.ini:2: [dataset] sha256 'xyz' is not 64 hex digits" },
		{ "epochs = 3\n[train]\n", "pipeline.ini:1: 'epochs' is outside any section" },
		{ "[train]\nepochs = 3\n[dataset\n",
		  "pipeline.ini:3: section header '[dataset' has no closing ']'" },
		{ "[train]\nepochs = 99999999999999999999\n", "is out of range (1 to 100000)" },
		{ "[prepare]\nfoo = 1\n", "seed, threads)" },       /* every key listed */
		{ "[train]\nepochs = ten\n", "pipeline.ini:2: train.epochs = 'ten' is not an integer" },
		{ "[train]\nlr = -1\n", "train.lr = -1 is out of range" },
		{ "[train]\nlr = nan\n", "train.lr = 'nan' is not a number" },
		{ "[train]\noptimizer = rmsprop\n", "one of: sgd|adam|adamw" },
		{ "[train]\nlr = 0.1\nlr = 0.2\n", "pipeline.ini:3: duplicate key 'lr'" },
		{ "[train]\nthis is not ini\n", "pipeline.ini:2: cannot parse" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(load_ini(bad[i].ini, &err) == -PL_EUSAGE && strstr(err.msg, bad[i].want),
		      "case %zu: '%s', wanted '%s'", i, err.msg, bad[i].want);
	CHECK(load_ini("[train]\nzzzzzz = 3\n", &err) == -PL_EUSAGE && !strstr(err.msg, "did you mean"),
	      "nothing near, no suggestion: '%s'", err.msg);
	CHECK(load_ini("[prepare]\nval_fraction = 0.5\ntest_fraction = 0.4\n", &err) == 0,
	      "fractions summing to 0.9: '%s'", err.msg);
	CHECK_OK(load_ini("[dataset]\nsource = x ; comment\n[prepare]\nsize = 32\n", &err), &err);
	CHECK_OK(schema_load("pipeline.ini", sets, 1, &c, &err), &err);
	CHECK(c && cfg_float(c, "train", "lr") == 0.02 && !strcmp(cfg_origin(c, "train", "lr"), "--set"),
	      "--set applied");
	CHECK(c && !strcmp(cfg_str(c, "dataset", "source"), "x"), "inline comment stripped");
	cfg_free(c);
	char *lists[2] = { "train.epochs=4; train.lr=0.5;", "" };   /* as a KFP step passes them */
	CHECK_OK(schema_load("pipeline.ini", lists, 2, &c, &err), &err);
	CHECK(c && cfg_int(c, "train", "epochs") == 4 && cfg_float(c, "train", "lr") == 0.5,
	      "--set with a ';' list, and an empty one");
	cfg_free(c);
	setenv("PIPELINE_SET", "train.epochs=3;train.batch=8", 1);
	CHECK_OK(schema_load("pipeline.ini", NULL, 0, &c, &err), &err);
	CHECK(c && cfg_int(c, "train", "epochs") == 3 && cfg_int(c, "train", "batch") == 8,
	      "PIPELINE_SET applied");
	cfg_free(c);
	setenv("PIPELINE_SET", "train.epochs", 1);
	CHECK(schema_load("pipeline.ini", NULL, 0, &c, &err) == -PL_EUSAGE &&
	      strstr(err.msg, "PIPELINE_SET: 'train.epochs' is not of the form"), "bad set: '%s'", err.msg);
	unsetenv("PIPELINE_SET");
}

int main(void)
{
	log_setup(LOG_HUMAN, -1);
	RUN(test_cache_hit);
	RUN(test_unknown_identity);
	RUN(test_config_and_upstream_change);
	RUN(test_damaged_outputs);
	RUN(test_force_from_until);
	RUN(test_failure_keeps_previous);
	RUN(test_sigkill_mid_write);
	RUN(test_lock);
	RUN(test_canonical_values);
	RUN(test_config_errors);
	return check_report("test_engine");
}
