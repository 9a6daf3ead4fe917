/* The prepare stage: source -> samples -> split -> decoded, preprocessed
 * tiles -> record shards per split, with statistics for standardisation
 * computed on the training split only. Decoding runs on all cores in
 * batches; records are written in sample order and the statistics are
 * summed per sample, then over samples in order, so the output depends
 * neither on the thread count nor on how many shard parts did the work. */
#include "parts.h"
#include "prepare_job.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/fs.h"
#include "../io/json.h"
#include "../io/log.h"
#include "../io/sha.h"
#include "../io/strbuf.h"
#include "../io/sys.h"
#include "../io/utf8.h"
#include "stages.h"

static const char *split_names[N_SPLITS] = { "train", "val", "test" };


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
static int assign_splits(prepare_job *j, pl_err *err)
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
static void assign_shards(prepare_job *j)
{
	long long pos[N_SPLITS] = { 0 };

	for (int i = 0; i < j->set->n; i++) {
		int s = j->split[i];
		j->shard[i] = (int)(pos[s]++ * j->n_shards / (j->samples[s] ? j->samples[s] : 1));
	}
}

/* Decodes sample k of the batch from the archive: its data in the window
 * (a stream), or read in place at its offset (a seekable archive). */
static void decode_from_archive(prepare_job *j, int k)
{
	const sample *s = &j->set->s[j->batch_lo + k];
	int n_ch = j->set->n_channels, slot = (j->batch_lo + k) % (j->window ? j->window : 1), rc = 0;
	char names[PREPROC_MAX_CHANNELS][PATH_MAX], path[PATH_MAX];
	const void *bufs[PREPROC_MAX_CHANNELS] = { 0 };
	const char *ptrs[PREPROC_MAX_CHANNELS];
	size_t lens[PREPROC_MAX_CHANNELS] = { 0 };
	void *owned[PREPROC_MAX_CHANNELS] = { 0 };

	for (int ch = 0; ch < n_ch && rc == 0; ch++) {
		source_shown(j->src, s->files[ch], names[ch], sizeof(names[ch]));
		ptrs[ch] = names[ch];
		if (j->arc_fd < 0) {
			bufs[ch] = j->raw[slot * n_ch + ch].data;
			lens[ch] = j->raw[slot * n_ch + ch].len;
			continue;
		}
		int64_t size, at = 0;
		if ((rc = tree_join(path, sizeof(path), &j->errs[k], j->src->root, s->files[ch])) < 0)
			break;
		at = tree_offset(j->src->tree, path, &size);
		if ((uint64_t)size > IMG_MAX_FILE)
			rc = pl_errorf(&j->errs[k], PL_EDATA, "'%s' is %lld bytes, more than an image "
				       "may be (%zu)", names[ch], (long long)size, IMG_MAX_FILE);
		else if (!(owned[ch] = malloc(size > 0 ? (size_t)size : 1)))
			rc = pl_errorf(&j->errs[k], PL_ENOMEM, "out of memory reading '%s'", names[ch]);
		else if (pread(j->arc_fd, owned[ch], (size_t)size, at) != (ssize_t)size)
			rc = pl_errorf(&j->errs[k], PL_EIO, "cannot read '%s' from '%s': %s", names[ch],
				       j->src->archive, strerror(errno ? errno : EIO));
		bufs[ch] = owned[ch];
		lens[ch] = (size_t)size;
	}
	if (rc == 0)
		preproc_mem(&j->po, bufs, lens, ptrs, n_ch, &j->results[k], &j->errs[k]);
	for (int ch = 0; ch < n_ch; ch++)
		free(owned[ch]);
}

/* Worker: decodes and preprocesses samples of the current batch. */
static void *decode_worker(void *arg)
{
	prepare_job *j = arg;
	char paths[PREPROC_MAX_CHANNELS][PATH_MAX], *ptrs[PREPROC_MAX_CHANNELS];

	for (;;) {
		pthread_mutex_lock(&j->mu);
		int k = j->next < j->batch_n ? j->next++ : -1;
		pthread_mutex_unlock(&j->mu);
		if (k < 0)
			return NULL;
		if (j->src && j->src->tree) {
			decode_from_archive(j, k);
			continue;
		}
		const sample *s = &j->set->s[j->batch_lo + k];
		int rc = 0;
		for (int ch = 0; ch < j->set->n_channels && rc == 0; ch++) {
			rc = fs_path(paths[ch], sizeof(paths[ch]), &j->errs[k], "%s/%s", j->root,
				     s->files[ch]);
			ptrs[ch] = paths[ch];
		}
		if (rc == 0)
			preproc_files(&j->po, ptrs, j->set->n_channels, &j->results[k], &j->errs[k]);
	}
}

