/* The prepare stage: source -> samples -> split -> decoded, preprocessed
 * tiles -> record shards per split, with statistics for standardisation
 * computed on the training split only. Decoding runs on all cores in
 * batches; records are written in sample order and the statistics are
 * summed per sample, then over samples in order, so the output depends
 * neither on the thread count nor on how many shard parts did the work. */
#include "prepare.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include "../io/fs.h"
#include "../io/log.h"
#include "../io/rec.h"
#include "../io/utf8.h"
#include "../nn/nn.h"
#include "preproc.h"
#include "samples.h"
#include "source.h"
#include "stages.h"

enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST, N_SPLITS };
static const char *split_names[N_SPLITS] = { "train", "val", "test" };

typedef struct prep_job {
	stage_ctx *ctx;
	const sample_set *set;
	prep_opts po;
	char root[4096];
	int *split;              /* split of each sample */
	int *shard;              /* shard of each sample within its split */
	int n_shards;
	rec_dtype dtype;
	rec_writer *writers[N_SPLITS][64];
	int c;                   /* output channels, from the first sample */
	double sum[PREP_MAX_CHANNELS], sumsq[PREP_MAX_CHANNELS], n_px;   /* training statistics */
	long long tiles[N_SPLITS], samples[N_SPLITS], bytes_in;
	long long *class_tiles;  /* n_classes x N_SPLITS */
	json_t *skipped;
	int lo, hi;              /* the samples processed: [lo, hi) */
	char part_dir[4200];     /* building a shard part here ("" otherwise): */
	rec_writer *part;        /* its records, all splits in sample order */
	json_t *part_samples;    /* per sample: [split, shard, label, tiles, sums] */
	double t_mark;           /* when the part being built was started */
	/* the batch being decoded */
	int batch_lo, batch_n, next;
	prep_result *results;
	pl_err *errs;
	pthread_mutex_t mu;
} prep_job;

/* 64-bit FNV-1a mixed with the seed: the split's stable hash of a group. */
static uint64_t group_hash(const char *s, uint64_t seed)
{
	uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL);

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	return h ^ (h >> 33);
}

/* A group's place in [0, 1): its hash alone, so it never depends on the
 * other groups. */
static double group_u(const char *group, uint64_t seed)
{
	return (double)(group_hash(group, seed) >> 11) * 0x1p-53;
}

typedef struct placed { double u; int g; } placed;

static int cmp_placed(const void *a, const void *b)
{
	const placed *x = a, *y = b;
	return x->u < y->u ? -1 : x->u > y->u ? 1 : x->g - y->g;
}

/* How many of a class's n groups go to val and test: the fractions,
 * rounded; at least one for a split that wants some while the class has a
 * group to spare; never all of them. */
static void quotas(int n, double f_val, double f_test, int *n_val, int *n_test)
{
	*n_val = (int)lround(f_val * n);
	*n_test = (int)lround(f_test * n);
	if (f_val > 0 && *n_val == 0 && n - *n_test >= 2)
		*n_val = 1;
	if (f_test > 0 && *n_test == 0 && n - *n_val >= 2)
		*n_test = 1;
	while (*n_val + *n_test >= n && *n_val + *n_test > 0) {
		if (*n_test >= *n_val)
			(*n_test)--;
		else
			(*n_val)--;
	}
}

/* Splits the groups of each class (that of a group's first sample) in the
 * configured proportions: in the order of their hashes, the first of a
 * class go to test, the next to val, the rest to train. Every class is in
 * every split in proportion (stratified); a group's place comes from its
 * key and the seed alone, so adding groups moves only the few the cut
 * points pass over, and adding samples to a group moves nothing. */
static int assign_splits(prep_job *j, pl_err *err)
{
	const sample_set *set = j->set;
	double f_test = cfg_float(j->ctx->cfg, "prepare", "test_fraction");
	double f_val = cfg_float(j->ctx->cfg, "prepare", "val_fraction");
	double want[N_SPLITS] = { 1.0, f_val, f_test };
	uint64_t seed = (uint64_t)cfg_int(j->ctx->cfg, "prepare", "seed");
	placed *order = malloc((size_t)set->n_groups * sizeof(placed));
	int *gsplit = malloc((size_t)set->n_groups * sizeof(int)), rc = 0;
	int *gclass = malloc((size_t)set->n_groups * sizeof(int));

	if (!order || !gsplit || !gclass) {
		rc = pl_errorf(err, PL_ENOMEM, "out of memory");
		goto out;
	}
	for (int g = 0; g < set->n_groups; g++) {
		gclass[g] = -1;
		gsplit[g] = SPLIT_TRAIN;
	}
	for (int i = set->n - 1; i >= 0; i--)
		gclass[set->s[i].group] = set->s[i].label;
	for (int c = 0; c < set->n_classes; c++) {
		int n = 0, n_val, n_test;
		for (int g = 0; g < set->n_groups; g++)
			if (gclass[g] == c)
				order[n++] = (placed){ group_u(set->groups[g], seed), g };
		qsort(order, (size_t)n, sizeof(placed), cmp_placed);
		quotas(n, f_val, f_test, &n_val, &n_test);
		for (int k = 0; k < n; k++)
			gsplit[order[k].g] = k < n_test ? SPLIT_TEST : k < n_test + n_val ? SPLIT_VAL :
					     SPLIT_TRAIN;
	}
	for (int i = 0; i < set->n; i++) {
		j->split[i] = gsplit[set->s[i].group];
		j->samples[j->split[i]]++;
	}
	for (int s = 0; s < N_SPLITS && rc == 0; s++)
		if (j->samples[s] == 0 && want[s] > 0)
			rc = pl_errorf(err, PL_EDATA, "the %s split is empty: %d samples in %d groups "
				       "are too few for the configured fractions", split_names[s],
				       set->n, set->n_groups);
out:
	free(order);
	free(gsplit);
	free(gclass);
	return rc;
}

