/* The train stage: mini-batch training of the configured network on the
 * train split, evaluated on the val split every epoch, with a resumable
 * checkpoint written atomically after each epoch, so a killed run resumes
 * and ends with the same weights as an uninterrupted one. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/fs.h"
#include "../io/log.h"
#include "../io/plot.h"
#include "../io/strbuf.h"
#include "../io/sys.h"
#include "../nn/nn.h"
#include "dataset.h"
#include "dist.h"
#include "preproc.h"
#include "stages.h"

#define MAX_EPOCHS_KEPT 100000

/* The caller's part of a checkpoint: where training stands. */
typedef struct train_state {
	int32_t next_epoch;      /* epochs done */
	int32_t best_epoch;      /* epoch of the best val loss, -1 none */
	int32_t stale_epochs;    /* epochs since the best */
	int32_t stopped;         /* early stopping ended the run */
	int32_t threads;         /* worker threads of the run that wrote it (over all ranks) */
	int32_t pad;
	double best_val_loss;
	/* followed by next_epoch x 4 doubles: train loss, train acc, val loss, val acc */
} train_state;

typedef struct trainer {
	stage_ctx *ctx;
	dataset ds;
	rec_loader *train, *val;
	nn_net *net;
	nn_opt opt;
	int batch, epochs, patience, flips, rot90;
	int accumulate;          /* micro-batches of batch samples per optimiser step */
	long long trained;       /* samples trained by this run (for the reduction's cost) */
	uint64_t seed;
	float *x, *class_weights;
	int64_t *order;          /* the epoch's order of the train split */
	int32_t *labels;
	int *labels_int;
	double *hist;            /* epochs x 4 */
	train_state st;
	char ckpt[PATH_MAX], best[PATH_MAX];
} trainer;

static int nn_fail(pl_err *err, const nn_err *e)
{
	return pl_errorf(err, e->code ? e->code : PL_EFAIL, "%s", e->msg);
}

static int setup_optimizer(trainer *t, pl_err *err)
{
	const cfg *c = t->ctx->cfg;
	const char *kind = cfg_str(c, "train", "optimizer"), *sched = cfg_str(c, "train", "schedule");
	nn_err e = { 0 };

	nn_opt_default(&t->opt);
	t->opt.kind = !strcmp(kind, "adam") ? NN_ADAM : !strcmp(kind, "adamw") ? NN_ADAMW : NN_SGD;
	t->opt.lr = (float)cfg_float(c, "train", "lr");
	t->opt.momentum = (float)cfg_float(c, "train", "momentum");
	t->opt.nesterov = cfg_bool(c, "train", "nesterov");
	t->opt.weight_decay = (float)cfg_float(c, "train", "weight_decay");
	t->opt.schedule = !strcmp(sched, "step") ? NN_LR_STEP : !strcmp(sched, "cosine") ?
			  NN_LR_COSINE : NN_LR_CONST;
	t->opt.step_epochs = (int)cfg_int(c, "train", "step_epochs");
	t->opt.step_gamma = (float)cfg_float(c, "train", "step_gamma");
	t->opt.warmup_epochs = (int)cfg_int(c, "train", "warmup_epochs");
	t->opt.epochs = t->epochs;
	return nn_set_optimizer(t->net, &t->opt, &e) < 0 ? nn_fail(err, &e) : 0;
}

