/* The package stage: one reproducible <name>-<version>.tar.zst holding the
 * model (model.pnn, and model.onnx), labels, preprocessing, metrics, the
 * serving files (a Dockerfile and an OpenFaaS stack.yml, a KServe
 * InferenceService: stages/serve/deploy.c), and a manifest with the SHA-256
 * of every file and the fingerprints of the run (lineage). The serving
 * files are also written beside the archive, ready for `docker build` or
 * `faas-cli up` in that directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../io/arc.h"
#include "../io/fs.h"
#include "../io/json.h"
#include "../io/log.h"
#include "../io/sha.h"
#include "../io/sys.h"
#include "../io/version.h"
#include "serve/deploy.h"
#include "serve/onnx.h"
#include "serve/serve.h"
#include "stages.h"

/* Files of the package, MANIFEST.json last (it lists the others). */
static const char *const package_files[] = {
	"model.pnn", "model.onnx", "labels.txt", "metrics.json", "report.md", "Dockerfile", "stack.yml",
	"inference-service.yaml",
	"MANIFEST.json"
};
/* The same files in archive order: what predict reads first (the manifest,
 * then the model), so that it stops reading there; model.onnx, the largest
 * and for other runtimes, last. */
static const char *const archive_order[] = {
	"MANIFEST.json", "model.pnn", "labels.txt", "metrics.json", "report.md", "Dockerfile",
	"stack.yml", "inference-service.yaml", "model.onnx"
};
#define N_PACKAGE_FILES (sizeof(package_files) / sizeof(package_files[0]))
_Static_assert(sizeof(archive_order) == sizeof(package_files), "archive_order lists the files");

static json_t *stage_record(const char *ws, const char *stage)
{
	char path[PATH_MAX];

	if (fs_path(path, sizeof(path), NULL, "%s/%s/stage.json", ws, stage) < 0)
		return NULL;
	return json_load_file(path, 0, NULL);
}

/* The SHA-256 stage's stage.json records for its output file, or NULL. */
static const char *recorded_sha(const json_t *rec, const char *file)
{
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(rec, "outputs"), i, o) {
		const char *rel = json_string_value(json_object_get(o, "path"));
		if (rel && !strcmp(rel, file))
			return json_string_value(json_object_get(o, "sha256"));
	}
	return NULL;
}

/* Copies WS/STAGE/FILE into dir, and checks the bytes copied (read here,
 * not taken from the hash memo) against the SHA-256 that STAGE/stage.json
 * records: the package vouches only for what its stages made. */
static int copy_in(const char *ws, const char *stage, const char *file, const char *dir,
		   pl_err *err)
{
	char from[PATH_MAX], to[PATH_MAX], hex[SHA256_HEX];
	json_t *rec = NULL;
	const char *want;
	int rc;

	if ((rc = fs_path(from, sizeof(from), err, "%s/%s/%s", ws, stage, file)) < 0 ||
	    (rc = fs_path(to, sizeof(to), err, "%s/%s", dir, file)) < 0 ||
	    (rc = fs_copy_file(from, to, err)) < 0 || (rc = sha256_file(to, hex, err)) < 0)
		return rc;
	rec = stage_record(ws, stage);
	if (!(want = recorded_sha(rec, file)))
		rc = pl_errorf(err, PL_EDATA, "%s/stage.json records no SHA-256 for '%s' (run "
			       "`pipeline run --force %s`)", stage, from, stage);
	else if (strcmp(want, hex))
		rc = pl_errorf(err, PL_EDATA, "'%s' is not what %s made: its SHA-256 is %s, "
			       "%s/stage.json records %s (changed since? run `pipeline run --force "
			       "%s`)", from, stage, hex, stage, want, stage);
	json_decref(rec);
	return rc;
}

/* The creation time: SOURCE_DATE_EPOCH when set (the reproducible-builds
 * convention), else validate's finish time, so the same inputs give the
 * same bytes. Takes val (validate's stage record); returns a new reference. */
static json_t *created_time(const json_t *val)
{
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	char *end, when[SYS_TIME_MAX];

	if (epoch && *epoch) {
		long long t = strtoll(epoch, &end, 10);
		if (!*end && t >= 0 && sys_iso_time(t, when, sizeof(when)) == 0)
			return json_string(when);
		log_warn("SOURCE_DATE_EPOCH '%s' is not a number of seconds; using validate's "
			 "finish time", epoch);
	}
	return json_incref(json_object_get(val, "finished"));
}

/* What the package is made of besides the configuration and validate's
 * result: the creation time it will carry, so that setting
 * SOURCE_DATE_EPOCH makes it again. */
int package_identity(stage_ctx *ctx, char *out, size_t n, pl_err *err)
{
	const char *epoch = getenv("SOURCE_DATE_EPOCH");

	(void)ctx;
	(void)err;
	snprintf(out, n, "created:%s", epoch && *epoch ? epoch : "validate");
	return 0;
}