/* Opens every shard writer (or the part's one writer) once the channel
 * count is known. */
int prepare_job_open_writers(prepare_job *j, int c, pl_err *err)
{
	char name[64], path[PATH_MAX];
	int rc;

	j->c = c;
	if (j->part_dir[0]) {
		if ((rc = fs_path(path, sizeof(path), err, "%s/records.rec.zst", j->part_dir)) < 0)
			return rc;
		j->part = rec_writer_open(path, j->dtype, c, j->po.size, j->po.size, 1, err);
		return j->part ? 0 : -err->code;
	}
	for (int s = 0; s < N_SPLITS; s++)
		for (int k = 0; k < j->n_shards; k++) {
			rec_shard_name_as(name, sizeof(name), split_names[s], k, j->n_shards,
					  j->shard_ext);
			if ((rc = fs_path(path, sizeof(path), err, "%s/%s", j->ctx->out_dir, name)) < 0)
				return rc;
			if (j->shard_ext[1] == 't')
				j->tf_writers[s][k] = tfr_writer_open(path, j->dtype, c, j->po.size,
								      j->po.size, j->set->classes,
								      j->set->n_classes, err);
			else
				j->writers[s][k] = rec_writer_open(path, j->dtype, c, j->po.size,
								   j->po.size, 0, err);
			if (!j->writers[s][k] && !j->tf_writers[s][k])
				return -err->code;
		}
	return 0;
}

int prepare_job_write(prepare_job *j, int split, int shard, int32_t label, int32_t group,
		      const char *name, const void *pixels, pl_err *err)
{
	if (j->tf_writers[split][shard])
		return tfr_write(j->tf_writers[split][shard], label, group, name, pixels, err);
	return rec_write(j->writers[split][shard], label, group, name, pixels, err);
}

/* Adds one sample's tiles and pixel sums (training split only) to the
 * totals, in sample order; a part also notes them for the assembly. */
void prepare_job_account(prepare_job *j, int split, int shard, int label, int n_tiles,
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
static int write_sample(prepare_job *j, int i, const preproc_result *r, pl_err *err)
{
	const sample *s = &j->set->s[i];
	size_t n = (size_t)r->c * j->po.size * j->po.size, plane = (size_t)j->po.size * j->po.size;
	uint8_t *u8 = j->dtype == REC_U8 ? malloc(n) : NULL;
	int split = j->split[i], rc = 0;
	double sum[PREPROC_MAX_CHANNELS] = { 0 }, sumsq[PREPROC_MAX_CHANNELS] = { 0 };
	char name[PATH_MAX];

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
			preproc_quantize_u8(px, u8, n);
		if (split == SPLIT_TRAIN)
			for (int ch = 0; ch < r->c; ch++)
				for (size_t k = 0; k < plane; k++) {
					double v = px[ch * plane + k];
					sum[ch] += v;
					sumsq[ch] += v * v;
				}
		rc = fs_path(name, sizeof(name), err, r->n_tiles > 1 ? "%s#%d" : "%s", s->files[0], t);
		if (rc == 0)
			rc = j->part ? rec_write(j->part, s->label, s->group, name,
						 u8 ? (const void *)u8 : (const void *)px, err)
				     : prepare_job_write(j, split, j->shard[i], s->label, s->group,
							 name, u8 ? (const void *)u8 : (const void *)px,
							 err);
	}
	if (rc == 0)
		prepare_job_account(j, split, j->shard[i], s->label, r->n_tiles, sum, sumsq);
	free(u8);
	return rc;
}

/* Handles the outcome of sample i: writes it, or skips or fails on error. */
static int finish_sample(prepare_job *j, int i, preproc_result *r, pl_err *e, pl_err *err)
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
		int rc = prepare_job_open_writers(j, r->c, err);
		if (rc < 0)
			return rc;
	}
	return write_sample(j, i, r, err);
}

/* Decoding threads: [prepare] threads, 0 for every core (of the cgroup's quota). */
static int threads_of(const cfg *c)
{
	long threads = cfg_int(c, "prepare", "threads");

	if (threads <= 0)
		threads = sys_cpu_count();
	return threads < 1 ? 1 : threads > 64 ? 64 : (int)threads;
}

int prepare_job_batch_size(const prepare_job *j)
{
	return threads_of(j->ctx->cfg) * 4;
}

