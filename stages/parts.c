/* Sharded prepare: the parts `pipeline stage prepare --shard I/N` builds,
 * each committed on its own in WS/.tmp/prepare-shards/FINGERPRINT/I-of-N;
 * their assembly into the stage's outputs (doing the missing parts
 * itself), byte for byte what one process writes; and their status. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/fs.h"
#include "../io/json.h"
#include "../io/log.h"
#include "../io/utf8.h"
#include "parts.h"
#include "prepare_job.h"

int parts_parse(const char *text, int *index, int *count, pl_err *err)
{
	const char *slash = strchr(text, '/'), *at = text;
	char *end;
	long i, n;

	if (!slash || !(slash[1] >= '0' && slash[1] <= '9'))
		goto bad;
	n = strtol(slash + 1, &end, 10);
	if (*end || n < 1 || n > PARTS_MAX)
		goto bad;
	if (slash == text) {
		at = getenv("JOB_COMPLETION_INDEX");
		if (!at || !*at)
			return pl_errorf(err, PL_EUSAGE, "--shard '%s' takes the index from "
					 "JOB_COMPLETION_INDEX, which is not set: give --shard I/N", text);
	}
	if (!(*at >= '0' && *at <= '9'))
		goto bad;
	i = strtol(at, &end, 10);
	if ((slash == text ? *end != '\0' : end != slash) || i >= n)
		goto bad;
	*index = (int)i;
	*count = (int)n;
	return 0;
bad:
	return pl_errorf(err, PL_EUSAGE, "invalid shard '%s'%s: give I/N with 0 <= I < N <= %d, "
			 "or /N with the index in JOB_COMPLETION_INDEX", text,
			 slash == text && at != text ? " with JOB_COMPLETION_INDEX" : "",
			 PARTS_MAX);
}

/* WS/.tmp/prepare-shards/FP (or the directory above when fp is ""). */
static int parts_dir(char *out, size_t n, const char *ws, const char *fp, pl_err *err)
{
	return fs_path(out, n, err, "%s/.tmp/prepare-shards%s%s", ws, fp[0] ? "/" : "", fp);
}

static int part_done(const char *dir, int index, int count)
{
	char path[PATH_MAX];

	return fs_path(path, sizeof(path), NULL, "%s/%d-of-%d/summary.json", dir, index,
		       count) == 0 && fs_exists(path);
}

/* dir/I-of-N.failed: the message of the last attempt at part index that
 * failed, for status; removed once the part is done. */
static int failure_path(char *path, size_t n, const char *dir, int index, int count)
{
	return fs_path(path, n, NULL, "%s/%d-of-%d.failed", dir, index, count);
}

/* The message a failed attempt at part index left, or NULL (caller frees). */
static char *part_failure(const char *dir, int index, int count)
{
	char path[PATH_MAX], *msg = NULL;
	size_t len;

	if (failure_path(path, sizeof(path), dir, index, count) < 0)
		return NULL;
	return fs_read_file(path, 1024, &msg, &len, NULL) == 0 ? msg : NULL;
}

/* Records (msg) or clears (NULL) the failure of part index; a failure to
 * write it only loses what status shows. */
static void note_part(const char *dir, int index, int count, const char *msg)
{
	char path[PATH_MAX];

	if (failure_path(path, sizeof(path), dir, index, count) < 0)
		return;
	if (msg)
		fs_write_atomic(path, msg, strlen(msg), NULL);
	else
		unlink(path);
}

/* A workspace view for one process building parts, dir/.ws-HOST-PID: its
 * own .tmp with downloads and .cache (where an archive's index is kept)
 * shared through symlinks, so that parts built at once on one workspace do
 * not collide. Nothing of the source is copied into it. */
