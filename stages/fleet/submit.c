/* Submitting work: a workspace's stage graph in layers, or predict jobs;
 * job ids are hashes of kind, inputs and effective configuration, so the
 * same submission twice coalesces. And waiting for a submission's end. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../io/fetch.h"
#include "../../io/fs.h"
#include "../../io/img.h"
#include "../../io/sha.h"
#include "../parts.h"
#include "../schema.h"
#include "fleet_priv.h"

#define ID_HEX 20                  /* job ids: 80 bits of SHA-256 */
#define WAIT_POLL_S 0.3            /* how often --wait looks */

/* The effective configuration that changes results (runtime keys left
 * out), one "section.key=value" line each, hashed into ctx. */
static void hash_key(void *ctx, const cfg_key *k, const char *value)
{
	if (k->flags & CFG_RUNTIME)
		return;
	sha256_update(ctx, k->section, strlen(k->section));
	sha256_update(ctx, ".", 1);
	sha256_update(ctx, k->key, strlen(k->key));
	sha256_update(ctx, "=", 1);
	sha256_update(ctx, value, strlen(value));
	sha256_update(ctx, "\n", 1);
}

static int cfg_digest(const cfg *c, char hex[SHA256_HEX], pl_err *err)
{
	size_t n;
	const cfg_key *keys = cfg_schema(c, &n);
	const char *section = "";
	sha256_ctx ctx;
	int rc;

	if ((rc = sha256_init(&ctx, err)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].section, section)) {
			section = keys[i].section;
			cfg_visit(c, section, hash_key, &ctx);
		}
	sha256_final(&ctx, hex);
	return 0;
}

/* id = the first ID_HEX digits of SHA-256 over the NUL-separated words. */
static void make_id(char *id, const char *const *words, int n)
{
	char hex[SHA256_HEX];
	size_t len = 0;
	char *buf;

	for (int i = 0; i < n; i++)
		len += strlen(words[i]) + 1;
	buf = malloc(len + 1);
	len = 0;
	for (int i = 0; buf && i < n; i++) {
		memcpy(buf + len, words[i], strlen(words[i]) + 1);
		len += strlen(words[i]) + 1;
	}
	sha256_hex(buf ? buf : "", buf ? len : 0, hex);
	free(buf);
	memcpy(id, hex, ID_HEX);
	id[ID_HEX] = 0;
}

typedef struct job_def {
	char id[ID_HEX + 1];
	int layer;
	const char *layer_name;
	char label[256];
	json_t *spec;                 /* owned */
	char prereqs[ID_HEX * 64 + 64];   /* space-separated ids */
} job_def;

/* Enqueues the jobs (prerequisites first) of submission sub. */
static int enqueue_all(fleet_conn *f, const char *kind, const char *what, job_def *jobs, int n,
		       json_t **out, pl_err *err)
{
	char sub[ID_HEX + 3], now[32], ttl[32], layer[16];
	json_t *list = json_array();
	int rc = 0;

	{
		char hex[SHA256_HEX];
		sha256_ctx ctx;
		if ((rc = sha256_init(&ctx, err)) < 0)
			return rc;
		for (int i = 0; i < n; i++)
			sha256_update(&ctx, jobs[i].id, strlen(jobs[i].id));
		sha256_final(&ctx, hex);
		snprintf(sub, sizeof(sub), "s-%.12s", hex);
	}
	queue_now(now);
	snprintf(ttl, sizeof(ttl), "%ld", f->limits.result_ttl_s);
	for (int i = 0; i < n && rc == 0; i++) {
		char *spec = json_dumps(jobs[i].spec, JSON_COMPACT | JSON_SORT_KEYS);
		const char *args[11] = { jobs[i].id, sub, kind, layer, jobs[i].layer_name, jobs[i].label,
					 spec ? spec : "{}", now, ttl, jobs[i].prereqs, what };
		redisReply *r = NULL;
		snprintf(layer, sizeof(layer), "%d", jobs[i].layer);
		rc = queue_eval(&f->q, QS_SUBMIT, 11, args, &r, err);
		if (rc == 0 && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
			json_array_append_new(list, json_pack("{s:s,s:i,s:s,s:s,s:s,s:b}", "id", jobs[i].id,
				"layer", jobs[i].layer, "name", jobs[i].layer_name, "label", jobs[i].label,
				"status", queue_str(r->element[1]), "new", !strcmp(queue_str(r->element[0]), "new")));
		freeReplyObject(r);
		free(spec);
	}
	if (rc == 0)
		*out = json_pack("{s:s,s:o}", "submission", sub, "jobs", list);
	else
		json_decref(list);
	return rc;
}

static void release_defs(job_def *jobs, int n)
{
	for (int i = 0; i < n; i++)
		json_decref(jobs[i].spec);
	free(jobs);
}

static json_t *sets_array(char *const *sets, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_string(sets[i]));
	return a;
}