int prepare_job_batch(prepare_job *j, int lo, int n, pl_err *err)
{
	int n_threads = threads_of(j->ctx->cfg), started = 0, rc = 0;
	pthread_t tids[64];

	j->batch_lo = lo;
	j->batch_n = n;
	j->next = 0;
	memset(j->errs, 0, (size_t)n * sizeof(pl_err));
	for (; started < n_threads - 1 && started < n - 1; started++)
		if (pthread_create(&tids[started], NULL, decode_worker, j))
			break;
	decode_worker(j);
	for (int t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	for (int k = 0; k < n; k++) {
		if (rc == 0)
			rc = finish_sample(j, lo + k, &j->results[k], &j->errs[k], err);
		preproc_result_release(&j->results[k]);
	}
	log_progress_update(&j->prog, lo - j->lo + n);
	if (rc == 0 && j->ctx->stop && *j->ctx->stop)
		rc = pl_errorf(err, PL_EINTR, "interrupted");
	return rc;
}

/* Decodes all samples in batches over the configured threads: from disk,
 * in place from a seekable archive, or from the archive's stream. */
int prepare_job_process(prepare_job *j, pl_err *err)
{
	int batch = prepare_job_batch_size(j), rc = 0;

	free(j->results);
	free(j->errs);
	j->results = calloc((size_t)batch, sizeof(preproc_result));
	j->errs = calloc((size_t)batch, sizeof(pl_err));
	if (!j->results || !j->errs)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	log_progress_start(&j->prog, "decoding", j->hi - j->lo, "images");
	if (j->src && j->src->tree)
		log_info("reading %s %s", j->src->archive, tree_seekable(j->src->tree) ?
			 "in place (members at their offsets)" : "as a stream");
	if (j->src && j->src->tree && !tree_seekable(j->src->tree))
		rc = prepare_job_stream(j, err);
	else if (j->src && j->src->tree && (j->arc_fd = open(j->src->archive, O_RDONLY | O_CLOEXEC)) < 0)
		rc = pl_errorf(err, PL_EIO, "cannot open '%s': %s", j->src->archive, strerror(errno));
	for (int lo = j->lo; lo < j->hi && rc == 0 && (!j->src || !j->src->tree || j->arc_fd >= 0);
	     lo += batch)
		rc = prepare_job_batch(j, lo, j->hi - lo < batch ? j->hi - lo : batch, err);
	if (j->arc_fd >= 0)
		close(j->arc_fd);
	j->arc_fd = -1;
	log_progress_end(&j->prog);
	return rc;
}

/* Bytes of the image files read (for a directory source, which has no
 * archive size). */
long long prepare_job_files_bytes(const prepare_job *j)
{
	char path[PATH_MAX];
	long long n = 0;
	struct stat st;

	for (int i = 0; j->set->s && i < j->set->n; i++)   /* no list when assembling parts */
		for (int ch = 0; ch < j->set->n_channels; ch++) {
			if (fs_path(path, sizeof(path), NULL, "%s/%s", j->root,
				    j->set->s[i].files[ch]) == 0 && stat(path, &st) == 0)
				n += st.st_size;
		}
	return n;
}

/* Samples written to split s: those assigned to it but not skipped. */
static long long kept_in(const prepare_job *j, int s)
{
	long long n = j->samples[s];
	size_t k;
	json_t *e;

	json_array_foreach(j->skipped, k, e)
		n -= !strcmp(json_string_value(json_object_get(e, "split")) ?: "", split_names[s]);
	return n;
}

/* Closes the writers; lists each split's shards into dataset. */
static int close_writers(prepare_job *j, json_t *splits, long long *bytes_out, pl_err *err)
{
	char name[64];
	int rc = 0;

	for (int s = 0; s < N_SPLITS; s++) {
		json_t *shards = json_array();
		for (int k = 0; k < j->n_shards; k++) {
			uint64_t bytes = 0;
			if (rc == 0 && j->writers[s][k])
				rc = rec_writer_close(j->writers[s][k], &bytes, err);
			else if (rc == 0 && j->tf_writers[s][k])
				rc = tfr_writer_close(j->tf_writers[s][k], &bytes, err);
			else {
				rec_writer_abort(j->writers[s][k]);
				tfr_writer_abort(j->tf_writers[s][k]);
			}
			j->writers[s][k] = NULL;
			j->tf_writers[s][k] = NULL;
			*bytes_out += (long long)bytes;
			rec_shard_name_as(name, sizeof(name), split_names[s], k, j->n_shards,
					  j->shard_ext);
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
	strbuf text = { 0 };
	char path[PATH_MAX];
	int rc;

	if ((rc = fs_path(path, sizeof(path), err, "%s/%s", dir, file)) < 0)
		return rc;
	for (int i = 0; i < n; i++)
		strbuf_appendf(&text, "%s\n", v[i]);
	return strbuf_write_file(&text, path, err);
}

/* dataset.json: what train, validate and predict need to read the records. */
static json_t *dataset_json(prepare_job *j, json_t *splits)
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
			 "std", std, "preprocess", preproc_to_json(&j->po), "splits", splits);
}

/* stats.json and the stage's headline metrics; dataset gives the
 * standardisation (mean and std per channel, from the train split). */
static int write_stats(prepare_job *j, const source *src, const json_t *dataset, long long bytes_out,
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
	rc = json_write_in(j->ctx->out_dir, "stats.json", stats, err);
	json_decref(stats);
	json_object_set_new(j->ctx->metrics, "samples", json_integer(kept));
	json_object_set_new(j->ctx->metrics, "tiles", json_integer(tiles));
	json_object_set_new(j->ctx->metrics, "skipped", json_integer((json_int_t)json_array_size(j->skipped)));
	json_object_set_new(j->ctx->metrics, "mib", json_real(round(bytes_out / 1048576.0 * 100) / 100));
	return rc;
}

void prepare_job_init(prepare_job *j, stage_ctx *ctx, sample_set *set)
{
	memset(j, 0, sizeof(*j));
	pthread_mutex_init(&j->mu, NULL);
	j->ctx = ctx;
	j->set = set;
	j->n_shards = (int)cfg_int(ctx->cfg, "prepare", "shards");
	j->n_shards = j->n_shards > 64 ? 64 : j->n_shards;
	j->dtype = cfg_word_in(cfg_str(ctx->cfg, "prepare", "dtype"), "f32") ? REC_F32 : REC_U8;
	j->shard_ext = !cfg_word_in(cfg_str(ctx->cfg, "prepare", "format"), "tfrecord") ? ".rec.zst"
		       : cfg_bool(ctx->cfg, "prepare", "tfrecord_gzip") ? TFR_EXT_GZ : TFR_EXT;
	j->skipped = json_array();
	j->t_mark = log_now();
	j->arc_fd = -1;
}

void prepare_job_free(prepare_job *j)
{
	for (int s = 0; s < N_SPLITS; s++)
		for (int k = 0; k < j->n_shards; k++) {
			rec_writer_abort(j->writers[s][k]);
			tfr_writer_abort(j->tf_writers[s][k]);
		}
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


/* Opens the source (through the workspace directory ws), lists the samples
 * and assigns each its split and shard. */
int prepare_job_load(prepare_job *j, const char *ws, source *src, pl_err *err)
{
	stage_ctx *ctx = j->ctx;
	sample_set *set = (sample_set *)j->set;
	int rc;

	if ((rc = preproc_from_cfg(ctx->cfg, &j->po, err)) < 0 ||
	    (rc = source_open(ctx->cfg, ws, ctx->stop, src, err)) < 0)
		return rc;
	j->src = src;
	if ((rc = fs_path(j->root, sizeof(j->root), err, "%s", src->root)) < 0)
		return rc;
	if ((rc = samples_load(ctx->cfg, src, set, err)) < 0)
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
int prepare_job_finish(prepare_job *j, const source *src, double t0, pl_err *err)
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
		rc = json_write_in(j->ctx->out_dir, "dataset.json", dataset, err);
	j->bytes_in = src->bytes ? src->bytes : prepare_job_files_bytes(j);
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
	prepare_job j;
	int rc;

	prepare_job_init(&j, ctx, &set);
	rc = prepare_job_load(&j, ctx->ws, &src, err);
	j.lo = 0;
	j.hi = set.n;
	if (rc == 0)
		rc = prepare_job_process(&j, err);
	if (rc == 0)
		rc = prepare_job_finish(&j, &src, t0, err);
	prepare_job_free(&j);
	samples_free(&set);
	source_close(&src);
	return rc;
}

int prepare_run(stage_ctx *ctx, pl_err *err)
{
	int assembled = 0, rc;

	if (ctx->part)
		return parts_build(ctx, err);
	rc = parts_assemble(ctx, &assembled, err);
	return rc == 0 && !assembled ? run_direct(ctx, err) : rc;
}

int prepare_identity(stage_ctx *ctx, char *out, size_t n, pl_err *err)
{
	const char *names = cfg_str(ctx->cfg, "dataset", "class_names");
	char hex[SHA256_HEX];
	int rc = source_identity(ctx->cfg, ctx->ws, out, n, err);

	/* a class-names file outside the source is data the source does not hash */
	if (rc < 0 || !*out || names[0] != '/')
		return rc;
	if ((rc = sha256_file(names, hex, err)) < 0)
		return pl_errprefix(err, "[dataset] class_names: ");
	snprintf(out + strlen(out), n - strlen(out), " class_names:%s", hex);
	return 0;
}
