/* The prepare stage: source -> samples -> split -> decoded, preprocessed
 * tiles -> record shards per split, with statistics for standardisation
 * computed on the training split only. Decoding runs on all cores in
 * batches; records are written in sample order and the statistics are
 * summed per sample, then over samples in order, so the output depends
 * neither on the thread count nor on how many shard parts did the work. */
#include "prepare.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../io/fs.h"
#include "../io/log.h"
#include "../io/rec.h"
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
	double sum[16], sumsq[16], n_px;   /* training statistics */
	long long tiles[N_SPLITS], samples[N_SPLITS], bytes_in;
	long long *class_tiles;  /* n_classes x N_SPLITS */
	json_t *skipped;
	int lo, hi;              /* the samples processed: [lo, hi) */
	char part_dir[4200];     /* building a shard part here ("" otherwise): */
	rec_writer *part;        /* its records, all splits in sample order */
	json_t *part_samples;    /* per sample: [split, shard, label, tiles, sums] */
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

typedef struct keyed { uint64_t key; int group; } keyed;

static int cmp_keyed(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key ? 1 : x->group - y->group;
}

/* Assigns each group to a split, per class (stratified), by the order of
 * the groups' hashes, so adding data moves few groups. */
static int assign_splits(prep_job *j, pl_err *err)
{
	const sample_set *set = j->set;
	double f_test = cfg_float(j->ctx->cfg, "prepare", "test_fraction");
	double f_val = cfg_float(j->ctx->cfg, "prepare", "val_fraction");
	uint64_t seed = (uint64_t)cfg_int(j->ctx->cfg, "prepare", "seed");
	int *group_label = malloc((size_t)set->n_groups * sizeof(int));
	int *group_split = malloc((size_t)set->n_groups * sizeof(int));
	keyed *order = malloc((size_t)set->n_groups * sizeof(keyed));
	int rc = 0;

	if (!group_label || !group_split || !order) {
		rc = pl_errorf(err, PL_ENOMEM, "out of memory");
		goto out;
	}
	for (int g = 0; g < set->n_groups; g++)
		group_label[g] = -1;
	for (int i = 0; i < set->n; i++)
		if (group_label[set->s[i].group] < 0)
			group_label[set->s[i].group] = set->s[i].label;
	for (int cl = 0; cl < set->n_classes; cl++) {
		int n = 0;
		for (int g = 0; g < set->n_groups; g++)
			if (group_label[g] == cl)
				order[n++] = (keyed){ group_hash(set->groups[g], seed), g };
		qsort(order, (size_t)n, sizeof(keyed), cmp_keyed);
		int n_test = (int)lround(n * f_test), n_val = (int)lround(n * f_val);
		for (int k = 0; k < n; k++)
			group_split[order[k].group] = k < n_test ? SPLIT_TEST :
						      k < n_test + n_val ? SPLIT_VAL : SPLIT_TRAIN;
	}
	for (int i = 0; i < set->n; i++) {
		j->split[i] = group_split[set->s[i].group];
		j->samples[j->split[i]]++;
	}
	for (int s = 0; s < N_SPLITS && rc == 0; s++)
		if (j->samples[s] == 0 && (s == SPLIT_TRAIN || (s == SPLIT_TEST ? f_test : f_val) > 0))
			rc = pl_errorf(err, PL_EDATA, "the %s split is empty: %d samples in %d groups "
				       "are too few for the configured fractions", split_names[s],
				       set->n, set->n_groups);
out:
	free(group_label);
	free(group_split);
	free(order);
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
	char paths[16][4200], *ptrs[16];

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
	double sum[16] = { 0 }, sumsq[16] = { 0 };
	char name[4200];

	if (j->dtype == REC_U8 && !u8)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	if (r->c != j->c) {
		free(u8);
		return pl_errorf(err, PL_EDATA, "'%s' gives %d channels, earlier samples %d",
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
		json_array_append_new(j->skipped, json_pack("{s:s,s:s}", "file",
							    j->set->s[i].files[0], "reason", e->msg));
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
			"samples", (json_int_t)j->samples[s], "tiles", (json_int_t)j->tiles[s]));
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

/* stats.json and the stage's headline metrics. */
static int write_stats(prep_job *j, const source *src, long long bytes_out, double secs,
		       pl_err *err)
{
	json_t *per_class = json_object(), *stats;
	long long tiles = j->tiles[0] + j->tiles[1] + j->tiles[2];
	int rc;

	for (int cl = 0; cl < j->set->n_classes; cl++)
		json_object_set_new(per_class, j->set->classes[cl], json_pack("{s:I,s:I,s:I}",
			"train", (json_int_t)j->class_tiles[cl * N_SPLITS + SPLIT_TRAIN],
			"val", (json_int_t)j->class_tiles[cl * N_SPLITS + SPLIT_VAL],
			"test", (json_int_t)j->class_tiles[cl * N_SPLITS + SPLIT_TEST]));
	stats = json_pack("{s:s,s:i,s:i,s:I,s:{s:I,s:I,s:I},s:o,s:O,s:I,s:I,s:f,s:f}",
			  "source", src->identity, "samples", j->set->n, "groups", j->set->n_groups,
			  "tiles", (json_int_t)tiles, "tiles_per_split",
			  "train", (json_int_t)j->tiles[0], "val", (json_int_t)j->tiles[1],
			  "test", (json_int_t)j->tiles[2], "tiles_per_class", per_class,
			  "skipped", j->skipped, "bytes_in", (json_int_t)j->bytes_in,
			  "bytes_out", (json_int_t)bytes_out, "elapsed_s", secs,
			  "images_per_s", secs > 0 ? j->set->n / secs : 0);
	rc = write_json(j->ctx->out_dir, "stats.json", stats, err);
	json_decref(stats);
	json_object_set_new(j->ctx->metrics, "samples", json_integer(j->set->n));
	json_object_set_new(j->ctx->metrics, "tiles", json_integer(tiles));
	json_object_set_new(j->ctx->metrics, "skipped", json_integer((json_int_t)json_array_size(j->skipped)));
	json_object_set_new(j->ctx->metrics, "mib", json_real(round(bytes_out / 1048576.0 * 100) / 100));
	return rc;
}

