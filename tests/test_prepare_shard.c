/* Shard options of prepare and the engine's shard mode: "I/N" and "/N"
 * with JOB_COMPLETION_INDEX; a stage run as a shard sees its fingerprint,
 * is neither committed nor recorded as failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/fs.h"
#include "../io/log.h"
#include "../stages/engine.h"
#include "../stages/parts.h"
#include "check.h"

static void test_parse(void)
{
	static const char *bad[] = { "4/4", "-1/4", " 1/4", "1/", "/", "a/4", "1/4x", "1/0",
				     "1", "", "1/10001", "01/x" };
	pl_err err = { 0 };
	int i = -1, n = -1;

	unsetenv("JOB_COMPLETION_INDEX");
	CHECK_OK(parts_parse("0/4", &i, &n, &err), &err);
	CHECK(i == 0 && n == 4, "0/4 gave %d/%d", i, n);
	CHECK_OK(parts_parse("9999/10000", &i, &n, &err), &err);
	CHECK(i == 9999 && n == 10000, "gave %d/%d", i, n);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		memset(&err, 0, sizeof(err));
		CHECK(parts_parse(bad[k], &i, &n, &err) == -PL_EUSAGE, "'%s' accepted", bad[k]);
		CHECK(strstr(err.msg, "invalid shard") != NULL, "'%s': %s", bad[k], err.msg);
	}
	CHECK(parts_parse("/4", &i, &n, &err) == -PL_EUSAGE, "/4 without index");
	CHECK(strstr(err.msg, "JOB_COMPLETION_INDEX") != NULL, "message: %s", err.msg);
	setenv("JOB_COMPLETION_INDEX", "3", 1);
	CHECK_OK(parts_parse("/4", &i, &n, &err), &err);
	CHECK(i == 3 && n == 4, "/4 gave %d/%d", i, n);
	CHECK_OK(parts_parse("1/4", &i, &n, &err), &err);
	CHECK(i == 1, "an explicit index wins over JOB_COMPLETION_INDEX: %d", i);
	CHECK(parts_parse("/3", &i, &n, &err) == -PL_EUSAGE, "index 3 of 3 accepted");
	setenv("JOB_COMPLETION_INDEX", "x", 1);
	CHECK(parts_parse("/3", &i, &n, &err) == -PL_EUSAGE, "index x accepted");
	unsetenv("JOB_COMPLETION_INDEX");
}

static const cfg_key schema[] = {
	{ "a", "x", CFG_INT, "1", 0, 100, NULL, "a value", 0 },
};

static char seen_shard[32], seen_fp[SHA256_HEX], again_fp[SHA256_HEX];
static int fail_shard;

static int shard_run(stage_ctx *ctx, pl_err *err)
{
	snprintf(seen_shard, sizeof(seen_shard), "%s", ctx->part ? ctx->part : "");
	snprintf(seen_fp, sizeof(seen_fp), "%s", ctx->fingerprint);
	if (engine_fingerprint(ctx, err) < 0)
		return -err->code;
	snprintf(again_fp, sizeof(again_fp), "%s", ctx->fingerprint);
	if (fail_shard)
		return pl_errorf(err, PL_EDATA, "shard failed");
	return fs_write_file("part.txt", "x", 1, err);
}

static const stage_def defs[] = { { "s1", 1, "a", NULL, NULL, shard_run } };

static int run_shard(const char *shard, stage_status *st, pl_err *err)
{
	engine_opts o = { "ws", NULL, NULL, NULL, NULL, 0, shard, NULL };
	cfg *c = cfg_new(schema, 1);
	int rc;

	o.cfg = c;
	rc = engine_run(defs, 1, &o, st, err);
	cfg_free(c);
	return rc;
}

static void test_engine_shard_mode(void)
{
	stage_status st[1];
	pl_err err = { 0 };

	CHECK_OK(run_shard("1/2", st, &err), &err);
	CHECK(!strcmp(seen_shard, "1/2"), "ctx.part '%s'", seen_shard);
	CHECK(strlen(seen_fp) == 64 && !strcmp(seen_fp, st[0].fingerprint), "ctx.fingerprint '%s'",
	      seen_fp);
	CHECK(!strcmp(again_fp, seen_fp), "engine_fingerprint gave '%s'", again_fp);
	CHECK(!fs_exists("ws/s1") && !fs_exists("ws/.tmp/s1"), "a shard run was committed");
	CHECK(fs_exists("part.txt"), "the shard did not run");
	engine_status_release(st, 1);
	fail_shard = 1;
	CHECK(run_shard("0/2", st, &err) == -PL_EDATA, "failure not passed on");
	CHECK(!fs_exists("ws/.status/s1.failed.json"), "a shard failure was recorded");
	engine_status_release(st, 1);
	fail_shard = 0;
}

int main(void)
{
	log_setup(LOG_HUMAN, -1);
	RUN(test_parse);
	RUN(test_engine_shard_mode);
	return check_report("test_prepare_shard");
}