/* MANIFEST.json: hashes of the other files, lineage, headline metrics. */
static int write_manifest(stage_ctx *ctx, const char *dir, pl_err *err)
{
	json_t *files = json_object(), *lineage = json_object(), *man, *val = NULL;
	char path[PATH_MAX], hex[SHA256_HEX];
	int rc = 0;

	for (size_t i = 0; i + 1 < N_PACKAGE_FILES && rc == 0; i++) {
		if ((rc = fs_path(path, sizeof(path), err, "%s/%s", dir, package_files[i])) == 0 &&
		    (rc = sha256_file(path, hex, err)) == 0)
			json_object_set_new(files, package_files[i], json_string(hex));
	}
	for (int i = 0; pipeline_stages[i].run != package_run; i++) {   /* those before it */
		json_t *rec = stage_record(ctx->ws, pipeline_stages[i].name);
		json_object_set_new(lineage, pipeline_stages[i].name, json_pack("{s:O?}", "fingerprint",
			json_object_get(rec, "fingerprint")));
		if (pipeline_stages[i + 1].run == package_run)
			val = rec;
		else
			json_decref(rec);
	}
	man = json_pack("{s:i,s:s,s:s,s:s,s:o?,s:o,s:o,s:O?}", "format", 1,
			"name", cfg_str(ctx->cfg, "package", "name"),
			"version", cfg_str(ctx->cfg, "package", "version"),
			"pipeline_version", PL_VERSION, "created", created_time(val),
			"files", files, "lineage", lineage, "metrics", json_object_get(val, "metrics"));
	json_decref(val);
	if (rc == 0)
		rc = json_write_in(dir, "MANIFEST.json", man, err);
	json_decref(man);
	return rc;
}

/* The serving files (Dockerfile, stack.yml, inference-service.yaml). */
static int write_serving(stage_ctx *ctx, const char *dir, const char *archive, pl_err *err)
{
	deploy_opts o = {
		cfg_str(ctx->cfg, "package", "name"), cfg_str(ctx->cfg, "package", "version"),
		cfg_str(ctx->cfg, "package", "base_image"), archive,
		!strcmp(cfg_str(ctx->cfg, "package", "watchdog"), "classic"),
		(int)cfg_int(ctx->cfg, "package", "exec_timeout_s"),
		(int)cfg_int(ctx->cfg, "package", "max_inflight"),
	};

	return deploy_write(&o, dir, err);
}

int package_run(stage_ctx *ctx, pl_err *err)
{
	const char *name = cfg_str(ctx->cfg, "package", "name");
	const char *version = cfg_str(ctx->cfg, "package", "version");
	char staging[PATH_MAX], archive[PATH_MAX], path[PATH_MAX], model[PATH_MAX], onnx[PATH_MAX];
	int rc;

	if ((rc = fs_path(staging, sizeof(staging), err, "%s/.tmp/package-staging", ctx->ws)) < 0 ||
	    (rc = fs_path(archive, sizeof(archive), err, "%s-%s.tar.zst", name, version)) < 0 ||
	    (rc = fs_path(path, sizeof(path), err, "%s/%s", ctx->out_dir, archive)) < 0 ||
	    (rc = fs_rmtree(staging, err)) < 0 || (rc = fs_mkdirs(staging, err)) < 0)
		return rc;
	rc = copy_in(ctx->ws, "train", "model.pnn", staging, err);
	if (rc == 0 && (rc = fs_path(model, sizeof(model), err, "%s/model.pnn", staging)) == 0 &&
	    (rc = fs_path(onnx, sizeof(onnx), err, "%s/model.onnx", staging)) == 0)
		rc = onnx_write_model(model, name, version, onnx, err);
	if (rc == 0)
		rc = copy_in(ctx->ws, "prepare", "labels.txt", staging, err);
	if (rc == 0)
		rc = copy_in(ctx->ws, "validate", "metrics.json", staging, err);
	if (rc == 0)
		rc = copy_in(ctx->ws, "validate", "report.md", staging, err);
	if (rc == 0)
		rc = write_serving(ctx, staging, archive, err);
	if (rc == 0)
		rc = write_manifest(ctx, staging, err);
	if (rc == 0)
		rc = arc_pack(path, ARC_TAR_ZST, staging, archive_order, N_PACKAGE_FILES, err);
	if (rc == 0)
		rc = serve_verify(path, NULL, err);
	if (rc == 0)
		rc = write_serving(ctx, ctx->out_dir, archive, err);
	if (rc == 0) {
		char hex[SHA256_HEX];
		if ((rc = sha256_file(path, hex, err)) == 0) {
			json_object_set_new(ctx->metrics, "package", json_string(archive));
			json_object_set_new(ctx->info, "package_sha256", json_string(hex));
			log_info("wrote %s (sha256 %.16s...)", archive, hex);
		}
	}
	fs_rmtree(staging, NULL);
	return rc;
}