static int make_view(const char *ws, const char *dir, char *view, size_t n, pl_err *err)
{
	static const char *shared[] = { "downloads", ".cache" };
	char host[128] = "", path[PATH_MAX], target[PATH_MAX], real[PATH_MAX];
	int rc;

	gethostname(host, sizeof(host) - 1);
	if ((rc = fs_path(view, n, err, "%s/.ws-%s-%d", dir, host, (int)getpid())) < 0 ||
	    (rc = fs_rmtree(view, err)) < 0 || (rc = fs_mkdirs(view, err)) < 0)
		return rc;
	if (!realpath(ws, real))
		return pl_errorf(err, PL_EIO, "cannot resolve '%s': %s", ws, strerror(errno));
	for (int i = 0; i < 2; i++) {
		if ((rc = fs_path(target, sizeof(target), err, "%s/%s", real, shared[i])) < 0 ||
		    (rc = fs_path(path, sizeof(path), err, "%s/%s", view, shared[i])) < 0 ||
		    (rc = fs_mkdirs(target, err)) < 0)
			return rc;
		if (symlink(target, path) != 0)
			return pl_errorf(err, PL_EIO, "cannot create '%s': %s", path, strerror(errno));
	}
	return 0;
}

/* Starts the totals afresh for the next part. */
static void job_reset(prepare_job *j)
{
	j->c = 0;
	memset(j->sum, 0, sizeof(j->sum));
	memset(j->sumsq, 0, sizeof(j->sumsq));
	j->n_px = 0;
	memset(j->tiles, 0, sizeof(j->tiles));
	memset(j->class_tiles, 0, (size_t)j->set->n_classes * N_SPLITS * sizeof(long long));
	json_decref(j->skipped);
	json_decref(j->part_samples);
	j->skipped = json_array();
	j->part_samples = json_array();
}

