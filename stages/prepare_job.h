/* Inside the prepare stage, between prepare.c (one process's job: split,
 * decode, write record shards and statistics) and parts.c (sharded
 * prepare: shard parts, their assembly, their status). Not for use
 * elsewhere. */
#ifndef PL_PREPARE_JOB_H
#define PL_PREPARE_JOB_H

#include <limits.h>
#include <pthread.h>

#include <jansson.h>

#include "../io/log.h"
#include "../io/rec.h"
#include "../io/tfrecord.h"
#include "engine.h"
#include "preproc.h"
#include "samples.h"
#include "source.h"

enum { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST, N_SPLITS };

typedef struct prepare_job {
	stage_ctx *ctx;
	const sample_set *set;
	preproc_opts po;
	char root[PATH_MAX];
	const source *src;       /* where root came from, for messages */
	int *split;              /* split of each sample */
	int *shard;              /* shard of each sample within its split */
	int n_shards;
	rec_dtype dtype;
	rec_writer *writers[N_SPLITS][64];
	const char *shard_ext;   /* [prepare] format: ".rec.zst", ".tfrecord" or ".tfrecord.gz" */
	tfr_writer *tf_writers[N_SPLITS][64];   /* the shards when the format is TFRecord */
	int c;                   /* output channels, from the first sample */
	double sum[PREPROC_MAX_CHANNELS], sumsq[PREPROC_MAX_CHANNELS], n_px;   /* training statistics */
	long long tiles[N_SPLITS], samples[N_SPLITS], bytes_in;
	long long *class_tiles;  /* n_classes x N_SPLITS */
	json_t *skipped;
	int lo, hi;              /* the samples processed: [lo, hi) */
	char part_dir[PATH_MAX]; /* building a shard part here ("" otherwise): */
	rec_writer *part;        /* its records, all splits in sample order */
	json_t *part_samples;    /* per sample: [split, shard, label, tiles, sums] */
	double t_mark;           /* when the part being built was started */
	/* an archive source: read in place when seekable, else streamed with
	 * the data of samples [written, written + window) held in raw */
	int arc_fd;
	struct prepare_raw { void *data; size_t len; } *raw;   /* window x channels */
	int window;
	log_progress prog;
	/* the batch being decoded */
	int batch_lo, batch_n, next;
	preproc_result *results;
	pl_err *errs;
	pthread_mutex_t mu;
} prepare_job;

/* A job over samples [lo, hi) of set, for the stage ctx; free with
 * prepare_job_free. */
void prepare_job_init(prepare_job *j, stage_ctx *ctx, sample_set *set);
void prepare_job_free(prepare_job *j);

/* Opens the source (through the workspace directory ws), lists the samples
 * and assigns each its split and shard. */
int prepare_job_load(prepare_job *j, const char *ws, source *src, pl_err *err);

/* Opens the record writers of every split for c channels. */
int prepare_job_open_writers(prepare_job *j, int c, pl_err *err);

/* Decodes and writes samples [lo, hi) on the configured threads, in order. */
int prepare_job_process(prepare_job *j, pl_err *err);

/* Decodes samples [lo, lo + n) (n at most prepare_job_batch_size) on the
 * threads and writes them in order. */
int prepare_job_batch(prepare_job *j, int lo, int n, pl_err *err);
int prepare_job_batch_size(const prepare_job *j);

/* prepare_stream.c: decodes samples [lo, hi) from the archive's stream,
 * in passes over it as its order requires. */
int prepare_job_stream(prepare_job *j, pl_err *err);

/* Appends one record to shard `shard` of split `split`, in the format of
 * [prepare] format. */
int prepare_job_write(prepare_job *j, int split, int shard, int32_t label, int32_t group,
		      const char *name, const void *pixels, pl_err *err);

/* Adds one sample's tiles and pixel sums (training split only) to the
 * totals. */
void prepare_job_account(prepare_job *j, int split, int shard, int label, int n_tiles,
		      const double *sum, const double *sumsq);

/* Bytes of the image files read (for a directory source, which has no
 * archive size). */
long long prepare_job_files_bytes(const prepare_job *j);

/* Closes the writers; writes labels.txt, groups.txt, dataset.json and
 * stats.json into the stage's directory. */
int prepare_job_finish(prepare_job *j, const source *src, double t0, pl_err *err);

/* parts.c: `--shard I/N`, building that part unless it is done. */
int parts_build(stage_ctx *ctx, pl_err *err);

/* parts.c: when shard parts exist for ctx's fingerprint, builds the
 * missing ones and assembles them all into the stage's outputs
 * (*assembled = 1); else does nothing (*assembled = 0). */
int parts_assemble(stage_ctx *ctx, int *assembled, pl_err *err);

#endif