/* Shard of each sample: consecutive runs of a split's samples. */
static void assign_shards(prep_job *j)
{
	long long pos[N_SPLITS] = { 0 };

	for (int i = 0; i < j->set->n; i++) {
		int s = j->split[i];
		j->shard[i] = (int)(pos[s]++ * j->n_shards / (j->samples[s] ? j->samples[s] : 1));
	}
}

/* Worker: decodes and preprocesses samples of the current batch. */
static void *decode_worker(void *arg)
{
	prep_job *j = arg;
	char paths[PREP_MAX_CHANNELS][4200], *ptrs[PREP_MAX_CHANNELS];

	for (;;) {
		pthread_mutex_lock(&j->mu);
		int k = j->next < j->batch_n ? j->next++ : -1;
		pthread_mutex_unlock(&j->mu);
		if (k < 0)
			return NULL;
		const sample *s = &j->set->s[j->batch_lo + k];
		for (int ch = 0; ch < j->set->n_channels; ch++) {
			snprintf(paths[ch], sizeof(paths[ch]), "%s/%s", j->root, s->files[ch]);
			ptrs[ch] = paths[ch];
		}
		prep_files(&j->po, ptrs, j->set->n_channels, &j->results[k], &j->errs[k]);
	}
}

/* Opens every shard writer (or the part's one writer) once the channel
 * count is known. */
static int open_writers(prep_job *j, int c, pl_err *err)
{
	char name[64], path[4200];

	j->c = c;
	if (j->part_dir[0]) {
		snprintf(path, sizeof(path), "%s/records.rec.zst", j->part_dir);
		j->part = rec_writer_open(path, j->dtype, c, j->po.size, j->po.size, 1, err);
		return j->part ? 0 : -err->code;
	}
	for (int s = 0; s < N_SPLITS; s++)
		for (int k = 0; k < j->n_shards; k++) {
			rec_shard_name(name, sizeof(name), split_names[s], k, j->n_shards);
			snprintf(path, sizeof(path), "%s/%s", j->ctx->out_dir, name);
			j->writers[s][k] = rec_writer_open(path, j->dtype, c, j->po.size, j->po.size, 0, err);
			if (!j->writers[s][k])
				return -err->code;
		}
	return 0;
}

/* Adds one sample's tiles and pixel sums (training split only) to the
 * totals, in sample order; a part also notes them for the assembly. */
static void account(prep_job *j, int split, int shard, int label, int n_tiles,
		    const double *sum, const double *sumsq)
{
	char text[16 * 2 * 32] = "";
	size_t len = 0;

	if (split == SPLIT_TRAIN) {
		for (int ch = 0; ch < j->c; ch++) {
			j->sum[ch] += sum[ch];
			j->sumsq[ch] += sumsq[ch];
		}
		j->n_px += (double)n_tiles * j->po.size * j->po.size;
	}
	j->tiles[split] += n_tiles;
	j->class_tiles[label * N_SPLITS + split] += n_tiles;
	if (!j->part_samples)
		return;
	for (int ch = 0; split == SPLIT_TRAIN && ch < 2 * j->c; ch++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%a", len ? " " : "",
					ch < j->c ? sum[ch] : sumsq[ch - j->c]);
	json_array_append_new(j->part_samples, json_pack("[i,i,i,i,s]", split, shard, label,
							 n_tiles, text));
}