/* Loss weights n / (k * count_c) from the training tiles per class. */
static int balanced_weights(trainer *t, pl_err *err)
{
	json_t *per_class;
	char path[PATH_MAX];
	json_t *stats;
	double total = 0;
	int rc;

	if ((rc = fs_path(path, sizeof(path), err, "%s/stats.json", t->ctx->up_dir)) < 0)
		return rc;
	if (!(stats = json_load_file(path, 0, NULL)))
		return pl_errorf(err, PL_EDATA, "cannot read '%s'", path);
	per_class = json_object_get(stats, "tiles_per_class");
	t->class_weights = calloc((size_t)t->ds.n_classes, sizeof(float));
	for (int k = 0; k < t->ds.n_classes && t->class_weights; k++) {
		double n = (double)json_integer_value(json_object_get(
			json_object_get(per_class, t->ds.classes[k]), "train"));
		t->class_weights[k] = (float)n;
		total += n;
	}
	for (int k = 0; k < t->ds.n_classes && t->class_weights; k++)
		t->class_weights[k] = t->class_weights[k] > 0 ?
				      (float)(total / (t->ds.n_classes * t->class_weights[k])) : 0;
	json_decref(stats);
	return t->class_weights ? 0 : pl_errorf(err, PL_ENOMEM, "out of memory");
}

static int setup(trainer *t, pl_err *err)
{
	const cfg *c = t->ctx->cfg;
	char augment[128];
	nn_err e = { 0 };
	int threads, rc;

	t->batch = (int)cfg_int(c, "train", "batch");
	t->accumulate = (int)cfg_int(c, "train", "accumulate");
	t->epochs = (int)cfg_int(c, "train", "epochs");
	t->patience = (int)cfg_int(c, "train", "patience");
	t->seed = (uint64_t)cfg_int(c, "train", "seed");
	snprintf(augment, sizeof(augment), "%s", cfg_str(c, "train", "augment"));
	t->flips = strstr(augment, "flip") != NULL;
	t->rot90 = strstr(augment, "rot90") != NULL;
	if ((rc = dataset_load(t->ctx->up_dir, &t->ds, err)) < 0)
		return rc;
	if (!(t->train = dataset_open_split(&t->ds, t->ctx->up_dir, "train", err)) ||
	    !(t->val = dataset_open_split(&t->ds, t->ctx->up_dir, "val", err)))
		return -err->code;
	if (rec_loader_count(t->train) == 0)
		return pl_errorf(err, PL_EDATA, "the train split has no samples");
	if ((threads = (int)cfg_int(c, "train", "threads")) == 0)
		threads = sys_cpu_count();
	t->net = nn_net_new(cfg_str(c, "model", "layers"), (nn_shape){ t->ds.c, t->ds.h, t->ds.w },
			    t->ds.n_classes, t->seed, threads / dist_size(), t->batch, &e);
	if (!t->net)
		return pl_errorf(err, PL_EUSAGE, "[model] layers: %s", e.msg);
	size_t step = (size_t)t->batch * (size_t)t->accumulate;
	t->x = malloc(step * t->ds.c * t->ds.h * t->ds.w * sizeof(float));
	t->labels = malloc(step * sizeof(int32_t));
	t->labels_int = malloc(step * sizeof(int));
	t->hist = calloc((size_t)t->epochs * 4, sizeof(double));
	t->order = malloc((size_t)rec_loader_count(t->train) * sizeof(int64_t));
	if (!t->x || !t->labels || !t->labels_int || !t->hist || !t->order)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	if (cfg_word_in(cfg_str(c, "train", "class_weights"), "balanced") &&
	    (rc = balanced_weights(t, err)) < 0)
		return rc;
	if ((rc = fs_path(t->ckpt, sizeof(t->ckpt), err, "%s/checkpoints/last.ckpt",
			  t->ctx->out_dir)) < 0 ||
	    (rc = fs_path(t->best, sizeof(t->best), err, "%s/checkpoints/best.ckpt",
			  t->ctx->out_dir)) < 0)
		return rc;
	t->st.best_epoch = -1;
	t->st.threads = nn_threads(t->net) * dist_size();
	t->st.best_val_loss = INFINITY;
	return setup_optimizer(t, err);
}

