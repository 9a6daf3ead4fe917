/* The validation report files: metrics.json, confusion.csv, roc.csv, the
 * Markdown summary, the two plots and the Kubeflow Pipelines UI files. */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/fs.h"
#include "../io/json.h"
#include "../io/plot.h"
#include "../io/strbuf.h"

#define WORST_DEFAULT 10
#define MD_CONFUSION_MAX 30   /* larger matrices are only in the CSV and PNG */
#define LEGEND_MAX 512        /* room for any "%.40s vs %.40s (AUC %.3f)" */

/* Appends s as one CSV field (quoted when it holds a comma, quote or newline). */
static void append_csv(strbuf *b, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		strbuf_appendf(b, "%s", s);
		return;
	}
	strbuf_appendf(b, "\"");
	for (; *s; s++)
		strbuf_appendf(b, "%s%c", *s == '"' ? "\"" : "", *s);
	strbuf_appendf(b, "\"");
}

/* Appends s for a Markdown table cell (pipes escaped, newlines as spaces). */
static void append_md(strbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			strbuf_appendf(b, "\\|");
		else
			strbuf_appendf(b, "%c", *s == '\n' || *s == '\r' ? ' ' : *s);
	}
}

static int have_level(const metrics *m)
{
	return m && m->n > 0;
}

static int write_buf(const char *dir, const char *name, const char *data,
		     size_t len, pl_err *err)
{
	char path[PATH_MAX];
	int rc = fs_path(path, sizeof(path), err, "%s/%s", dir, name);

	return rc ? rc : fs_write_file(path, data, len, err);
}

static int write_strbuf(const char *dir, const char *name, strbuf *b, pl_err *err)
{
	char path[PATH_MAX];
	int rc = fs_path(path, sizeof(path), err, "%s/%s", dir, name);

	if (rc) {
		strbuf_release(b);
		return rc;
	}
	return strbuf_write_file(b, path, err);
}

/* A JSON number, or null for NaN (JSON has no NaN). */
static json_t *jnum(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *jnum_array(const double *v, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, jnum(v[i]));
	return a;
}

static json_t *level_json(const metrics *m)
{
	json_t *o = json_object(), *per_class = json_array(), *cm = json_array();
	json_t *rocs = json_array();

	json_object_set_new(o, "n", json_integer(m->n));
	json_object_set_new(o, "accuracy", jnum(m->accuracy));
	json_object_set_new(o, "balanced_accuracy", jnum(m->balanced_accuracy));
	json_object_set_new(o, "macro_precision", jnum(m->macro_precision));
	json_object_set_new(o, "macro_recall", jnum(m->macro_recall));
	json_object_set_new(o, "macro_f1", jnum(m->macro_f1));
	json_object_set_new(o, "weighted_precision", jnum(m->weighted_precision));
	json_object_set_new(o, "weighted_recall", jnum(m->weighted_recall));
	json_object_set_new(o, "weighted_f1", jnum(m->weighted_f1));
	json_object_set_new(o, "auc", jnum(m->auc));
	json_object_set_new(o, "log_loss", jnum(m->log_loss));
	for (int c = 0; c < m->k; c++) {
		json_t *row = json_array();
		for (int j = 0; j < m->k; j++)
			json_array_append_new(row, json_integer(m->confusion[(size_t)c * m->k + j]));
		json_array_append_new(cm, row);
		json_array_append_new(per_class, json_pack("{s:s, s:o, s:o, s:o, s:I, s:I}",
			"class", m->class_names[c], "precision", jnum(m->precision[c]),
			"recall", jnum(m->recall[c]), "f1", jnum(m->f1[c]),
			"support", (json_int_t)m->support[c], "predicted", (json_int_t)m->predicted[c]));
	}
	for (int r = 0; r < m->n_roc; r++) {
		const metrics_roc *roc = &m->roc[r];
		json_array_append_new(rocs, json_pack("{s:s, s:o, s:o, s:o, s:o}",
			"class", m->class_names[roc->cls], "auc", jnum(roc->auc),
			"fpr", jnum_array(roc->fpr, roc->n_points),
			"tpr", jnum_array(roc->tpr, roc->n_points),
			"thresholds", jnum_array(roc->thresholds, roc->n_points)));
	}
	json_object_set_new(o, "per_class", per_class);
	json_object_set_new(o, "confusion", cm);
	json_object_set_new(o, "roc", rocs);
	return o;
}