/* Writes the tiles of sample i (result r) to its shard. */
static int write_sample(prep_job *j, int i, const prep_result *r, pl_err *err)
{
	const sample *s = &j->set->s[i];
	size_t n = (size_t)r->c * j->po.size * j->po.size, plane = (size_t)j->po.size * j->po.size;
	uint8_t *u8 = j->dtype == REC_U8 ? malloc(n) : NULL;
	int split = j->split[i], rc = 0;
	rec_writer *w = j->part ? j->part : j->writers[split][j->shard[i]];
	double sum[PREP_MAX_CHANNELS] = { 0 }, sumsq[PREP_MAX_CHANNELS] = { 0 };
	char name[4200];

	if (j->dtype == REC_U8 && !u8)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	if (r->c != j->c) {
		free(u8);
		return pl_errorf(err, PL_EDATA, "'%s' gives %d channels, earlier samples %d (set "
				 "[prepare] channels_out = rgb or gray to convert every image)",
				 s->files[0], r->c, j->c);
	}
	for (int t = 0; t < r->n_tiles && rc == 0; t++) {
		float *px = r->tiles + (size_t)t * n;
		if (u8)
			prep_quantize_u8(px, u8, n);
		if (split == SPLIT_TRAIN)
			for (int ch = 0; ch < r->c; ch++)
				for (size_t k = 0; k < plane; k++) {
					double v = px[ch * plane + k];
					sum[ch] += v;
					sumsq[ch] += v * v;
				}
		snprintf(name, sizeof(name), r->n_tiles > 1 ? "%s#%d" : "%s", s->files[0], t);
		rc = rec_write(w, s->label, s->group, name,
			       u8 ? (const void *)u8 : (const void *)px, err);
	}
	if (rc == 0)
		account(j, split, j->shard[i], s->label, r->n_tiles, sum, sumsq);
	free(u8);
	return rc;
}

/* Handles the outcome of sample i: writes it, or skips or fails on error. */
static int finish_sample(prep_job *j, int i, prep_result *r, pl_err *e, pl_err *err)
{
	int skip = cfg_word_in(cfg_str(j->ctx->cfg, "dataset", "on_bad_image"), "skip");

	if (e->code) {
		if (!skip || e->code == PL_ENOMEM || e->code == PL_EIO) {
			*err = *e;
			return -e->code;
		}
		log_warn("skipping sample %d: %s", i, e->msg);
		json_array_append_new(j->skipped, json_pack("{s:o,s:o,s:s}", "file",
							    json_text(j->set->s[i].files[0]), "reason",
							    json_text(e->msg), "split",
							    split_names[j->split[i]]));
		if (j->part_samples)
			json_array_append_new(j->part_samples, json_pack("[i,i,i,i,s]", j->split[i],
				j->shard[i], j->set->s[i].label, -1, ""));
		return 0;
	}
	if (!j->c) {
		int rc = open_writers(j, r->c, err);
		if (rc < 0)
			return rc;
	}
	return write_sample(j, i, r, err);
}

/* Decodes all samples in batches over n_threads threads. */
static int process_all(prep_job *j, int n_threads, pl_err *err)
{
	int batch = n_threads * 4, rc = 0;
	pthread_t tids[64];
	log_progress prog;

	free(j->results);
	free(j->errs);
	j->results = calloc((size_t)batch, sizeof(prep_result));
	j->errs = calloc((size_t)batch, sizeof(pl_err));
	if (!j->results || !j->errs)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	log_progress_start(&prog, "decoding", j->hi - j->lo, "images");
	for (int lo = j->lo; lo < j->hi && rc == 0; lo += batch) {
		j->batch_lo = lo;
		j->batch_n = j->hi - lo < batch ? j->hi - lo : batch;
		j->next = 0;
		memset(j->errs, 0, (size_t)batch * sizeof(pl_err));
		int started = 0;
		for (; started < n_threads - 1; started++)
			if (pthread_create(&tids[started], NULL, decode_worker, j))
				break;
		decode_worker(j);
		for (int t = 0; t < started; t++)
			pthread_join(tids[t], NULL);
		for (int k = 0; k < j->batch_n; k++) {
			if (rc == 0)
				rc = finish_sample(j, lo + k, &j->results[k], &j->errs[k], err);
			prep_result_release(&j->results[k]);
		}
		log_progress_update(&prog, lo - j->lo + j->batch_n);
		if (rc == 0 && j->ctx->stop && *j->ctx->stop)
			rc = pl_errorf(err, PL_EINTR, "interrupted");
	}
	log_progress_end(&prog);
	return rc;
}

/* Bytes of the image files read (for a directory source, which has no
 * archive size). */
static long long files_bytes(const prep_job *j)
{
	char path[4200];
	long long n = 0;
	struct stat st;

	for (int i = 0; j->set->s && i < j->set->n; i++)   /* no list when assembling parts */
		for (int ch = 0; ch < j->set->n_channels; ch++) {
			snprintf(path, sizeof(path), "%s/%s", j->root, j->set->s[i].files[ch]);
			n += stat(path, &st) == 0 ? st.st_size : 0;
		}
	return n;
}