/* Saves the checkpoint (state + history) atomically at path. */
static int save_checkpoint(trainer *t, const char *path, pl_err *err)
{
	size_t hist_bytes = (size_t)t->st.next_epoch * 4 * sizeof(double);
	size_t len = sizeof(train_state) + hist_bytes;
	char *blob = malloc(len), tmp[PATH_MAX];
	nn_err e = { 0 };
	int rc;

	if (!blob)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	memcpy(blob, &t->st, sizeof(train_state));
	memcpy(blob + sizeof(train_state), t->hist, hist_bytes);
	if ((rc = fs_path(tmp, sizeof(tmp), err, "%s.part", path)) == 0)
		rc = nn_checkpoint_save(t->net, blob, len, tmp, &e) < 0 ? nn_fail(err, &e) :
		     fs_rename(tmp, path, err);
	free(blob);
	return rc;
}

/* Tells status where an interrupted run would resume. */
static int note_progress(trainer *t, pl_err *err)
{
	char note[96];

	snprintf(note, sizeof(note), "a checkpoint resumes it after epoch %d of %d",
		 t->st.next_epoch, t->epochs);
	return engine_note(t->ctx, note, err);
}

/* Restores the last checkpoint when there is one (a resumed run). */
static int resume(trainer *t, pl_err *err)
{
	void *blob = NULL;
	size_t len = 0;
	nn_err e = { 0 };
	char dir[PATH_MAX];
	int rc;

	if ((rc = fs_path(dir, sizeof(dir), err, "%s/checkpoints", t->ctx->out_dir)) < 0 ||
	    (rc = fs_mkdirs(dir, err)) < 0 || !fs_exists(t->ckpt))
		return rc;
	if (nn_checkpoint_load(t->net, t->ckpt, &blob, &len, &e) < 0) {
		log_warn("ignoring checkpoint: %s", e.msg);
		return pl_errorf(err, PL_EDATA, "cannot resume from '%s': %s (remove it to start "
				 "over)", t->ckpt, e.msg);
	}
	memcpy(&t->st, blob, len >= sizeof(train_state) ? sizeof(train_state) : 0);
	if (len < sizeof(train_state) || t->st.next_epoch < 0 || t->st.next_epoch > t->epochs ||
	    len != sizeof(train_state) + (size_t)t->st.next_epoch * 4 * sizeof(double)) {
		free(blob);
		return pl_errorf(err, PL_EDATA, "checkpoint '%s' does not match this training run",
				 t->ckpt);
	}
	memcpy(t->hist, (char *)blob + sizeof(train_state), len - sizeof(train_state));
	free(blob);
	log_info("resuming after epoch %d of %d from the last checkpoint", t->st.next_epoch,
		 t->epochs);
	if (t->st.threads != nn_threads(t->net) * dist_size())
		log_warn("the checkpoint was written by a run with %d threads and this one has %d: "
			 "the weights will not be bit-identical to an uninterrupted run's (set "
			 "train.threads keeps runs on different machines equal)", t->st.threads,
			 nn_threads(t->net) * dist_size());
	t->st.threads = nn_threads(t->net) * dist_size();
	return 0;
}

/* Over ranks: rank 0 alone resumes (and writes); the others get where
 * training stands, the history and the weights from it. */
static int resume_ranks(trainer *t, pl_err *err)
{
	int rc = dist_rank() == 0 ? resume(t, err) : 0;

	if (rc < 0 || dist_size() == 1)   /* on a failure the launcher ends the others */
		return rc;
	if ((rc = dist_bcast(&t->st, sizeof(t->st), err)) < 0 ||
	    (rc = dist_bcast(t->hist, (size_t)t->epochs * 4 * sizeof(double), err)) < 0)
		return rc;
	return dist_attach(t->net, err);
}