/* Each group's call: its name, true and predicted class, the probability
 * of the true class and its number of samples. Samples are left out: there
 * may be millions, and their calls are in predictions of their groups. */
static json_t *items_json(const metrics *m)
{
	json_t *items = json_array();

	for (int i = 0; i < m->n; i++) {
		const metrics_item *it = &m->items[i];
		json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:o, s:i}",
			"name", it->name ? it->name : "", "true", m->class_names[it->y_true],
			"predicted", m->class_names[it->y_pred], "p_true", jnum(it->p_true),
			"samples", it->n_members));
	}
	return items;
}

static json_t *count_or_null(int64_t n)
{
	return n >= 0 ? json_integer(n) : json_null();
}

static int write_metrics_json(const char *dir, const metrics *samples,
			      const metrics *group, const report_info *info,
			      pl_err *err)
{
	json_t *root = json_object(), *classes = json_array(), *model;
	int rc;

	for (int c = 0; c < samples->k; c++)
		json_array_append_new(classes, json_string(samples->class_names[c]));
	model = json_pack("{s:s?, s:[i,i,i]}", "arch", info->arch,
			  "input_shape", info->in_c, info->in_h, info->in_w);
	json_object_set_new(root, "format", json_integer(1));
	json_object_set_new(root, "classes", classes);
	json_object_set_new(root, "model", model);
	json_object_set_new(root, "data", json_pack("{s:o, s:o, s:o}",
		"train", count_or_null(info->n_train), "val", count_or_null(info->n_val),
		"test", count_or_null(info->n_test)));
	json_object_set_new(root, "crop", level_json(samples));
	json_object_set_new(root, "group", have_level(group) ? level_json(group) : json_null());
	if (have_level(group))
		json_object_set_new(json_object_get(root, "group"), "items", items_json(group));
	rc = json_write_in(dir, "metrics.json", root, err);
	json_decref(root);
	return rc;
}

/* target,predicted,count lines of one level (the Kubeflow CSV shape). */
static void confusion_lines(strbuf *b, const metrics *m, const char *level)
{
	for (int c = 0; c < m->k; c++) {
		for (int j = 0; j < m->k; j++) {
			if (level)
				strbuf_appendf(b, "%s,", level);
			append_csv(b, m->class_names[c]);
			strbuf_appendf(b, ",");
			append_csv(b, m->class_names[j]);
			strbuf_appendf(b, ",%lld\n", (long long)m->confusion[(size_t)c * m->k + j]);
		}
	}
}

static void roc_lines(strbuf *b, const metrics *m, const metrics_roc *roc,
		      const char *level)
{
	for (int i = 0; i < roc->n_points; i++) {
		strbuf_appendf(b, "%.17g,%.17g,%.17g", roc->fpr[i], roc->tpr[i], roc->thresholds[i]);
		if (level) {
			strbuf_appendf(b, ",");
			append_csv(b, m->class_names[roc->cls]);
			strbuf_appendf(b, ",%s", level);
		}
		strbuf_appendf(b, "\n");
	}
}

static int write_csvs(const char *dir, const metrics *samples, const metrics *group,
		      pl_err *err)
{
	strbuf cm = { 0 }, roc = { 0 };
	int rc;

	strbuf_appendf(&cm, "level,true,predicted,count\n");
	confusion_lines(&cm, samples, "crop");
	strbuf_appendf(&roc, "fpr,tpr,threshold,class,level\n");
	for (int r = 0; r < samples->n_roc; r++)
		roc_lines(&roc, samples, &samples->roc[r], "crop");
	if (have_level(group)) {
		confusion_lines(&cm, group, "group");
		for (int r = 0; r < group->n_roc; r++)
			roc_lines(&roc, group, &group->roc[r], "group");
	}
	rc = write_strbuf(dir, "confusion.csv", &cm, err);
	if (rc == 0)
		rc = write_strbuf(dir, "roc.csv", &roc, err);
	strbuf_release(&cm);
	strbuf_release(&roc);
	return rc;
}