/* One stage job of a run: stage (and part), waiting for the ids in prereqs. */
static void stage_def_fill(job_def *j, int layer, const char *layer_name, const char *stage,
			   const char *part, const char *ws, const char *config, const char *digest,
			   json_t *sets)
{
	const char *words[6] = { "stage", stage, part ? part : "", ws, digest, "" };

	make_id(j->id, words, 5);
	j->layer = layer;
	j->layer_name = layer_name;
	snprintf(j->label, sizeof(j->label), "%s%s%s", stage, part ? " part " : "", part ? part : "");
	j->spec = json_pack("{s:s,s:s,s:s,s:O,s:s}", "workspace", ws, "config", config ? config : "",
			    "stage", stage, "sets", sets, "part", part ? part : "");
}

static void add_prereqs(job_def *j, const job_def *from, int n)
{
	for (int i = 0; i < n; i++) {
		size_t len = strlen(j->prereqs);
		snprintf(j->prereqs + len, sizeof(j->prereqs) - len, "%s%s", len ? " " : "", from[i].id);
	}
}

int fleet_submit_run(fleet_conn *f, const fleet_run_req *req, json_t **out, pl_err *err)
{
	static const char *const later[] = { "train", "validate", "package" };
	int parts = req->shards > 1 ? req->shards : 0, n = parts + 4, rc, k = 0;
	char ws[PATH_MAX], config[PATH_MAX] = "", digest[SHA256_HEX], what[PATH_MAX + 8];
	job_def *jobs = calloc((size_t)n, sizeof(*jobs));
	json_t *sets = sets_array(req->sets, req->n_sets);
	cfg *c = NULL;

	if (!jobs || !sets) {
		free(jobs);
		json_decref(sets);
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	}
	if (parts > PARTS_MAX)
		rc = pl_errorf(err, PL_EUSAGE, "--shards %d: at most %d", parts, PARTS_MAX);
	else if ((rc = schema_load(req->config, req->sets, req->n_sets, &c, err)) == 0 &&
		 (rc = fs_mkdirs(req->ws, err)) == 0 && (rc = cfg_digest(c, digest, err)) == 0) {
		if (!realpath(req->ws, ws) || (req->config && !realpath(req->config, config)))
			rc = pl_errorf(err, PL_EIO, "cannot resolve '%s': %s", !realpath(req->ws, ws) ?
				       req->ws : req->config, strerror(errno));
	}
	for (int i = 0; rc == 0 && i < parts; i++, k++) {
		char part[32];
		snprintf(part, sizeof(part), "%d/%d", i, parts);
		stage_def_fill(&jobs[k], 1, "prepare-part", "prepare", part, ws, config, digest, sets);
	}
	if (rc == 0) {
		stage_def_fill(&jobs[k], parts ? 2 : 1, "prepare", "prepare", NULL, ws, config, digest, sets);
		add_prereqs(&jobs[k], jobs, parts);
		for (k++; k < n; k++) {
			stage_def_fill(&jobs[k], jobs[k - 1].layer + 1, later[k - parts - 1], later[k - parts - 1],
				       NULL, ws, config, digest, sets);
			add_prereqs(&jobs[k], &jobs[k - 1], 1);
		}
		snprintf(what, sizeof(what), "run %s", ws);
		rc = enqueue_all(f, "stage", what, jobs, n, out, err);
	}
	cfg_free(c);
	json_decref(sets);
	release_defs(jobs, n);
	return rc;
}

