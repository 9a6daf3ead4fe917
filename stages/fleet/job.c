/* Running one job of the fleet: a stage with `pipeline stage` semantics
 * (the engine, the workspace lock, prepare parts), or predict over a
 * package kept loaded by its SHA-256. */
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../io/fetch.h"
#include "../../io/fs.h"
#include "../../io/img.h"
#include "../../io/log.h"
#include "../../io/sha.h"
#include "../schema.h"
#include "../serve/serve.h"
#include "../stages.h"
#include "fleet_priv.h"

#define PKG_CACHE_SLOTS 4          /* packages kept loaded; the least recently used goes */
#define FAULT_ENV "PIPELINE_FAULT_ABORT_ON"   /* test-only: abort on an input naming this */

typedef struct pkg_slot {
	char sha[SHA256_HEX];
	serve_pkg *pkg;
	unsigned long used;
} pkg_slot;

struct pkg_cache {
	pkg_slot slots[PKG_CACHE_SLOTS];
	unsigned long clock;
};

struct pkg_cache *job_cache_new(void)
{
	return calloc(1, sizeof(struct pkg_cache));
}

void job_cache_free(struct pkg_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < PKG_CACHE_SLOTS; i++)
		serve_close(c->slots[i].pkg);
	free(c);
}

void job_result_release(job_result *res)
{
	json_decref(res->metrics);
	free(res->output);
	free(res->result);
	memset(res, 0, sizeof(*res));
}

static char *host_name(void)
{
	static char host[256];

	if (!host[0] && gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	return host;
}

/* ---- stage jobs ---- */

/* Loads the job's configuration as the submitter gave it (its file and
 * --set list; the worker's own PIPELINE_SET and PIPELINE_CONFIG are not
 * applied: the worker clears them). */
static int job_cfg(const json_t *spec, cfg **c, pl_err *err)
{
	const json_t *sets = json_object_get(spec, "sets");
	const char *config = json_string_value(json_object_get(spec, "config"));
	size_t n = json_array_size(sets);
	char **list = calloc(n + 1, sizeof(*list));
	int rc;

	if (!list)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		list[i] = (char *)json_string_value(json_array_get(sets, i));
	rc = schema_load(config && *config ? config : NULL, list, (int)n, c, err);
	free(list);
	return rc;
}

/* The stage's headline metrics from its stage.json (and the host). */
static json_t *stage_metrics(const char *ws, const char *stage)
{
	char path[PATH_MAX];
	json_t *rec = NULL, *m;

	if (fs_path(path, sizeof(path), NULL, "%s/%s/stage.json", ws, stage) == 0)
		rec = json_load_file(path, 0, NULL);
	m = json_object_get(rec, "metrics");
	m = json_is_object(m) ? json_deep_copy(m) : json_object();
	json_decref(rec);
	json_object_set_new(m, "host", json_string(host_name()));
	return m;
}

static int run_stage(const job_env *env, const json_t *spec, job_result *res, pl_err *err)
{
	const char *ws = json_string_value(json_object_get(spec, "workspace"));
	const char *stage = json_string_value(json_object_get(spec, "stage"));
	const char *part = json_string_value(json_object_get(spec, "part"));
	stage_status st[8] = { 0 };
	engine_opts eo = { 0 };
	cfg *c = NULL;
	int lock_fd = -1, rc;

	if (!ws || !stage || engine_find(pipeline_stages, pipeline_n_stages, stage) < 0)
		return pl_errorf(err, PL_EUSAGE, "job %s: not a stage job this worker knows", env->id);
	if ((rc = job_cfg(spec, &c, err)) < 0)
		return rc;
	eo.ws = ws;
	eo.cfg = c;
	eo.from = eo.until = stage;
	eo.part = part && *part ? part : NULL;
	eo.stop = env->stop;
	rc = eo.part ? 0 : engine_lock_wait(ws, &lock_fd, env->stop, err);
	if (rc == 0)
		rc = engine_run(pipeline_stages, pipeline_n_stages, &eo, st, err);
	engine_status_release(st, pipeline_n_stages);
	engine_unlock(lock_fd);
	cfg_free(c);
	res->metrics = stage_metrics(ws, stage);
	snprintf(res->progress, sizeof(res->progress), "%s%s%s", stage, eo.part ? " part " : "",
		 eo.part ? eo.part : "");
	if (rc == 0 && asprintf(&res->output, "%s/%s", ws, eo.part ? ".tmp/prepare-shards" : stage) < 0)
		res->output = NULL;
	return rc;
}

/* ---- predict jobs ---- */

/* The package of sha at path, from the cache or opened (and checked to be
 * the one submitted). */
static int cached_package(struct pkg_cache *c, const char *path, const char *sha,
			  serve_pkg **out, pl_err *err)
{
	pkg_slot *slot = &c->slots[0];
	char got[SHA256_HEX];
	int rc;

	for (int i = 0; i < PKG_CACHE_SLOTS; i++) {
		if (!strcmp(c->slots[i].sha, sha) && c->slots[i].pkg) {
			c->slots[i].used = ++c->clock;
			*out = c->slots[i].pkg;
			return 0;
		}
		if (c->slots[i].used < slot->used)
			slot = &c->slots[i];
	}
	if ((rc = sha256_file(path, got, err)) < 0)
		return rc;
	if (strcmp(got, sha))
		return pl_errorf(err, PL_EDATA, "package '%s' changed since the job was submitted "
				 "(sha256 %s, submitted %s)", path, got, sha);
	serve_close(slot->pkg);
	memset(slot, 0, sizeof(*slot));
	if ((rc = serve_open(path, &slot->pkg, err)) < 0)
		return rc;
	log_info("loaded package %s (sha256 %.12s)", path, sha);
	snprintf(slot->sha, sizeof(slot->sha), "%s", sha);
	slot->used = ++c->clock;
	*out = slot->pkg;
	return 0;
}

typedef struct lines {
	char *text;
	size_t len;
	int n, failed;
	const serve_pkg *pkg;
} lines;

static void add_line(void *ctx, const char *name, const float *probs)
{
	lines *l = ctx;
	json_t *obj = serve_result_json(l->pkg, name, probs);   /* predict's line, exactly */
	char *row = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
	char *bigger = row ? realloc(l->text, l->len + strlen(row) + 2) : NULL;

	json_decref(obj);

	if (!bigger) {
		l->failed = 1;
		free(row);
		return;
	}
	l->text = bigger;
	l->len += (size_t)sprintf(l->text + l->len, "%s\n", row);
	l->n++;
	free(row);
}

/* Decodes input (a path, or an http(s) URL fetched into the scratch
 * directory first) and queues it. */
static int queue_input(const job_env *env, serve_pkg *pkg, const char *input, const char *where,
		       int i, pl_err *err)
{
	const char *fault = getenv(FAULT_ENV);
	char path[PATH_MAX];
	img im = { 0 };
	int rc = 0;

	if (fault && *fault && strstr(input, fault))
		abort();   /* the test-only poison: a job that kills every worker taking it */
	snprintf(path, sizeof(path), "%s", where);
	if (fetch_is_url(where)) {
		fetch_opts fo = { 0 };
		fo.stop = (const volatile int *)env->stop;
		if ((rc = fs_path(path, sizeof(path), err, "%s/input-%s-%d", env->tmp_dir, env->id, i)) == 0)
			rc = fetch_url(where, path, &fo, err);
	}
	if (rc == 0)
		rc = img_decode_file(path, NULL, &im, err);
	if (rc == 0)
		rc = serve_queue_image(pkg, &im, input, err);
	img_release(&im);
	if (fetch_is_url(where)) {
		char done[PATH_MAX + 8];
		unlink(path);
		snprintf(done, sizeof(done), "%s.done", path);
		unlink(done);
	}
	return rc;
}

/* Every input is predicted; one that fails is named in the error and the
 * others still give their lines (as `pipeline predict` does). */
static int predict_inputs(const job_env *env, serve_pkg *pkg, const json_t *inputs,
			  const json_t *paths, lines *l, pl_err *err)
{
	pl_err first = { 0 };
	size_t i;
	json_t *v;
	int rc;

	json_array_foreach(inputs, i, v) {
		const char *name = json_string_value(v), *where = json_string_value(json_array_get(paths, i));
		pl_err e = { 0 };
		if (!name || !where)
			return pl_errorf(err, PL_EUSAGE, "job %s: input %zu is not a string", env->id, i);
		if (queue_input(env, pkg, name, where, (int)i, &e) < 0 && !first.code)
			first = e;
		if (serve_batch_full(pkg) && (rc = serve_run(pkg, add_line, l, err)) < 0)
			return rc;
	}
	if ((rc = serve_run(pkg, add_line, l, err)) < 0)
		return rc;
	if (l->failed)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	if (first.code) {
		*err = first;
		return -first.code;
	}
	return 0;
}

/* Removes what a worker killed while writing file left beside it (the
 * temporary files of fs_write_atomic): the result is whole now. */
static void drop_leftovers(const char *file)
{
	char pattern[PATH_MAX + 16];
	glob_t g;

	snprintf(pattern, sizeof(pattern), "%s.tmp.*", file);
	if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++)
		unlink(g.gl_pathv[i]);
	globfree(&g);
}