/* The Kubeflow metric names: "weighted_f1" -> "weighted-f1" (prefixed). */
static json_t *kfp_metrics_of(json_t *list, const metrics *m, const char *prefix)
{
	for (const char *const *name = metrics_names(); *name; name++) {
		char kfp_name[64];
		double v;

		if (metrics_get(m, *name, &v) != 0 || !isfinite(v))
			continue;
		snprintf(kfp_name, sizeof(kfp_name), "%s%s", prefix, *name);
		for (char *p = kfp_name; *p; p++)
			if (*p == '_')
				*p = '-';
		json_array_append_new(list, json_pack("{s:s, s:f, s:s}", "name", kfp_name,
						      "numberValue", v, "format", "RAW"));
	}
	return list;
}

static int write_kfp_metrics(const char *dir, const metrics *samples,
			     const metrics *group, pl_err *err)
{
	json_t *list = kfp_metrics_of(json_array(), samples, "");
	int rc;

	if (have_level(group))
		kfp_metrics_of(list, group, "group-");
	json_t *root = json_pack("{s:o}", "metrics", list);
	rc = json_write_in(dir, "mlpipeline-metrics.json", root, err);
	json_decref(root);
	return rc;
}

static json_t *kfp_schema(const char *a, const char *ta, const char *b,
			  const char *tb, const char *c, const char *tc)
{
	return json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "name", a, "type", ta,
			 "name", b, "type", tb, "name", c, "type", tc);
}

static void kfp_confusion(json_t *outputs, const metrics *m, int *failed)
{
	strbuf b = { 0 };
	json_t *labels = json_array();

	confusion_lines(&b, m, NULL);
	for (int c = 0; c < m->k; c++)
		json_array_append_new(labels, json_string(m->class_names[c]));
	*failed |= b.failed;
	json_array_append_new(outputs, json_pack("{s:s, s:s, s:o, s:s, s:s, s:o}",
		"type", "confusion_matrix", "format", "csv",
		"schema", kfp_schema("target", "CATEGORY", "predicted", "CATEGORY", "count", "NUMBER"),
		"source", strbuf_str(&b), "storage", "inline", "labels", labels));
	strbuf_release(&b);
}

static void kfp_roc(json_t *outputs, const metrics *m, int *failed)
{
	for (int r = 0; r < m->n_roc; r++) {
		strbuf b = { 0 };

		if (!isfinite(m->roc[r].auc))
			continue;   /* one class only: the rates are undefined */
		roc_lines(&b, m, &m->roc[r], NULL);
		*failed |= b.failed;
		json_array_append_new(outputs, json_pack("{s:s, s:s, s:o, s:s, s:s}",
			"type", "roc", "format", "csv",
			"schema", kfp_schema("fpr", "NUMBER", "tpr", "NUMBER", "thresholds", "NUMBER"),
			"source", strbuf_str(&b), "storage", "inline"));
		strbuf_release(&b);
	}
}

static int write_kfp_ui(const char *dir, const metrics *samples, const metrics *group,
			const char *markdown, pl_err *err)
{
	json_t *outputs = json_array();
	int failed = 0, rc;

	kfp_confusion(outputs, samples, &failed);
	if (have_level(group))
		kfp_confusion(outputs, group, &failed);
	kfp_roc(outputs, samples, &failed);
	json_array_append_new(outputs, json_pack("{s:s, s:s, s:s}", "type", "markdown",
						 "storage", "inline", "source", markdown));
	json_t *root = json_pack("{s:o}", "outputs", outputs);
	rc = failed ? pl_errorf(err, PL_ENOMEM, "out of memory writing %s/mlpipeline-ui-metadata.json", dir)
		    : json_write_in(dir, "mlpipeline-ui-metadata.json", root, err);
	json_decref(root);
	return rc;
}

/* ---- Markdown ---- */

static void md_value(strbuf *b, double v)
{
	if (isfinite(v))
		strbuf_appendf(b, " %.4f |", v);
	else
		strbuf_appendf(b, " n/a |");
}

static void md_data(strbuf *b, const metrics *samples, const metrics *group,
		    const report_info *info)
{
	const char *names[] = { "train", "validation", "test" };
	int64_t counts[] = { info->n_train, info->n_val, info->n_test };

	strbuf_appendf(b, "## Data\n\n| split | samples |\n|---|---:|\n");
	for (int i = 0; i < 3; i++) {
		if (counts[i] >= 0)
			strbuf_appendf(b, "| %s | %lld |\n", names[i], (long long)counts[i]);
	}
	strbuf_appendf(b, "| evaluated | %d samples", samples->n);
	if (have_level(group))
		strbuf_appendf(b, " in %d groups", group->n);
	strbuf_appendf(b, " |\n\n");
}

