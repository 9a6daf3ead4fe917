/* The validate stage: the trained model on the test split, metrics per
 * sample (tile) and per group (well) with probabilities averaged, the
 * report files, and the quality gate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/fs.h"
#include "../io/log.h"
#include "../io/sys.h"
#include "../nn/nn.h"
#include "dataset.h"
#include "report.h"
#include "stages.h"

typedef struct predictions {
	int n, k;
	float *probs;
	int *labels, *groups;
	char **names;
} predictions;

static void predictions_free(predictions *p)
{
	for (int i = 0; p->names && i < p->n; i++)
		free(p->names[i]);
	free(p->names);
	free(p->probs);
	free(p->labels);
	free(p->groups);
}

/* Runs the model over the test split in order. */
static int predict_split(nn_net *net, rec_loader *l, int batch, predictions *p, pl_err *err)
{
	int64_t total = rec_loader_count(l);
	nn_shape s = nn_input_shape(net);
	float *x = malloc((size_t)batch * s.c * s.h * s.w * sizeof(float));
	int32_t *labels = malloc((size_t)batch * sizeof(int32_t)), *groups = malloc((size_t)batch * sizeof(int32_t));
	nn_err e = { 0 };
	int n, rc = 0;

	p->k = nn_n_classes(net);
	p->probs = malloc((size_t)total * p->k * sizeof(float));
	p->labels = malloc((size_t)total * sizeof(int));
	p->groups = malloc((size_t)total * sizeof(int));
	p->names = calloc((size_t)total, sizeof(char *));
	if (!x || !labels || !groups || !p->probs || !p->labels || !p->groups || !p->names) {
		rc = pl_errorf(err, PL_ENOMEM, "out of memory");
		goto out;
	}
	rec_loader_epoch(l, NULL);
	while ((rc = rec_loader_next(l, batch, x, labels, groups, &n, err)) == 0 && n > 0) {
		if (p->n + n > total) {
			rc = pl_errorf(err, PL_EFAIL, "the test split delivered more than its %lld "
				       "samples", (long long)total);
			break;
		}
		if (nn_predict(net, x, n, p->probs + (size_t)p->n * p->k, &e) < 0) {
			rc = pl_errorf(err, PL_EFAIL, "%s", e.msg);
			break;
		}
		for (int i = 0; i < n; i++, p->n++) {
			p->labels[p->n] = labels[i];
			p->groups[p->n] = groups[i];
			p->names[p->n] = strdup(rec_loader_name(l, i) ? rec_loader_name(l, i) : "");
		}
	}
out:
	free(x);
	free(labels);
	free(groups);
	return rc;
}

/* Checks the gate; PL_EGATE when the metric misses it. */
static int gate(stage_ctx *ctx, const metrics *samples, const metrics *group, pl_err *err)
{
	const char *name = cfg_str(ctx->cfg, "validate", "min_metric");
	double min = cfg_float(ctx->cfg, "validate", "min_value"), value = NAN;
	int at_group = cfg_word_in(cfg_str(ctx->cfg, "validate", "level"), "group");
	const metrics *m = at_group ? group : samples;

	if (min <= 0)
		return 0;
	if (at_group && group->n == 0)
		return pl_errorf(err, PL_EUSAGE, "[validate] level = group, but the data has no groups");
	if (metrics_get(m, name, &value) < 0 || isnan(value))
		return pl_errorf(err, PL_EGATE, "the gate's metric %s is undefined on the test split", name);
	if (value < min)
		return pl_errorf(err, PL_EGATE, "%s %.4f at %s level is below the gate of %.4f "
				 "([validate] min_value); the report is in %s/report.md", name, value,
				 at_group ? "group" : "sample", min, ctx->out_dir);
	log_info("gate passed: %s %.4f >= %.4f (%s level)", name, value, min,
		 at_group ? "group" : "sample");
	return 0;
}