/* Mean loss and accuracy of the net on a split, in inference mode. */
static int evaluate(trainer *t, rec_loader *l, double *loss, double *acc, pl_err *err)
{
	double loss_sum = 0;
	long long seen = 0, correct = 0;
	nn_err e = { 0 };
	int n, rc;

	rec_loader_epoch(l, NULL);
	while ((rc = rec_loader_next(l, t->batch, t->x, t->labels, NULL, &n, err)) == 0 && n > 0) {
		float batch_loss;
		int hits;
		for (int i = 0; i < n; i++)
			t->labels_int[i] = t->labels[i];
		if (nn_eval_batch(t->net, t->x, t->labels_int, n, t->class_weights, &batch_loss,
				  &hits, NULL, &e) < 0)
			return pl_errorf(err, PL_EFAIL, "%s", e.msg);
		loss_sum += (double)batch_loss * n;
		correct += hits;
		seen += n;
	}
	*loss = seen ? loss_sum / seen : NAN;
	*acc = seen ? (double)correct / seen : NAN;
	return rc;
}

/* One pass over the training split: an optimiser step per accumulate x
 * batch samples (the last step takes what is left), in micro-batches of
 * batch samples. */
static int train_epoch(trainer *t, int epoch, log_progress *prog, pl_err *err)
{
	int64_t count = rec_loader_count(t->train), per_step = (int64_t)t->batch * t->accumulate;
	int steps = (int)((count + per_step - 1) / per_step), step = 0, n, rc;
	uint64_t aug = t->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)epoch + 1;
	nn_shape shape = { t->ds.c, t->ds.h, t->ds.w };
	double loss_sum = 0;
	long long correct = 0, seen = 0;
	nn_err e = { 0 };

	nn_epoch_order(t->order, count, t->seed, epoch);
	rec_loader_epoch(t->train, t->order);
	while ((rc = rec_loader_next(t->train, (int)per_step, t->x, t->labels, NULL, &n, err)) == 0 &&
	       n > 0) {
		float loss;
		int hits;
		for (int i = 0; i < n; i++)
			t->labels_int[i] = t->labels[i];
		if (t->flips || t->rot90)
			nn_augment(t->x, n, shape, &aug, t->flips, t->rot90);
		if (nn_train_accum(t->net, t->x, t->labels_int, n, t->batch,
				   nn_lr_at(&t->opt, epoch, step++, steps), t->class_weights,
				   &loss, &hits, &e) < 0)
			return pl_errorf(err, PL_EFAIL, "%s", e.msg);
		t->trained += n;
		loss_sum += (double)loss * n;
		correct += hits;
		seen += n;
		log_progress_note(prog, "epoch %d/%d, loss %.4f", epoch + 1, t->epochs, loss_sum / seen);
		log_progress_update(prog, (int64_t)epoch * count + seen);
		if (t->ctx->stop && *t->ctx->stop)
			return pl_errorf(err, PL_EINTR, "interrupted in epoch %d; the next run resumes "
					 "from the last checkpoint", epoch + 1);
	}
	t->hist[epoch * 4] = seen ? loss_sum / seen : NAN;
	t->hist[epoch * 4 + 1] = seen ? (double)correct / seen : NAN;
	return rc;
}

/* Bookkeeping after an epoch: early stopping and the best weights. */
static int after_epoch(trainer *t, int epoch, pl_err *err)
{
	double val_loss = t->hist[epoch * 4 + 2];
	int rc = 0;

	if (val_loss < t->st.best_val_loss) {
		t->st.best_val_loss = val_loss;
		t->st.best_epoch = epoch;
		t->st.stale_epochs = 0;
		if (t->patience > 0 && dist_rank() == 0)
			rc = save_checkpoint(t, t->best, err);
	} else {
		t->st.stale_epochs++;
	}
	if (t->patience > 0 && t->st.stale_epochs >= t->patience) {
		log_info("stopping early: no better validation loss for %d epochs", t->patience);
		t->st.stopped = 1;
	}
	return rc;
}