static void md_model(strbuf *b, const metrics *samples, const report_info *info)
{
	strbuf_appendf(b, "## Model\n\n");
	if (info->arch)
		strbuf_appendf(b, "- architecture: `%s`\n", info->arch);
	if (info->in_c > 0)
		strbuf_appendf(b, "- input: %dx%dx%d (channels x height x width)\n",
			       info->in_c, info->in_h, info->in_w);
	strbuf_appendf(b, "- classes (%d): ", samples->k);
	for (int c = 0; c < samples->k; c++) {
		strbuf_appendf(b, "%s", c ? ", " : "");
		append_md(b, samples->class_names[c]);
	}
	strbuf_appendf(b, "\n\n");
}

static void md_gate(strbuf *b, const metrics *samples, const metrics *group,
		    const report_info *info)
{
	const metrics *m = info->gate_group_level && have_level(group) ? group : samples;
	double v;

	if (!info->gate_metric || metrics_get(m, info->gate_metric, &v) != 0)
		return;
	int higher = metrics_higher_is_better(info->gate_metric);
	int passed = isfinite(v) && (higher ? v >= info->gate_min : v <= info->gate_min);
	strbuf_appendf(b, "## Gate\n\n%s (%s level) = ", info->gate_metric,
		       m == group ? "group" : "sample");
	if (isfinite(v))
		strbuf_appendf(b, "%.4f", v);
	else
		strbuf_appendf(b, "undefined");
	strbuf_appendf(b, ", required %s %.4f: **%s**\n\n", higher ? ">=" : "<=",
		       info->gate_min, passed ? "passed" : "failed");
}

static void md_headline(strbuf *b, const metrics *samples, const metrics *group)
{
	static const char *const rows[][2] = {
		{ "accuracy", "accuracy" }, { "balanced_accuracy", "balanced accuracy" },
		{ "weighted_f1", "weighted F1" }, { "macro_f1", "macro F1" },
		{ "weighted_precision", "weighted precision" },
		{ "weighted_recall", "weighted recall" },
		{ "macro_precision", "macro precision" }, { "macro_recall", "macro recall" },
		{ "auc", "ROC AUC" }, { "log_loss", "log loss" },
	};
	int g = have_level(group);

	strbuf_appendf(b, "## Headline metrics\n\n| metric | samples |%s\n|---|---:|%s\n",
		       g ? " groups |" : "", g ? "---:|" : "");
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		double v;
		strbuf_appendf(b, "| %s |", rows[i][1]);
		metrics_get(samples, rows[i][0], &v);
		md_value(b, v);
		if (g) {
			metrics_get(group, rows[i][0], &v);
			md_value(b, v);
		}
		strbuf_appendf(b, "\n");
	}
	strbuf_appendf(b, "\n");
}

/* AUC of class c against the rest; with two classes both share the one
 * curve (the scores of class 0 are 1 - those of class 1). */
static double class_auc(const metrics *m, int c)
{
	if (m->k == 2)
		return m->auc;
	for (int r = 0; r < m->n_roc; r++)
		if (m->roc[r].cls == c)
			return m->roc[r].auc;
	return NAN;
}

static void md_per_class(strbuf *b, const metrics *m, const char *level)
{
	strbuf_appendf(b, "## Per-class metrics (%s)\n\n"
		       "| class | precision | recall | F1 | support | AUC |\n"
		       "|---|---:|---:|---:|---:|---:|\n", level);
	for (int c = 0; c < m->k; c++) {
		strbuf_appendf(b, "| ");
		append_md(b, m->class_names[c]);
		strbuf_appendf(b, " |");
		md_value(b, m->precision[c]);
		md_value(b, m->recall[c]);
		md_value(b, m->f1[c]);
		strbuf_appendf(b, " %lld |", (long long)m->support[c]);
		md_value(b, class_auc(m, c));
		strbuf_appendf(b, "\n");
	}
	strbuf_appendf(b, "\n");
}