/* Samples written to split s: those assigned to it but not skipped. */
static long long kept_in(const prep_job *j, int s)
{
	long long n = j->samples[s];
	size_t k;
	json_t *e;

	json_array_foreach(j->skipped, k, e)
		n -= !strcmp(json_string_value(json_object_get(e, "split")) ?: "", split_names[s]);
	return n;
}

/* Closes the writers; lists each split's shards into dataset. */
static int close_writers(prep_job *j, json_t *splits, long long *bytes_out, pl_err *err)
{
	char name[64];
	int rc = 0;

	for (int s = 0; s < N_SPLITS; s++) {
		json_t *shards = json_array();
		for (int k = 0; k < j->n_shards; k++) {
			uint64_t bytes = 0;
			if (rc == 0 && j->writers[s][k])
				rc = rec_writer_close(j->writers[s][k], &bytes, err);
			else
				rec_writer_abort(j->writers[s][k]);
			j->writers[s][k] = NULL;
			*bytes_out += (long long)bytes;
			rec_shard_name(name, sizeof(name), split_names[s], k, j->n_shards);
			json_array_append_new(shards, json_string(name));
		}
		json_object_set_new(splits, split_names[s], json_pack("{s:o,s:I,s:I}", "shards", shards,
			"samples", (json_int_t)kept_in(j, s), "tiles", (json_int_t)j->tiles[s]));
	}
	return rc;
}

/* Writes one string per line (labels.txt, groups.txt). */
static int write_lines(const char *dir, const char *file, char *const *v, int n, pl_err *err)
{
	size_t len = 0, cap = 1;
	char path[4200], *text;
	int rc;

	for (int i = 0; i < n; i++)
		cap += strlen(v[i]) + 1;
	if (!(text = malloc(cap)))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s\n", v[i]);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	rc = fs_write_file(path, text, len, err);
	free(text);
	return rc;
}

static int write_json(const char *dir, const char *file, json_t *obj, pl_err *err)
{
	char path[4200], *text = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int rc;

	if (!text)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	rc = fs_write_file(path, text, strlen(text), err);
	free(text);
	return rc;
}

/* dataset.json: what train, validate and predict need to read the records. */
static json_t *dataset_json(prep_job *j, json_t *splits)
{
	json_t *mean = json_array(), *std = json_array(), *chans = json_array();
	int standardize = cfg_bool(j->ctx->cfg, "prepare", "standardize");

	for (int ch = 0; ch < j->c; ch++) {
		double m = j->n_px ? j->sum[ch] / j->n_px : 0;
		double var = j->n_px ? j->sumsq[ch] / j->n_px - m * m : 1;
		json_array_append_new(mean, json_real(standardize ? m : 0));
		json_array_append_new(std, json_real(standardize ? sqrt(var > 1e-12 ? var : 1e-12) : 1));
	}
	for (int k = 0; k < j->set->n_channels; k++)
		json_array_append_new(chans, json_string(j->set->channel_names[k]));
	return json_pack("{s:i,s:[i,i,i],s:s,s:o,s:o,s:o,s:o,s:O}", "classes", j->set->n_classes,
			 "shape", j->c, j->po.size, j->po.size, "dtype",
			 j->dtype == REC_U8 ? "u8" : "f32", "channel_files", chans, "mean", mean,
			 "std", std, "preprocess", prep_to_json(&j->po), "splits", splits);
}

/* stats.json and the stage's headline metrics; dataset gives the
 * standardisation (mean and std per channel, from the train split). */
static int write_stats(prep_job *j, const source *src, const json_t *dataset, long long bytes_out,
		       double secs, pl_err *err)
{
	json_t *per_class = json_object(), *stats;
	long long tiles = j->tiles[0] + j->tiles[1] + j->tiles[2];
	int kept = j->set->n - (int)json_array_size(j->skipped), rc;

	for (int cl = 0; cl < j->set->n_classes; cl++)
		json_object_set_new(per_class, j->set->classes[cl], json_pack("{s:I,s:I,s:I}",
			"train", (json_int_t)j->class_tiles[cl * N_SPLITS + SPLIT_TRAIN],
			"val", (json_int_t)j->class_tiles[cl * N_SPLITS + SPLIT_VAL],
			"test", (json_int_t)j->class_tiles[cl * N_SPLITS + SPLIT_TEST]));
	stats = json_pack("{s:s,s:i,s:i,s:{s:I,s:I,s:I},s:I,s:{s:I,s:I,s:I},s:o,s:O?,s:O?,s:O,s:I,s:I,"
			  "s:f,s:f}",
			  "source", src->identity, "samples", kept, "groups", j->set->n_groups,
			  "samples_per_split", "train", (json_int_t)kept_in(j, SPLIT_TRAIN),
			  "val", (json_int_t)kept_in(j, SPLIT_VAL), "test", (json_int_t)kept_in(j, SPLIT_TEST),
			  "tiles", (json_int_t)tiles, "tiles_per_split",
			  "train", (json_int_t)j->tiles[0], "val", (json_int_t)j->tiles[1],
			  "test", (json_int_t)j->tiles[2], "tiles_per_class", per_class,
			  "mean", json_object_get(dataset, "mean"), "std", json_object_get(dataset, "std"),
			  "skipped", j->skipped, "bytes_in", (json_int_t)j->bytes_in,
			  "bytes_out", (json_int_t)bytes_out, "elapsed_s", secs,
			  "images_per_s", secs > 0 ? j->set->n / secs : 0);
	rc = write_json(j->ctx->out_dir, "stats.json", stats, err);
	json_decref(stats);
	json_object_set_new(j->ctx->metrics, "samples", json_integer(kept));
	json_object_set_new(j->ctx->metrics, "tiles", json_integer(tiles));
	json_object_set_new(j->ctx->metrics, "skipped", json_integer((json_int_t)json_array_size(j->skipped)));
	json_object_set_new(j->ctx->metrics, "mib", json_real(round(bytes_out / 1048576.0 * 100) / 100));
	return rc;
}