static void set_metrics(stage_ctx *ctx, const metrics *samples, const metrics *group)
{
	json_t *m = ctx->metrics;

	json_object_set_new(m, "accuracy", json_real(samples->accuracy));
	json_object_set_new(m, "weighted_f1", json_real(samples->weighted_f1));
	if (!isnan(samples->auc))
		json_object_set_new(m, "auc", json_real(samples->auc));
	if (group->n) {
		json_object_set_new(m, "group_accuracy", json_real(group->accuracy));
		json_object_set_new(m, "group_weighted_f1", json_real(group->weighted_f1));
	}
	log_info("test split: %d samples, accuracy %.4f, weighted F1 %.4f; %d groups, accuracy "
		 "%.4f, weighted F1 %.4f", samples->n, samples->accuracy, samples->weighted_f1, group->n,
		 group->accuracy, group->weighted_f1);
}

static int evaluate(stage_ctx *ctx, nn_net *net, dataset *ds, pl_err *err)
{
	char preproc_dir[PATH_MAX];
	predictions p = { 0 };
	metrics samples = { 0 }, group = { 0 };
	rec_loader *l;
	int rc;

	if ((rc = fs_path(preproc_dir, sizeof(preproc_dir), err, "%s/prepare", ctx->ws)) < 0)
		return rc;
	if (!(l = dataset_open_split(ds, preproc_dir, "test", err)))
		return -err->code;
	rc = predict_split(net, l, nn_max_batch(net), &p, err);
	rec_loader_close(l);
	if (rc == 0 && p.n == 0)
		rc = pl_errorf(err, PL_EDATA, "the test split has no samples");
	if (rc == 0) {
		metrics_input in = { p.n, p.k, p.probs, p.labels, p.groups,
				     (const char *const *)p.names, (const char *const *)ds->classes,
				     (const char *const *)ds->groups, ds->n_groups };
		rc = metrics_compute(&in, &samples, &group, err);
	}
	if (rc == 0) {
		json_t *splits = json_object_get(ds->info, "splits");
		report_info info = { nn_arch(net), ds->c, ds->h, ds->w,
			json_integer_value(json_object_get(json_object_get(splits, "train"), "tiles")),
			json_integer_value(json_object_get(json_object_get(splits, "val"), "tiles")),
			p.n, cfg_float(ctx->cfg, "validate", "min_value") > 0 ?
			cfg_str(ctx->cfg, "validate", "min_metric") : NULL,
			cfg_float(ctx->cfg, "validate", "min_value"),
			cfg_word_in(cfg_str(ctx->cfg, "validate", "level"), "group"), 10 };
		rc = report_write(ctx->out_dir, &samples, &group, &info, err);
	}
	if (rc == 0) {
		set_metrics(ctx, &samples, &group);
		rc = gate(ctx, &samples, &group, err);
	}
	metrics_release(&samples);
	metrics_release(&group);
	predictions_free(&p);
	return rc;
}

int validate_run(stage_ctx *ctx, pl_err *err)
{
	char path[PATH_MAX];
	dataset ds;
	nn_err e = { 0 };
	nn_net *net;
	int rc;

	if ((rc = fs_path(path, sizeof(path), err, "%s/prepare", ctx->ws)) < 0)
		return rc;
	if ((rc = dataset_load(path, &ds, err)) < 0) {
		dataset_release(&ds);
		return rc;
	}
	if ((rc = fs_path(path, sizeof(path), err, "%s/model.pnn", ctx->up_dir)) < 0) {
		dataset_release(&ds);
		return rc;
	}
	net = nn_model_load(path, sys_cpu_count(), (int)cfg_int(ctx->cfg, "validate", "batch"), NULL,
			    &e);
	if (!net)
		rc = pl_errorf(err, e.code ? e.code : PL_EDATA, "%s", e.msg);
	else
		rc = evaluate(ctx, net, &ds, err);
	nn_net_free(net);
	dataset_release(&ds);
	return rc;
}

int validate_copy_ui(const char *ws, int committed, const char *dir, pl_err *err)
{
	static const char *const files[] = { "mlpipeline-ui-metadata.json", "mlpipeline-metrics.json" };
	char from[PATH_MAX], to[PATH_MAX];
	int rc = fs_mkdirs(dir, err);

	for (int i = 0; i < 2 && rc == 0; i++)
		if ((rc = fs_path(from, sizeof(from), err, "%s/%s/%s", ws,
				  committed ? "validate" : ".tmp/validate", files[i])) == 0 &&
		    (rc = fs_path(to, sizeof(to), err, "%s/%s", dir, files[i])) == 0)
			rc = fs_copy_file(from, to, err);
	return rc;
}