static void md_confusion(strbuf *b, const metrics *m, const char *level)
{
	if (m->k > MD_CONFUSION_MAX) {
		strbuf_appendf(b, "## Confusion matrix (%s)\n\n%d classes: see `confusion.csv` "
			       "and `confusion.png`.\n\n", level, m->k);
		return;
	}
	strbuf_appendf(b, "## Confusion matrix (%s; rows = true, columns = predicted)\n\n"
		       "| true \\ predicted |", level);
	for (int c = 0; c < m->k; c++) {
		strbuf_appendf(b, " ");
		append_md(b, m->class_names[c]);
		strbuf_appendf(b, " |");
	}
	strbuf_appendf(b, "\n|---|");
	for (int c = 0; c < m->k; c++)
		strbuf_appendf(b, "---:|");
	strbuf_appendf(b, "\n");
	for (int c = 0; c < m->k; c++) {
		strbuf_appendf(b, "| ");
		append_md(b, m->class_names[c]);
		strbuf_appendf(b, " |");
		for (int j = 0; j < m->k; j++) {
			int64_t v = m->confusion[(size_t)c * m->k + j];
			if (v == 0)
				strbuf_appendf(b, " 0 |");
			else
				strbuf_appendf(b, " %lld (%.1f%%) |", (long long)v,
					       100.0 * (double)v / (double)m->support[c]);
		}
		strbuf_appendf(b, "\n");
	}
	strbuf_appendf(b, "\n");
}

static int cmp_p_true(const void *a, const void *b, void *level)
{
	const metrics *m = level;
	double x = m->items[*(const int *)a].p_true;
	double y = m->items[*(const int *)b].p_true;

	return (x > y) - (x < y);
}

static void md_worst(strbuf *b, const metrics *m, const char *what,
		     const char *column, int n_worst)
{
	int *order = malloc((size_t)m->n * sizeof(int));

	if (!order) {
		b->failed = 1;
		return;
	}
	for (int i = 0; i < m->n; i++)
		order[i] = i;
	qsort_r(order, (size_t)m->n, sizeof(int), cmp_p_true, (void *)m);
	if (n_worst > m->n)
		n_worst = m->n;
	strbuf_appendf(b, "## Worst-classified %s\n\nThe %d %s with the lowest probability "
		       "for their true class.\n\n| %s | true | predicted | p(true) | p(predicted) |\n"
		       "|---|---|---|---:|---:|\n", what, n_worst, what, column);
	for (int i = 0; i < n_worst; i++) {
		const metrics_item *it = &m->items[order[i]];
		strbuf_appendf(b, "| ");
		append_md(b, it->name);
		strbuf_appendf(b, " | ");
		append_md(b, m->class_names[it->y_true]);
		strbuf_appendf(b, " | ");
		append_md(b, m->class_names[it->y_pred]);
		strbuf_appendf(b, " | %.4f | %.4f |\n", it->p_true, it->p_pred);
	}
	strbuf_appendf(b, "\n");
	free(order);
}

char *report_markdown(const metrics *samples, const metrics *group,
			      const report_info *info)
{
	strbuf b = { 0 };
	int n_worst = info->n_worst > 0 ? info->n_worst : WORST_DEFAULT;
	int g = have_level(group);

	strbuf_appendf(&b, "# Validation report\n\n");
	md_data(&b, samples, group, info);
	md_model(&b, samples, info);
	md_gate(&b, samples, group, info);
	md_headline(&b, samples, group);
	md_per_class(&b, samples, "samples");
	if (g)
		md_per_class(&b, group, "groups");
	md_confusion(&b, samples, "samples");
	if (g)
		md_confusion(&b, group, "groups");
	md_worst(&b, samples, "samples", "sample", n_worst);
	if (g)
		md_worst(&b, group, "groups", "group", n_worst);
	strbuf_appendf(&b, "Plots: `confusion.png`, `roc.png`. Numbers: `metrics.json`, "
		       "`confusion.csv`, `roc.csv`.\n");
	return strbuf_take(&b, NULL);
}

/* ---- Plots ---- */