static void job_init(prep_job *j, stage_ctx *ctx, sample_set *set)
{
	memset(j, 0, sizeof(*j));
	pthread_mutex_init(&j->mu, NULL);
	j->ctx = ctx;
	j->set = set;
	j->n_shards = (int)cfg_int(ctx->cfg, "prepare", "shards");
	j->n_shards = j->n_shards > 64 ? 64 : j->n_shards;
	j->dtype = cfg_word_in(cfg_str(ctx->cfg, "prepare", "dtype"), "f32") ? REC_F32 : REC_U8;
	j->skipped = json_array();
	j->t_mark = log_now();
}

static void job_free(prep_job *j)
{
	for (int s = 0; s < N_SPLITS; s++)
		for (int k = 0; k < j->n_shards; k++)
			rec_writer_abort(j->writers[s][k]);
	rec_writer_abort(j->part);
	free(j->split);
	free(j->shard);
	free(j->class_tiles);
	free(j->results);
	free(j->errs);
	json_decref(j->skipped);
	json_decref(j->part_samples);
	pthread_mutex_destroy(&j->mu);
}

static int n_threads(const cfg *c)
{
	long threads = cfg_int(c, "prepare", "threads");

	if (threads <= 0)
		threads = nn_cpu_count();
	return threads < 1 ? 1 : threads > 64 ? 64 : (int)threads;
}

/* Opens the source (through the workspace directory ws), lists the samples
 * and assigns each its split and shard. */
static int job_load(prep_job *j, const char *ws, source *src, pl_err *err)
{
	stage_ctx *ctx = j->ctx;
	sample_set *set = (sample_set *)j->set;
	int rc;

	if ((rc = prep_from_cfg(ctx->cfg, &j->po, err)) < 0 ||
	    (rc = source_open(ctx->cfg, ws, ctx->stop, src, err)) < 0)
		return rc;
	snprintf(j->root, sizeof(j->root), "%s", src->root);
	if ((rc = samples_load(ctx->cfg, src->root, set, err)) < 0)
		return rc;
	j->split = calloc((size_t)set->n, sizeof(int));
	j->shard = calloc((size_t)set->n, sizeof(int));
	j->class_tiles = calloc((size_t)set->n_classes * N_SPLITS, sizeof(long long));
	if (!j->split || !j->shard || !j->class_tiles)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	if ((rc = assign_splits(j, err)) < 0)
		return rc;
	assign_shards(j);
	log_info("%d samples of %d channel file(s) in %d classes, %d groups; %lld train, "
		 "%lld val, %lld test", set->n, set->n_channels, set->n_classes,
		 set->n_groups, j->samples[0], j->samples[1], j->samples[2]);
	return 0;
}

/* Closes the writers; writes labels.txt, groups.txt, dataset.json, stats.json. */
static int finish_job(prep_job *j, const source *src, double t0, pl_err *err)
{
	json_t *splits = json_object(), *dataset;
	long long bytes_out = 0;
	int rc = 0;

	if (!j->c)
		rc = pl_errorf(err, PL_EDATA, "every image was skipped as unreadable");
	for (int s = 0; s < N_SPLITS && rc == 0; s++)
		if (j->samples[s] > 0 && kept_in(j, s) == 0)
			rc = pl_errorf(err, PL_EDATA, "the %s split is empty: its %lld sample(s) were "
				       "all skipped as unreadable", split_names[s], j->samples[s]);
	if (rc == 0)
		rc = close_writers(j, splits, &bytes_out, err);
	if (rc == 0)
		rc = write_lines(j->ctx->out_dir, "labels.txt", j->set->classes, j->set->n_classes, err);
	if (rc == 0)
		rc = write_lines(j->ctx->out_dir, "groups.txt", j->set->groups, j->set->n_groups, err);
	dataset = rc == 0 ? dataset_json(j, splits) : NULL;
	if (rc == 0)
		rc = write_json(j->ctx->out_dir, "dataset.json", dataset, err);
	j->bytes_in = src->bytes ? src->bytes : files_bytes(j);
	if (rc == 0)
		rc = write_stats(j, src, dataset, bytes_out, log_now() - t0, err);
	json_decref(dataset);
	json_decref(splits);
	return rc;
}