static json_t *strings_json(char *const *v, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* summary.json (what status shows) and part.json (what the assembly reads). */
static int write_part(prepare_job *j, const source *src, int index, int count,
		      uint64_t bytes, double secs, pl_err *err)
{
	const sample_set *set = j->set;
	char host[256] = "", shard[64];
	json_t *sum, *part;
	int rc;

	gethostname(host, sizeof(host) - 1);
	snprintf(shard, sizeof(shard), "%d/%d", index, count);
	sum = json_pack("{s:s,s:s,s:I,s:I,s:f,s:s}", "fingerprint", j->ctx->fingerprint,
			"shard", shard, "tiles", (json_int_t)(j->tiles[0] + j->tiles[1] + j->tiles[2]),
			"bytes", (json_int_t)bytes, "elapsed_s", secs, "host", host);
	part = json_pack("{s:s,s:s,s:i,s:i,s:i,s:o,s:o,s:o,s:[I,I,I],s:s,s:I,s:O,s:O}",
			 "fingerprint", j->ctx->fingerprint, "shard", shard, "n", set->n,
			 "lo", j->lo, "c", j->c,
			 "classes", strings_json(set->classes, set->n_classes),
			 "groups", strings_json(set->groups, set->n_groups),
			 "channels", strings_json(set->channel_names, set->n_channels),
			 "split_samples", (json_int_t)j->samples[0], (json_int_t)j->samples[1],
			 (json_int_t)j->samples[2], "source", src->identity,
			 "bytes_in", (json_int_t)(src->bytes ? src->bytes : prepare_job_files_bytes(j)),
			 "skipped", j->skipped,
			 "samples", j->part_samples);
	rc = sum && part ? json_write_in(j->part_dir, "part.json", part, err) :
			   pl_errorf(err, PL_ENOMEM, "out of memory");
	if (rc == 0)
		rc = json_write_in(j->part_dir, "summary.json", sum, err);
	json_decref(sum);
	json_decref(part);
	return rc;
}

/* Moves the finished part into place with one rename; when another process
 * finished the same part first, its result is kept and this one dropped. */
static int commit_part(const char *build, const char *dir, int index, int count, pl_err *err)
{
	char final[PATH_MAX];
	int rc;

	if ((rc = fs_path(final, sizeof(final), err, "%s/%d-of-%d", dir, index, count)) < 0 ||
	    (rc = fs_fsync_tree(build, err)) < 0)
		return rc;
	if (rename(build, final) == 0)
		return fs_fsync_dir(dir, err);
	if (errno != EEXIST && errno != ENOTEMPTY)
		return pl_errorf(err, PL_EIO, "cannot move '%s' into place: %s", final,
				 strerror(errno));
	log_info("shard %d/%d was finished by another process meanwhile; keeping that one",
		 index, count);
	return fs_rmtree(build, err);
}

/* The inner archive sample i's file lies in (see tree_inner), or -1. */
static int64_t inner_of(const prepare_job *j, int i)
{
	char path[PATH_MAX];

	if (!j->src || !j->src->tree ||
	    tree_join(path, sizeof(path), NULL, j->src->root, j->set->s[i].files[0]) < 0)
		return -1;
	return tree_inner(j->src->tree, path);
}

/* Where part index of count starts: at sample n*I/N, moved on past the
 * rest of the inner archive that sample is in, so that each inner archive
 * of a nested archive goes to one part whole. */
static int part_start(const prepare_job *j, int index, int count)
{
	int n = j->set->n, b = (int)((long long)n * index / count);
	int64_t unit = b > 0 && b < n ? inner_of(j, b - 1) : -1;

	while (unit >= 0 && b < n && inner_of(j, b) == unit)
		b++;
	return b;
}

/* Builds part index of count (samples from part_start(I) to part_start(I+1))
 * into dir/I-of-N. */
static int build_part(prepare_job *j, const source *src, const char *dir, int index, int count,
		      pl_err *err)
{
	char host[128] = "";
	uint64_t bytes = 0;
	int rc;

	gethostname(host, sizeof(host) - 1);
	if ((rc = fs_path(j->part_dir, sizeof(j->part_dir), err, "%s/.build-%d-of-%d-%s-%d", dir,
			  index, count, host, (int)getpid())) < 0)
		return rc;
	job_reset(j);
	j->lo = part_start(j, index, count);
	j->hi = part_start(j, index + 1, count);
	log_info("shard %d/%d: samples %d to %d of %d", index, count, j->lo, j->hi, j->set->n);
	if ((rc = fs_rmtree(j->part_dir, err)) == 0 && (rc = fs_mkdirs(j->part_dir, err)) == 0)
		rc = prepare_job_process(j, err);
	if (rc == 0 && j->part)
		rc = rec_writer_close(j->part, &bytes, err);
	else
		rec_writer_abort(j->part);
	j->part = NULL;
	if (rc == 0)
		rc = write_part(j, src, index, count, bytes, log_now() - j->t_mark, err);
	j->t_mark = log_now();
	if (rc == 0)
		rc = commit_part(j->part_dir, dir, index, count, err);
	if (rc < 0)
		fs_rmtree(j->part_dir, NULL);
	j->part_dir[0] = '\0';
	return rc;
}

/* Opens the source to build parts from. Processes started at once would all
 * download a URL not fetched yet into the same file: the first does it under
 * WS/.tmp/prepare-shards/.download.lock, the others then find it done. */
static int load_source(prepare_job *j, const char *view, source *src, pl_err *err)
{
	stage_ctx *ctx = j->ctx;
	char path[PATH_MAX];
	int fd = -1, rc = 0;

	if (!ctx->fingerprint[0]) {
		if ((rc = fs_path(path, sizeof(path), err, "%s/.tmp/prepare-shards/.download.lock",
				  ctx->ws)) < 0)
			return rc;
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
			return pl_errorf(err, PL_EIO, "cannot open '%s': %s", path, strerror(errno));
		while (rc == 0 && flock(fd, LOCK_EX) != 0)
			if (errno != EINTR)
				rc = pl_errorf(err, PL_EIO, "cannot lock '%s': %s", path, strerror(errno));
			else if (ctx->stop && *ctx->stop)
				rc = pl_errorf(err, PL_EINTR, "interrupted");
		if (rc == 0 && (rc = engine_fingerprint(ctx, err)) == 0 && ctx->fingerprint[0]) {
			close(fd);      /* another process has downloaded it */
			fd = -1;
		}
	}
	if (rc == 0)
		rc = prepare_job_load(j, view, src, err);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Builds the parts of count that are not done (want[i] != 0 and no
 * summary yet), reading the source once. */
static int build_parts(stage_ctx *ctx, const unsigned char *want, int count, pl_err *err)
{
	char dir[PATH_MAX], view[PATH_MAX] = "";
	sample_set set = { 0 };
	source src = { 0 };
	prepare_job j;
	int rc;

	prepare_job_init(&j, ctx, &set);
	if ((rc = parts_dir(dir, sizeof(dir), ctx->ws, ctx->fingerprint, err)) == 0 &&
	    (rc = fs_mkdirs(dir, err)) == 0 && (rc = make_view(ctx->ws, dir, view, sizeof(view), err)) == 0)
		rc = load_source(&j, view, &src, err);
	/* a download makes the input's identity known */
	if (rc == 0 && !ctx->fingerprint[0] && (rc = engine_fingerprint(ctx, err)) == 0 &&
	    !ctx->fingerprint[0])
		rc = pl_errorf(err, PL_EFAIL, "the input data identity is still unknown");
	if (rc == 0 && (rc = parts_dir(dir, sizeof(dir), ctx->ws, ctx->fingerprint, err)) == 0)
		rc = fs_mkdirs(dir, err);
	for (int i = 0; i < count && rc == 0; i++) {
		if (!want[i])
			continue;
		if (part_done(dir, i, count))
			log_info("shard %d/%d is already done", i, count);
		else
			rc = build_part(&j, &src, dir, i, count, err);
	}
	prepare_job_free(&j);
	samples_free(&set);
	source_close(&src);
	if (view[0])
		fs_rmtree(view, NULL);
	return rc;
}

int parts_build(stage_ctx *ctx, pl_err *err)
{
	char dir[PATH_MAX];
	unsigned char *want;
	int index, count, rc;

	if ((rc = parts_parse(ctx->part, &index, &count, err)) < 0 ||
	    (rc = parts_dir(dir, sizeof(dir), ctx->ws, ctx->fingerprint, err)) < 0)
		return rc;
	if (ctx->fingerprint[0] && part_done(dir, index, count)) {
		log_info("shard %d/%d is already done", index, count);
		return 0;
	}
	if (!(want = calloc((size_t)count, 1)))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	want[index] = 1;
	rc = build_parts(ctx, want, count, err);
	free(want);
	if (ctx->fingerprint[0] && parts_dir(dir, sizeof(dir), ctx->ws, ctx->fingerprint, NULL) == 0 &&
	    fs_is_dir(dir) && rc != -PL_EINTR)   /* stopped is not failed */
		note_part(dir, index, count, rc < 0 ? err->msg : NULL);
	return rc;
}

/* ---- assembly ---- */

/* Finds the complete parts in dir and picks the part count with the largest
 * share done (the smaller count on a tie); *done (count flags, caller
 * frees) marks the parts done. *count = 0 when there are none. */
static int choose_parts(const char *dir, int *count, unsigned char **done, pl_err *err)
{
	int (*found)[2] = NULL, n = 0, cap = 0, best = 0, best_n = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	*count = 0;
	*done = NULL;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		int i, m, len = 0;
		if (sscanf(de->d_name, "%d-of-%d%n", &i, &m, &len) != 2 || de->d_name[len] ||
		    i < 0 || m < 1 || i >= m || m > PARTS_MAX || !part_done(dir, i, m))
			continue;
		if (n == cap) {
			void *grown = realloc(found, (size_t)(cap = cap ? 2 * cap : 16) * sizeof(*found));
			if (!grown)
				break;
			found = grown;
		}
		found[n][0] = i;
		found[n++][1] = m;
	}
	closedir(d);
	for (int k = 0; k < n; k++) {
		int m = found[k][1], same = 0;
		for (int q = 0; q < n; q++)
			same += found[q][1] == m;
		if (!best || (long long)same * best > (long long)best_n * m ||
		    ((long long)same * best == (long long)best_n * m && m < best)) {
			best = m;
			best_n = same;
		}
	}
	if (best && !(*done = calloc((size_t)best, 1))) {
		free(found);
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	}
	for (int k = 0; k < n; k++)
		if (found[k][1] == best)
			(*done)[found[k][0]] = 1;
	*count = best;
	free(found);
	return 0;
}

static json_t *load_part(const char *dir, int index, int count, const char *file, pl_err *err)
{
	char path[PATH_MAX];
	json_error_t je;
	json_t *part;

	if (fs_path(path, sizeof(path), err, "%s/%d-of-%d/%s", dir, index, count, file) < 0)
		return NULL;
	if (!(part = json_load_file(path, 0, &je)))
		pl_errorf(err, PL_EDATA, "cannot read shard part '%s': %s (remove its directory "
			  "to have it redone)", path, je.text);
	return part;
}

/* Makes set a view of the sample metadata a part holds (strings stay owned
 * by part); fills the split sizes and the source description. */
static int set_from_part(sample_set *set, prepare_job *j, source *src, const json_t *part,
			 pl_err *err)
{
	json_t *lists[3] = { json_object_get(part, "classes"), json_object_get(part, "groups"),
			     json_object_get(part, "channels") };
	char ***dst[3] = { &set->classes, &set->groups, &set->channel_names };
	int *sizes[3] = { &set->n_classes, &set->n_groups, &set->n_channels };

	set->n = (int)json_integer_value(json_object_get(part, "n"));
	for (int k = 0; k < 3; k++) {
		*sizes[k] = (int)json_array_size(lists[k]);
		if (!(*dst[k] = calloc((size_t)*sizes[k] + 1, sizeof(char *))))
			return pl_errorf(err, PL_ENOMEM, "out of memory");
		for (int i = 0; i < *sizes[k]; i++)
			(*dst[k])[i] = (char *)json_string_value(json_array_get(lists[k], (size_t)i));
	}
	for (int s = 0; s < N_SPLITS; s++)
		j->samples[s] = json_integer_value(json_array_get(json_object_get(part,
							"split_samples"), (size_t)s));
	snprintf(src->identity, sizeof(src->identity), "%s",
		 json_string_value(json_object_get(part, "source")) ?: "");
	src->bytes = json_integer_value(json_object_get(part, "bytes_in"));
	j->class_tiles = calloc((size_t)set->n_classes * N_SPLITS, sizeof(long long));
	return j->class_tiles ? 0 : pl_errorf(err, PL_ENOMEM, "out of memory");
}

/* Copies one sample's records from part reader r (from *pos on) into its
 * final shard and adds its statistics. */
static int merge_sample(prepare_job *j, rec_reader *r, int64_t *pos, const json_t *e,
			const char *where, pl_err *err)
{
	int split = (int)json_integer_value(json_array_get(e, 0));
	int shard = (int)json_integer_value(json_array_get(e, 1));
	int label = (int)json_integer_value(json_array_get(e, 2));
	int tiles = (int)json_integer_value(json_array_get(e, 3));
	const char *sums = json_string_value(json_array_get(e, 4));
	double sum[PREPROC_MAX_CHANNELS] = { 0 }, sumsq[PREPROC_MAX_CHANNELS] = { 0 };
	rec_sample rs;
	int rc = 0;

	if (tiles < 0)
		return 0;
	if (split < 0 || split >= N_SPLITS || shard < 0 || shard >= j->n_shards || label < 0 ||
	    label >= j->set->n_classes || !sums || !r ||
	    *pos + tiles > rec_reader_count(r))
		return pl_errorf(err, PL_EDATA, "shard part '%s' is inconsistent (remove it to "
				 "have it redone)", where);
	for (int t = 0; t < tiles && rc == 0; t++)
		if ((rc = rec_read(r, (*pos)++, &rs, err)) == 0)
			rc = prepare_job_write(j, split, shard, rs.label, rs.group, rs.name,
					       rs.data, err);
	for (int ch = 0; ch < 2 * j->c && split == SPLIT_TRAIN; ch++) {
		char *end;
		double v = strtod(sums, &end);
		if (end == sums)
			return pl_errorf(err, PL_EDATA, "shard part '%s' has bad sums", where);
		*(ch < j->c ? &sum[ch] : &sumsq[ch - j->c]) = v;
		sums = end;
	}
	if (rc == 0)
		prepare_job_account(j, split, shard, label, tiles, sum, sumsq);
	return rc;
}

/* Copies the records of part index (of count) into the final shards; *lo:
 * the first sample it must hold, moved on past its last. */
static int merge_part(prepare_job *j, const char *dir, int index, int count, const json_t *part,
		      int *lo, pl_err *err)
{
	const json_t *samples = json_object_get(part, "samples"), *e;
	int c = (int)json_integer_value(json_object_get(part, "c")), rc = 0, hc, hh, hw;
	int n_samples = (int)json_array_size(samples);
	char where[PATH_MAX];
	rec_reader *r = NULL;
	int64_t pos = 0;
	size_t k;

	if ((rc = fs_path(where, sizeof(where), err, "%s/%d-of-%d", dir, index, count)) < 0)
		return rc;
	if (json_integer_value(json_object_get(part, "n")) != j->set->n ||
	    json_integer_value(json_object_get(part, "lo")) != *lo || n_samples > j->set->n - *lo ||
	    (index == count - 1 && n_samples != j->set->n - *lo) || c < 0 ||
	    c > PREPROC_MAX_CHANNELS)
		return pl_errorf(err, PL_EDATA, "shard part '%s' does not match the others "
				 "(remove it to have it redone)", where);
	if (c > 0 && !j->c)
		rc = prepare_job_open_writers(j, c, err);
	else if (c > 0 && c != j->c)
		rc = pl_errorf(err, PL_EDATA, "shard part '%s' has %d channels, earlier parts %d",
			       where, c, j->c);
	if (rc == 0 && c > 0) {
		char path[PATH_MAX];
		if ((rc = fs_path(path, sizeof(path), err, "%s/records.rec.zst", where)) < 0)
			return rc;
		if (!(r = rec_reader_open(path, err)))
			return -err->code;
		rec_reader_shape(r, &hc, &hh, &hw);
		if (hc != c || hh != j->po.size || hw != j->po.size || rec_reader_dtype(r) != j->dtype)
			rc = pl_errorf(err, PL_EDATA, "'%s' has another shape or type than the "
				       "configuration gives (remove the part to have it redone)", path);
	}
	json_array_foreach(samples, k, e)
		if (rc == 0)
			rc = merge_sample(j, r, &pos, e, where, err);
	if (rc == 0 && r && pos != rec_reader_count(r))
		rc = pl_errorf(err, PL_EDATA, "shard part '%s' holds more records than it lists", where);
	if (rc == 0)
		json_array_extend(j->skipped, json_object_get(part, "skipped"));
	*lo += n_samples;
	rec_reader_close(r);
	return rc;
}

/* Writes the stage's outputs from the complete set of count parts. */
static int merge_parts(stage_ctx *ctx, const char *dir, int count, pl_err *err)
{
	sample_set set = { 0 };
	source src = { 0 };
	json_t *first = NULL, *part;
	double t0 = log_now();
	log_progress prog;
	prepare_job j;
	int rc, lo = 0;

	prepare_job_init(&j, ctx, &set);
	if (!(first = load_part(dir, 0, count, "part.json", err)))
		rc = -err->code;
	else if ((rc = preproc_from_cfg(ctx->cfg, &j.po, err)) == 0)
		rc = set_from_part(&set, &j, &src, first, err);
	log_progress_start(&prog, "assembling", count, "parts");
	for (int p = 0; p < count && rc == 0; p++) {
		part = p ? load_part(dir, p, count, "part.json", err) : json_incref(first);
		rc = part ? merge_part(&j, dir, p, count, part, &lo, err) : -err->code;
		json_decref(part);
		log_progress_update(&prog, p + 1);
		if (rc == 0 && ctx->stop && *ctx->stop)
			rc = pl_errorf(err, PL_EINTR, "interrupted");
	}
	log_progress_end(&prog);
	if (rc == 0)
		rc = prepare_job_finish(&j, &src, t0, err);
	prepare_job_free(&j);
	free(set.classes);
	free(set.groups);
	free(set.channel_names);
	json_decref(first);
	return rc;
}

/* prepare from shard parts: does the missing ones, then assembles. */
static int run_assembly(stage_ctx *ctx, const char *dir, int count, unsigned char *done,
			pl_err *err)
{
	int missing = 0, rc = 0;

	for (int i = 0; i < count; i++) {
		done[i] = !done[i];     /* now: the parts wanted */
		missing += done[i];
	}
	log_info("assembling %d shard parts%s", count, missing ? "; doing the missing ones first" : "");
	if (missing)
		rc = build_parts(ctx, done, count, err);
	if (rc == 0)
		rc = merge_parts(ctx, dir, count, err);
	if (rc == 0 && (rc = fs_rmtree(dir, err)) == 0) {
		char parent[PATH_MAX];
		if (fs_path(parent, sizeof(parent), NULL, "%s", dir) == 0)
			rmdir(dirname(parent));   /* WS/.tmp/prepare-shards, when nothing else is left */
	}
	return rc;
}



int parts_assemble(stage_ctx *ctx, int *assembled, pl_err *err)
{
	unsigned char *done = NULL;
	char dir[PATH_MAX];
	int count = 0, rc = 0;

	*assembled = 0;
	if ((rc = parts_dir(dir, sizeof(dir), ctx->ws, ctx->fingerprint, err)) < 0)
		return rc;
	if (ctx->fingerprint[0])
		rc = choose_parts(dir, &count, &done, err);
	*assembled = rc == 0 && count > 0;
	if (*assembled)
		rc = run_assembly(ctx, dir, count, done, err);
	free(done);
	return rc;
}

/* The part count a failure marker in dir names (no part being done), or 0. */
static int failed_count(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int i, m, len, count = 0;

	while (d && !count && (de = readdir(d))) {
		len = 0;
		if (sscanf(de->d_name, "%d-of-%d.failed%n", &i, &m, &len) == 2 && len &&
		    !de->d_name[len] && i >= 0 && i < m && m <= PARTS_MAX)
			count = m;
	}
	if (d)
		closedir(d);
	return count;
}

json_t *parts_status(const char *ws, const char *fp)
{
	unsigned char *done = NULL;
	json_t *parts, *out;
	char dir[PATH_MAX], shard[64];
	int count = 0, n_done = 0;

	if (!fp[0] || parts_dir(dir, sizeof(dir), ws, fp, NULL) < 0)
		return NULL;
	if (choose_parts(dir, &count, &done, NULL) < 0)
		return NULL;
	if (!count && !(count = failed_count(dir)))
		return NULL;
	parts = json_array();
	for (int i = 0; i < count; i++) {
		json_t *sum = done[i] ? load_part(dir, i, count, "summary.json", NULL) : NULL;
		char *failure = NULL;
		snprintf(shard, sizeof(shard), "%d/%d", i, count);
		if (sum)
			json_array_append_new(parts, json_pack("{s:s,s:s,s:O,s:f,s:O,s:O}", "shard", shard,
				"state", "done", "tiles", json_object_get(sum, "tiles"),
				"mib", round(json_integer_value(json_object_get(sum, "bytes")) / 1048576.0 * 100) / 100,
				"elapsed_s", json_object_get(sum, "elapsed_s"), "host", json_object_get(sum, "host")));
		else if ((failure = part_failure(dir, i, count)))
			json_array_append_new(parts, json_pack("{s:s,s:s,s:o}", "shard", shard, "state",
							       "failed", "reason", json_text(failure)));
		else
			json_array_append_new(parts, json_pack("{s:s,s:s}", "shard", shard, "state", "missing"));
		free(failure);
		n_done += sum != NULL;
		json_decref(sum);
	}
	free(done);
	out = json_pack("{s:i,s:i,s:o}", "count", count, "done", n_done, "parts", parts);
	return out;
}