static int write_confusion_png(const char *dir, const metrics *samples,
			       const metrics *group, pl_err *err)
{
	char path[PATH_MAX];
	plot_heatmap maps[2] = {
		{ "Confusion matrix (samples)", samples->k, samples->confusion,
		  (const char *const *)samples->class_names },
	};
	int n = 1;

	if (have_level(group)) {
		maps[n++] = (plot_heatmap){ "Confusion matrix (groups)", group->k,
			group->confusion, (const char *const *)group->class_names };
	}
	int rc = fs_path(path, sizeof(path), err, "%s/confusion.png", dir);
	rc = rc ? rc : plot_heatmaps(path, maps, n, err);
	rc = rc ? rc : fs_path(path, sizeof(path), err, "%s/confusion.svg", dir);
	return rc ? rc : plot_heatmaps(path, maps, n, err);
}

/* One ROC panel: a curve per class, the legend giving each AUC. */
static int roc_chart(const metrics *m, const char *title, plot_chart *chart,
		     plot_series *series, char (*names)[LEGEND_MAX])
{
	int n = 0;

	for (int r = 0; r < m->n_roc; r++) {
		const metrics_roc *roc = &m->roc[r];
		if (!isfinite(roc->auc))
			continue;
		snprintf(names[n], LEGEND_MAX, "%.40s vs %.40s (AUC %.3f)", m->class_names[roc->cls],
			 m->k == 2 ? m->class_names[0] : "rest", roc->auc);
		series[n] = (plot_series){ .name = names[n], .x = roc->fpr,
					   .y = roc->tpr, .n = roc->n_points };
		n++;
	}
	*chart = (plot_chart){
		.title = title, .x_label = "false positive rate",
		.y_label = "true positive rate", .series = series, .n_series = n,
		.x_min = -0.02, .x_max = 1.02, .y_min = -0.02, .y_max = 1.02,
		.diagonal = 1,
		.legend = n > 4 ? PLOT_LEGEND_OUTSIDE : PLOT_LEGEND_LOWER_RIGHT,
	};
	return n;
}

static int write_roc_png(const char *dir, const metrics *samples,
			 const metrics *group, pl_err *err)
{
	char path[PATH_MAX];
	plot_chart charts[2];
	int k = samples->k, n = 0, rc = 0;
	plot_series *series = calloc((size_t)k * 2, sizeof(*series));
	char (*names)[LEGEND_MAX] = calloc((size_t)k * 2, sizeof(*names));

	if (!series || !names) {
		rc = pl_errorf(err, PL_ENOMEM, "out of memory drawing %s/roc.png", dir);
		goto out;
	}
	roc_chart(samples, "ROC (samples)", &charts[n++], series, names);
	if (have_level(group))
		roc_chart(group, "ROC (groups)", &charts[n++], series + k, names + k);
	rc = fs_path(path, sizeof(path), err, "%s/roc.png", dir);
	if (rc == 0)
		rc = plot_charts(path, charts, n, 640, 600, err);
	if (rc == 0)
		rc = fs_path(path, sizeof(path), err, "%s/roc.svg", dir);
	if (rc == 0)
		rc = plot_charts(path, charts, n, 640, 600, err);
out:
	free(series);
	free(names);
	return rc;
}

int report_write(const char *dir, const metrics *samples,
			 const metrics *group, const report_info *info,
			 pl_err *err)
{
	static const report_info no_info = { .n_train = -1, .n_val = -1, .n_test = -1 };
	char *markdown = NULL;
	int rc;

	if (!info)
		info = &no_info;
	if (!have_level(samples))
		return pl_errorf(err, PL_EUSAGE, "no metrics to report in '%s'", dir);
	if (!fs_is_dir(dir))
		return pl_errorf(err, PL_EIO, "cannot write the report into '%s': %s", dir,
				 strerror(ENOENT));
	markdown = report_markdown(samples, group, info);
	if (!markdown)
		return pl_errorf(err, PL_ENOMEM, "out of memory writing %s/report.md", dir);
	rc = write_metrics_json(dir, samples, group, info, err);
	if (rc == 0)
		rc = write_csvs(dir, samples, group, err);
	if (rc == 0)
		rc = write_buf(dir, "report.md", markdown, strlen(markdown), err);
	if (rc == 0)
		rc = write_kfp_metrics(dir, samples, group, err);
	if (rc == 0)
		rc = write_kfp_ui(dir, samples, group, markdown, err);
	if (rc == 0)
		rc = write_confusion_png(dir, samples, group, err);
	if (rc == 0)
		rc = write_roc_png(dir, samples, group, err);
	free(markdown);
	return rc;
}