/* ---- predict ---- */

typedef struct input_list {
	char **names, **paths;        /* as given (the result's "file") and as the worker opens it */
	int n, cap;
} input_list;

static int add_input(input_list *l, const char *name, const char *path, pl_err *err)
{
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 64;
		char **names = realloc(l->names, (size_t)cap * sizeof(*names));
		if (names)
			l->names = names;
		char **paths = names ? realloc(l->paths, (size_t)cap * sizeof(*paths)) : NULL;
		if (!names || !paths)
			return pl_errorf(err, PL_ENOMEM, "out of memory");
		l->paths = paths;
		l->cap = cap;
	}
	l->names[l->n] = strdup(name);
	l->paths[l->n] = strdup(path);
	if (!l->names[l->n] || !l->paths[l->n])
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	l->n++;
	return 0;
}

/* Adds the images under dir (recursively, in name order) as predict does. */
static int add_dir(input_list *l, const char *dir, const fs_visit *up, pl_err *err)
{
	struct dirent **names = NULL;
	fs_visit here;
	int n, rc = 0;

	if (fs_visit_enter(&here, up, dir) < 0)
		return 0;
	if ((n = scandir(dir, &names, NULL, alphasort)) < 0)
		return pl_errorf(err, PL_EIO, "cannot list '%s': %s", dir, strerror(errno));
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX], abs[PATH_MAX];
		if (rc == 0 && names[i]->d_name[0] != '.' &&
		    (rc = fs_path(path, sizeof(path), err, "%s/%s", dir, names[i]->d_name)) == 0) {
			if (fs_is_dir(path))
				rc = add_dir(l, path, &here, err);
			else if (img_is_image_name(path))
				rc = realpath(path, abs) ? add_input(l, path, abs, err) :
				     pl_errorf(err, PL_EIO, "cannot resolve '%s': %s", path, strerror(errno));
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static int collect_inputs(const fleet_predict_req *req, input_list *l, pl_err *err)
{
	int rc = 0;

	for (int i = 0; i < req->n_inputs && rc == 0; i++) {
		const char *in = req->inputs[i];
		char abs[PATH_MAX];
		if (fetch_is_url(in))
			rc = add_input(l, in, in, err);
		else if (fs_is_dir(in))
			rc = add_dir(l, in, NULL, err);
		else if (!realpath(in, abs))
			rc = pl_errorf(err, PL_EUSAGE, "input '%s': %s", in, strerror(errno));
		else
			rc = add_input(l, in, abs, err);
	}
	if (rc == 0 && l->n == 0)
		rc = pl_errorf(err, PL_EUSAGE, "no images to predict");
	return rc;
}

static void release_inputs(input_list *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->names[i]);
		free(l->paths[i]);
	}
	free(l->names);
	free(l->paths);
}

/* The predict job of inputs [from, to). */
static int predict_def(job_def *j, const input_list *l, int from, int to, const char *pkg,
		       const char *sha, const char *out)
{
	const char **words = calloc((size_t)(to - from) + 4, sizeof(*words));
	json_t *names = json_array(), *paths = json_array();

	if (!words || !names || !paths) {
		free(words);
		json_decref(names);
		json_decref(paths);
		return -1;
	}
	words[0] = "predict";
	words[1] = sha;
	words[2] = out;
	for (int i = from; i < to; i++) {
		words[3 + i - from] = l->paths[i];
		json_array_append_new(names, json_string(l->names[i]));
		json_array_append_new(paths, json_string(l->paths[i]));
	}
	make_id(j->id, words, 3 + to - from);
	free(words);
	j->layer = 1;
	j->layer_name = "predict";
	snprintf(j->label, sizeof(j->label), to - from > 1 ? "%s +%d" : "%s", l->names[from],
		 to - from - 1);
	j->spec = json_pack("{s:s,s:s,s:s,s:o,s:o}", "package", pkg, "sha256", sha, "out", out,
			    "inputs", names, "paths", paths);
	return j->spec ? 0 : -1;
}