/* Prepare in one process, without shard parts. */
static int run_direct(stage_ctx *ctx, pl_err *err)
{
	sample_set set = { 0 };
	source src = { 0 };
	double t0 = log_now();
	prep_job j;
	int rc;

	job_init(&j, ctx, &set);
	rc = job_load(&j, ctx->ws, &src, err);
	j.lo = 0;
	j.hi = set.n;
	if (rc == 0)
		rc = process_all(&j, n_threads(ctx->cfg), err);
	if (rc == 0)
		rc = finish_job(&j, &src, t0, err);
	job_free(&j);
	samples_free(&set);
	source_close(&src);
	return rc;
}

/* ---- shard parts ---- */

int prepare_parse_shard(const char *text, int *index, int *count, pl_err *err)
{
	const char *slash = strchr(text, '/'), *at = text;
	char *end;
	long i, n;

	if (!slash || !(slash[1] >= '0' && slash[1] <= '9'))
		goto bad;
	n = strtol(slash + 1, &end, 10);
	if (*end || n < 1 || n > PREPARE_MAX_PARTS)
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
			 PREPARE_MAX_PARTS);
}

/* WS/.tmp/prepare-shards/FP (or the directory above when fp is ""). */
static void parts_dir(char *out, size_t n, const char *ws, const char *fp)
{
	snprintf(out, n, "%s/.tmp/prepare-shards%s%s", ws, fp[0] ? "/" : "", fp);
}

static int part_done(const char *dir, int index, int count)
{
	char path[4300];

	snprintf(path, sizeof(path), "%s/%d-of-%d/summary.json", dir, index, count);
	return fs_exists(path);
}

/* dir/I-of-N.failed: the message of the last attempt at part index that
 * failed, for status; removed once the part is done. */
static void failure_path(char *path, size_t n, const char *dir, int index, int count)
{
	snprintf(path, n, "%s/%d-of-%d.failed", dir, index, count);
}

/* The message a failed attempt at part index left, or NULL (caller frees). */
static char *part_failure(const char *dir, int index, int count)
{
	char path[4300], *msg = NULL;
	size_t len;

	failure_path(path, sizeof(path), dir, index, count);
	return fs_read_file(path, 1024, &msg, &len, NULL) == 0 ? msg : NULL;
}

/* Records (msg) or clears (NULL) the failure of part index; a failure to
 * write it only loses what status shows. */
static void note_part(const char *dir, int index, int count, const char *msg)
{
	char path[4300];

	failure_path(path, sizeof(path), dir, index, count);
	if (msg)
		fs_write_atomic(path, msg, strlen(msg), NULL);
	else
		unlink(path);
}

/* A workspace view for one process building parts, dir/.ws-HOST-PID: its
 * own .tmp (source_open extracts into WS/.tmp/prepare-source) with downloads
 * and .cache shared through symlinks, so that parts built at once on one
 * workspace do not collide. */
static int make_view(const char *ws, const char *dir, char *view, size_t n, pl_err *err)
{
	static const char *shared[] = { "downloads", ".cache" };
	char host[128] = "", path[4300], target[4300], real[PATH_MAX];
	int rc;

	gethostname(host, sizeof(host) - 1);
	snprintf(view, n, "%s/.ws-%s-%d", dir, host, (int)getpid());
	if ((rc = fs_rmtree(view, err)) < 0 || (rc = fs_mkdirs(view, err)) < 0)
		return rc;
	if (!realpath(ws, real))
		return pl_errorf(err, PL_EIO, "cannot resolve '%s': %s", ws, strerror(errno));
	for (int i = 0; i < 2; i++) {
		snprintf(target, sizeof(target), "%s/%s", real, shared[i]);
		snprintf(path, sizeof(path), "%s/%s", view, shared[i]);
		if ((rc = fs_mkdirs(target, err)) < 0)
			return rc;
		if (symlink(target, path) != 0)
			return pl_errorf(err, PL_EIO, "cannot create '%s': %s", path, strerror(errno));
	}
	return 0;
}

/* Starts the totals afresh for the next part. */
static void job_reset(prep_job *j)
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
static int write_part(prep_job *j, const source *src, int index, int count,
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
			 "bytes_in", (json_int_t)(src->bytes ? src->bytes : files_bytes(j)),
			 "skipped", j->skipped,
			 "samples", j->part_samples);
	rc = sum && part ? write_json(j->part_dir, "part.json", part, err) :
			   pl_errorf(err, PL_ENOMEM, "out of memory");
	if (rc == 0)
		rc = write_json(j->part_dir, "summary.json", sum, err);
	json_decref(sum);
	json_decref(part);
	return rc;
}