static int run_predict(const job_env *env, const json_t *spec, job_result *res, pl_err *err)
{
	const char *path = json_string_value(json_object_get(spec, "package"));
	const char *sha = json_string_value(json_object_get(spec, "sha256"));
	const char *out = json_string_value(json_object_get(spec, "out"));
	const json_t *inputs = json_object_get(spec, "inputs"), *paths = json_object_get(spec, "paths");
	lines l = { 0 };
	serve_pkg *pkg = NULL;
	char file[PATH_MAX];
	double t0 = log_now();
	int rc;

	if (!path || !sha || !json_is_array(inputs) || json_array_size(paths) != json_array_size(inputs))
		return pl_errorf(err, PL_EUSAGE, "job %s: not a predict job this worker knows", env->id);
	if ((rc = cached_package(env->packages, path, sha, &pkg, err)) < 0)
		return rc;
	l.pkg = pkg;
	rc = predict_inputs(env, pkg, inputs, paths, &l, err);
	if (rc == 0 && out && *out && (rc = fs_mkdirs(out, err)) == 0 &&
	    (rc = fs_path(file, sizeof(file), err, "%s/%s.json", out, env->id)) == 0)
		rc = fs_write_atomic(file, l.text ? l.text : "", l.len, err);
	if (rc == 0 && out && *out)
		drop_leftovers(file);
	res->result = l.text ? l.text : strdup("");
	res->output = strdup(rc == 0 && out && *out ? file : "");
	res->metrics = json_pack("{s:i,s:s,s:f}", "images", l.n, "host", host_name(),
				 "images_per_s", l.n / (log_now() - t0 + 1e-9));
	snprintf(res->progress, sizeof(res->progress), "%d / %zu inputs", l.n, json_array_size(inputs));
	return rc;
}

int job_run(const job_env *env, const char *kind, const json_t *spec, job_result *res,
	    pl_err *err)
{
	memset(res, 0, sizeof(*res));
	if (!strcmp(kind, "stage"))
		return run_stage(env, spec, res, err);
	if (!strcmp(kind, "predict"))
		return run_predict(env, spec, res, err);
	return pl_errorf(err, PL_EUSAGE, "job %s: unknown kind '%s'", env->id, kind);
}