/* Over ranks: what the reductions cost (scripts/bench-mpi.sh reads this line). */
static void log_traffic(const trainer *t)
{
	dist_stats d = dist_traffic();

	if (d.steps > 0)
		log_info("%d ranks: %zu weight bytes, %zu bytes %s per step; gradient %s %.3f ms "
			 "per step over %ld steps, %.2f us per sample; batch-norm and loss gathers "
			 "%.3f ms per step", dist_size(), d.param_bytes, d.step_bytes,
			 d.exact ? "gathered" : "summed", d.exact ? "gather" : "allreduce",
			 1e3 * d.grad_seconds / (double)d.steps, d.steps,
			 t->trained ? 1e6 * d.grad_seconds / (double)t->trained : 0.0,
			 1e3 * d.other_seconds / (double)d.steps);
}

static int train_loop(trainer *t, pl_err *err)
{
	int64_t count = rec_loader_count(t->train);
	log_progress prog;
	int rc = 0;

	log_info("training %s (%zu parameters) on %lld samples of %dx%dx%d, %d threads%s",
		 nn_arch(t->net), nn_n_params(t->net), (long long)count, t->ds.c, t->ds.h,
		 t->ds.w, nn_threads(t->net) * dist_size(), dist_size() > 1 ? " over the ranks" : "");
	if (t->accumulate > 1)
		log_info("%d micro-batches of %d samples per optimiser step", t->accumulate, t->batch);
	log_progress_start(&prog, "training", count * t->epochs, "images");
	prog.done = (int64_t)t->st.next_epoch * count;
	prog.t_start = log_now();
	for (int epoch = t->st.next_epoch; epoch < t->epochs && !t->st.stopped && rc == 0; epoch++) {
		double t0 = log_now();
		rc = train_epoch(t, epoch, &prog, err);
		if (rc == 0)
			rc = evaluate(t, t->val, &t->hist[epoch * 4 + 2], &t->hist[epoch * 4 + 3], err);
		if (rc < 0)
			break;
		t->st.next_epoch = epoch + 1;
		if (dist_size() > 1 && (rc = dist_check_weights(t->net, epoch, err)) < 0)
			break;
		rc = after_epoch(t, epoch, err);
		if (rc == 0 && dist_rank() == 0)
			rc = save_checkpoint(t, t->ckpt, err);
		if (rc == 0 && dist_rank() == 0)
			rc = note_progress(t, err);
		log_info("epoch %d/%d: loss %.4f, accuracy %.3f; val loss %.4f, val accuracy %.3f; "
			 "%.0f images/s", epoch + 1, t->epochs, t->hist[epoch * 4], t->hist[epoch * 4 + 1],
			 t->hist[epoch * 4 + 2], t->hist[epoch * 4 + 3], count / (log_now() - t0));
	}
	log_progress_end(&prog);
	log_traffic(t);
	return rc;
}

/* Writes history.csv, curves.png and curves.svg. */
static int write_history(trainer *t, pl_err *err)
{
	int n = t->st.next_epoch, *epochs = malloc((size_t)n * sizeof(int)), rc;
	double *cols = malloc((size_t)n * 4 * sizeof(double));
	char path[PATH_MAX];
	strbuf csv = { 0 };

	if (!epochs || !cols) {
		rc = pl_errorf(err, PL_ENOMEM, "out of memory");
		goto out;
	}
	strbuf_appendf(&csv, "epoch,train_loss,train_accuracy,val_loss,val_accuracy\n");
	for (int e = 0; e < n; e++) {
		epochs[e] = e + 1;
		for (int k = 0; k < 4; k++)
			cols[k * n + e] = t->hist[e * 4 + k];
		strbuf_appendf(&csv, "%d,%.6f,%.6f,%.6f,%.6f\n", e + 1, t->hist[e * 4],
			       t->hist[e * 4 + 1], t->hist[e * 4 + 2], t->hist[e * 4 + 3]);
	}
	if ((rc = fs_path(path, sizeof(path), err, "%s/history.csv", t->ctx->out_dir)) < 0 ||
	    (rc = strbuf_write_file(&csv, path, err)) < 0 ||
	    (rc = fs_path(path, sizeof(path), err, "%s/curves.png", t->ctx->out_dir)) < 0)
		goto out;
	rc = plot_training_curves(path, epochs, cols, cols + 2 * n, cols + n, cols + 3 * n, n, err);
	if (rc == 0)
		rc = fs_path(path, sizeof(path), err, "%s/curves.svg", t->ctx->out_dir);
	if (rc == 0)
		rc = plot_training_curves(path, epochs, cols, cols + 2 * n, cols + n, cols + 3 * n, n, err);
out:
	free(epochs);
	free(cols);
	strbuf_release(&csv);
	return rc;
}