/* Moves the finished part into place with one rename; when another process
 * finished the same part first, its result is kept and this one dropped. */
static int commit_part(const char *build, const char *dir, int index, int count, pl_err *err)
{
	char final[4300];
	int rc;

	snprintf(final, sizeof(final), "%s/%d-of-%d", dir, index, count);
	if ((rc = fs_fsync_tree(build, err)) < 0)
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

/* Builds part index of count (samples [n*I/N, n*(I+1)/N)) into dir/I-of-N. */
static int build_part(prep_job *j, const source *src, const char *dir, int index, int count,
		      pl_err *err)
{
	char host[128] = "";
	uint64_t bytes = 0;
	int rc;

	gethostname(host, sizeof(host) - 1);
	snprintf(j->part_dir, sizeof(j->part_dir), "%s/.build-%d-of-%d-%s-%d", dir, index,
		 count, host, (int)getpid());
	job_reset(j);
	j->lo = (int)((long long)j->set->n * index / count);
	j->hi = (int)((long long)j->set->n * (index + 1) / count);
	log_info("shard %d/%d: samples %d to %d of %d", index, count, j->lo, j->hi, j->set->n);
	if ((rc = fs_rmtree(j->part_dir, err)) == 0 && (rc = fs_mkdirs(j->part_dir, err)) == 0)
		rc = process_all(j, n_threads(j->ctx->cfg), err);
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
static int load_source(prep_job *j, const char *view, source *src, pl_err *err)
{
	stage_ctx *ctx = j->ctx;
	char path[4300];
	int fd = -1, rc = 0;

	if (!ctx->fingerprint[0]) {
		parts_dir(path, sizeof(path) - 16, ctx->ws, "");
		snprintf(path + strlen(path), 16, "/.download.lock");
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
		rc = job_load(j, view, src, err);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Builds the parts of count that are not done (want[i] != 0 and no
 * summary yet), reading the source once. */
static int build_parts(stage_ctx *ctx, const unsigned char *want, int count, pl_err *err)
{
	char dir[4200], view[4300] = "";
	sample_set set = { 0 };
	source src = { 0 };
	prep_job j;
	int rc;

	job_init(&j, ctx, &set);
	parts_dir(dir, sizeof(dir), ctx->ws, ctx->fingerprint);
	if ((rc = fs_mkdirs(dir, err)) == 0 && (rc = make_view(ctx->ws, dir, view, sizeof(view), err)) == 0)
		rc = load_source(&j, view, &src, err);
	/* a download makes the input's identity known */
	if (rc == 0 && !ctx->fingerprint[0] && (rc = engine_fingerprint(ctx, err)) == 0 &&
	    !ctx->fingerprint[0])
		rc = pl_errorf(err, PL_EFAIL, "the input data identity is still unknown");
	parts_dir(dir, sizeof(dir), ctx->ws, ctx->fingerprint);
	if (rc == 0)
		rc = fs_mkdirs(dir, err);
	for (int i = 0; i < count && rc == 0; i++) {
		if (!want[i])
			continue;
		if (part_done(dir, i, count))
			log_info("shard %d/%d is already done", i, count);
		else
			rc = build_part(&j, &src, dir, i, count, err);
	}
	job_free(&j);
	samples_free(&set);
	source_close(&src);
	if (view[0])
		fs_rmtree(view, NULL);
	return rc;
}

/* pipeline stage prepare --shard I/N: builds that part unless it is done. */
static int run_shard(stage_ctx *ctx, pl_err *err)
{
	char dir[4200];
	unsigned char *want;
	int index, count, rc;

	if ((rc = prepare_parse_shard(ctx->shard, &index, &count, err)) < 0)
		return rc;
	parts_dir(dir, sizeof(dir), ctx->ws, ctx->fingerprint);
	if (ctx->fingerprint[0] && part_done(dir, index, count)) {
		log_info("shard %d/%d is already done", index, count);
		return 0;
	}
	if (!(want = calloc((size_t)count, 1)))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	want[index] = 1;
	rc = build_parts(ctx, want, count, err);
	free(want);
	parts_dir(dir, sizeof(dir), ctx->ws, ctx->fingerprint);
	if (ctx->fingerprint[0] && fs_is_dir(dir) && rc != -PL_EINTR)   /* stopped is not failed */
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
		    i < 0 || m < 1 || i >= m || m > PREPARE_MAX_PARTS || !part_done(dir, i, m))
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
	char path[4300];
	json_error_t je;
	json_t *part;

	snprintf(path, sizeof(path), "%s/%d-of-%d/%s", dir, index, count, file);
	if (!(part = json_load_file(path, 0, &je)))
		pl_errorf(err, PL_EDATA, "cannot read shard part '%s': %s (remove its directory "
			  "to have it redone)", path, je.text);
	return part;
}

/* Makes set a view of the sample metadata a part holds (strings stay owned
 * by part); fills the split sizes and the source description. */
static int set_from_part(sample_set *set, prep_job *j, source *src, const json_t *part,
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
static int merge_sample(prep_job *j, rec_reader *r, int64_t *pos, const json_t *e,
			const char *where, pl_err *err)
{
	int split = (int)json_integer_value(json_array_get(e, 0));
	int shard = (int)json_integer_value(json_array_get(e, 1));
	int label = (int)json_integer_value(json_array_get(e, 2));
	int tiles = (int)json_integer_value(json_array_get(e, 3));
	const char *sums = json_string_value(json_array_get(e, 4));
	double sum[PREP_MAX_CHANNELS] = { 0 }, sumsq[PREP_MAX_CHANNELS] = { 0 };
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
			rc = rec_write(j->writers[split][shard], rs.label, rs.group, rs.name,
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
		account(j, split, shard, label, tiles, sum, sumsq);
	return rc;
}

/* Copies the records of part index (of count) into the final shards. */
static int merge_part(prep_job *j, const char *dir, int index, int count, const json_t *part,
		      pl_err *err)
{
	const json_t *samples = json_object_get(part, "samples"), *e;
	int c = (int)json_integer_value(json_object_get(part, "c")), rc = 0, hc, hh, hw;
	int lo = (int)((long long)j->set->n * index / count);
	int hi = (int)((long long)j->set->n * (index + 1) / count);
	char where[4300];
	rec_reader *r = NULL;
	int64_t pos = 0;
	size_t k;

	snprintf(where, sizeof(where), "%s/%d-of-%d", dir, index, count);
	if (json_integer_value(json_object_get(part, "n")) != j->set->n ||
	    (int)json_array_size(samples) != hi - lo || c < 0 || c > PREP_MAX_CHANNELS)
		return pl_errorf(err, PL_EDATA, "shard part '%s' does not match the others "
				 "(remove it to have it redone)", where);
	if (c > 0 && !j->c)
		rc = open_writers(j, c, err);
	else if (c > 0 && c != j->c)
		rc = pl_errorf(err, PL_EDATA, "shard part '%s' has %d channels, earlier parts %d",
			       where, c, j->c);
	if (rc == 0 && c > 0) {
		char path[4400];
		snprintf(path, sizeof(path), "%s/records.rec.zst", where);
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
	prep_job j;
	int rc;

	job_init(&j, ctx, &set);
	if (!(first = load_part(dir, 0, count, "part.json", err)))
		rc = -err->code;
	else if ((rc = prep_from_cfg(ctx->cfg, &j.po, err)) == 0)
		rc = set_from_part(&set, &j, &src, first, err);
	log_progress_start(&prog, "assembling", count, "parts");
	for (int p = 0; p < count && rc == 0; p++) {
		part = p ? load_part(dir, p, count, "part.json", err) : json_incref(first);
		rc = part ? merge_part(&j, dir, p, count, part, err) : -err->code;
		json_decref(part);
		log_progress_update(&prog, p + 1);
		if (rc == 0 && ctx->stop && *ctx->stop)
			rc = pl_errorf(err, PL_EINTR, "interrupted");
	}
	log_progress_end(&prog);
	if (rc == 0)
		rc = finish_job(&j, &src, t0, err);
	job_free(&j);
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
		char parent[4200];
		snprintf(parent, sizeof(parent), "%s", dir);
		rmdir(dirname(parent));   /* WS/.tmp/prepare-shards, when nothing else is left */
	}
	return rc;
}

int prepare_run(stage_ctx *ctx, pl_err *err)
{
	unsigned char *done = NULL;
	char dir[4200];
	int count = 0, rc = 0;

	if (ctx->shard)
		return run_shard(ctx, err);
	parts_dir(dir, sizeof(dir), ctx->ws, ctx->fingerprint);
	if (ctx->fingerprint[0])
		rc = choose_parts(dir, &count, &done, err);
	if (rc == 0)
		rc = count ? run_assembly(ctx, dir, count, done, err) : run_direct(ctx, err);
	free(done);
	return rc;
}

int prepare_identity(stage_ctx *ctx, char *out, size_t n, pl_err *err)
{
	return source_identity(ctx->cfg, ctx->ws, out, n, err);
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
		    !de->d_name[len] && i >= 0 && i < m && m <= PREPARE_MAX_PARTS)
			count = m;
	}
	if (d)
		closedir(d);
	return count;
}

json_t *prepare_shard_status(const char *ws, const char *fp)
{
	unsigned char *done = NULL;
	json_t *parts, *out;
	char dir[4200], shard[64];
	int count = 0, n_done = 0;

	if (!fp[0])
		return NULL;
	parts_dir(dir, sizeof(dir), ws, fp);
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