int fleet_submit_predict(fleet_conn *f, const fleet_predict_req *req, json_t **out, pl_err *err)
{
	char pkg[PATH_MAX], sha[SHA256_HEX], dir[PATH_MAX] = "", what[PATH_MAX + 16];
	int batch = req->batch > 0 ? req->batch : 1, n = 0, rc;
	input_list l = { 0 };
	job_def *jobs = NULL;

	if (!realpath(req->package, pkg))
		return pl_errorf(err, PL_EUSAGE, "package '%s': %s", req->package, strerror(errno));
	if ((rc = sha256_file(pkg, sha, err)) < 0)
		return rc;
	if (req->out_dir && ((rc = fs_mkdirs(req->out_dir, err)) < 0 || !realpath(req->out_dir, dir)))
		return rc < 0 ? rc : pl_errorf(err, PL_EIO, "cannot resolve '%s': %s", req->out_dir,
					       strerror(errno));
	if ((rc = collect_inputs(req, &l, err)) == 0 &&
	    !(jobs = calloc((size_t)(l.n + batch - 1) / (size_t)batch, sizeof(*jobs))))
		rc = pl_errorf(err, PL_ENOMEM, "out of memory");
	for (int i = 0; rc == 0 && i < l.n; i += batch, n++)
		if (predict_def(&jobs[n], &l, i, i + batch < l.n ? i + batch : l.n, pkg, sha, dir) < 0)
			rc = pl_errorf(err, PL_ENOMEM, "out of memory");
	snprintf(what, sizeof(what), "predict %s", req->package);
	if (rc == 0)
		rc = enqueue_all(f, "predict", what, jobs, n, out, err);
	release_defs(jobs, n);
	release_inputs(&l);
	return rc;
}

/* ---- wait ---- */

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };

	nanosleep(&ts, NULL);
}

int fleet_wait(fleet_conn *f, const char *sub, const volatile sig_atomic_t *stop, int *code,
	       pl_err *err)
{
	json_t *list = NULL;
	int rc;

	for (;;) {
		int open = 0, first_layer = 1 << 30;
		size_t i;
		json_t *job;
		*code = 0;
		if ((rc = fleet_list(f, NULL, sub, &list, err)) < 0)
			return rc;
		json_array_foreach(list, i, job) {
			const char *st = json_string_value(json_object_get(job, "status"));
			int layer = (int)json_integer_value(json_object_get(job, "layer"));
			if (!strcmp(st, "queued") || !strcmp(st, "running"))
				open++;
			else if (strcmp(st, "done") && layer < first_layer &&
				 strncmp(json_string_value(json_object_get(job, "reason")), "prerequisite", 12)) {
				first_layer = layer;
				*code = (int)json_integer_value(json_object_get(job, "code"));
				if (*code <= 0 || !strcmp(st, "dead") || !strcmp(st, "cancelled"))
					*code = PL_EFAIL;
				pl_errorf(err, *code, "job %s (%s) %s: %s",
					  json_string_value(json_object_get(job, "id")),
					  json_string_value(json_object_get(job, "label")), st,
					  json_string_value(json_object_get(job, "reason")));
			}
		}
		json_decref(list);
		if (!open)
			return 0;
		if (stop && *stop)
			return pl_errorf(err, PL_EINTR, "interrupted while waiting for submission %s "
					 "(its jobs go on)", sub);
		sleep_s(WAIT_POLL_S);
	}
}