/* Writes model.pnn with the best (or last) weights and what predict needs. */
static int write_model(trainer *t, pl_err *err)
{
	json_t *extra = json_pack("{s:O,s:O,s:O}", "preprocess",
				  json_object_get(t->ds.info, "preprocess"), "channel_files",
				  json_object_get(t->ds.info, "channel_files"), "dtype",
				  json_object_get(t->ds.info, "dtype"));
	nn_meta meta = { t->ds.n_classes, t->ds.classes, t->ds.c, t->ds.mean, t->ds.std, NULL };
	nn_err e = { 0 };
	char path[PATH_MAX];
	int rc = 0;

	if (t->patience > 0 && t->st.best_epoch >= 0 &&
	    nn_checkpoint_load(t->net, t->best, NULL, NULL, &e) < 0)
		rc = nn_fail(err, &e);
	meta.extra = json_dumps(extra, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(extra);
	if (rc == 0)
		rc = fs_path(path, sizeof(path), err, "%s/model.pnn", t->ctx->out_dir);
	if (rc == 0 && nn_model_save(t->net, &meta, path, &e) < 0)
		rc = nn_fail(err, &e);
	free(meta.extra);
	return rc;
}

/* The headline metrics: those of the epoch whose weights model.pnn holds
 * (the best one under early stopping, else the last). */
static void set_metrics(trainer *t, double secs)
{
	int at = t->patience > 0 && t->st.best_epoch >= 0 ? t->st.best_epoch : t->st.next_epoch - 1;
	json_t *m = t->ctx->metrics;

	json_object_set_new(m, "epochs", json_integer(t->st.next_epoch));
	json_object_set_new(m, "train_loss", json_real(t->hist[at * 4]));
	json_object_set_new(m, "val_loss", json_real(t->hist[at * 4 + 2]));
	json_object_set_new(m, "val_accuracy", json_real(t->hist[at * 4 + 3]));
	json_object_set_new(m, "best_epoch", json_integer(t->st.best_epoch + 1));
	json_object_set_new(t->ctx->info, "train_seconds_this_run", json_real(secs));
	json_object_set_new(t->ctx->info, "parameters", json_integer((json_int_t)nn_n_params(t->net)));
}

int train_run(stage_ctx *ctx, pl_err *err)
{
	trainer t = { 0 };
	double t0 = log_now();
	int go = 1, rc;

	t.ctx = ctx;
	rc = dist_size() > 1 ? dist_go(&go, err) : 0;
	if (rc == 0 && dist_size() > 1)
		rc = dist_agree(ctx->cfg, err);
	if (rc == 0)
		rc = setup(&t, err);
	if (rc == 0)
		rc = resume_ranks(&t, err);
	if (rc == 0)
		rc = train_loop(&t, err);
	if (rc == 0 && dist_rank() == 0)
		rc = write_history(&t, err);
	if (rc == 0 && dist_rank() == 0)
		rc = write_model(&t, err);
	if (rc == 0)
		set_metrics(&t, log_now() - t0);
	nn_net_free(t.net);
	rec_loader_close(t.train);
	rec_loader_close(t.val);
	dataset_release(&t.ds);
	free(t.x);
	free(t.labels);
	free(t.labels_int);
	free(t.hist);
	free(t.order);
	free(t.class_weights);
	return rc;
}
