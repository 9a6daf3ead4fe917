/* Tests of stages/metrics: every number against scikit-learn (through
 * tests/metrics_ref.py), the gate lookup, input errors, and the report files
 * (JSON structure, Kubeflow UI files, CSV, Markdown, PNG). */
#include "check.h"

#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdint.h>

#include "../io/fs.h"
#include "../io/img.h"
#include "../stages/report.h"

#define MAX_N 128

/* One synthetic prediction set. */
typedef struct test_case {
	const char *name;
	int n, k;
	float probs[MAX_N * 4];
	int labels[MAX_N];
	int groups[MAX_N];
	int has_groups;
} test_case;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static double rnd(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Fills row i with normalised weights; label gets a boost of strength.
 * levels > 0 quantises the weights to 1..levels to create ties. */
static void fill_row(test_case *tc, int i, double strength, int levels)
{
	float *row = tc->probs + i * tc->k;
	double w[4], sum = 0;

	for (int j = 0; j < tc->k; j++) {
		w[j] = levels > 0 ? (double)(1 + (int)(rnd() * levels)) : 0.05 + rnd();
		if (j == tc->labels[i])
			w[j] += levels > 0 ? (double)(int)(rnd() * strength) : strength * rnd();
		sum += w[j];
	}
	for (int j = 0; j < tc->k; j++)
		row[j] = (float)(w[j] / sum);
}

static void make_random(test_case *tc, const char *name, int n, int k,
			double strength, int levels)
{
	memset(tc, 0, sizeof(*tc));
	tc->name = name;
	tc->n = n;
	tc->k = k;
	for (int i = 0; i < n; i++) {
		tc->labels[i] = (int)(rnd() * k);
		fill_row(tc, i, strength, levels);
	}
}

/* The cases: binary, 3-class, a class never predicted, a class absent from
 * the truth, ties, one class only, saturated probabilities, groups. */
static int make_cases(test_case *cases)
{
	int n = 0;

	make_random(&cases[n++], "binary", 40, 2, 0.8, 0);
	make_random(&cases[n++], "three_class", 60, 3, 1.2, 0);
	make_random(&cases[n], "never_predicted", 45, 3, 1.0, 0);
	for (int i = 0; i < cases[n].n; i++) {
		float *row = cases[n].probs + i * 3;
		row[2] = row[2] * 0.1f;
		float rest = 1.0f - row[2], s01 = row[0] + row[1];
		row[0] = row[0] / s01 * rest;
		row[1] = 1.0f - row[0] - row[2];
	}
	n++;
	make_random(&cases[n], "absent_from_truth", 36, 3, 1.0, 0);
	for (int i = 0; i < cases[n].n; i++) {
		cases[n].labels[i] = i % 2;
		fill_row(&cases[n], i, 1.0, 0);
	}
	n++;
	make_random(&cases[n++], "ties_binary", 50, 2, 3, 3);
	make_random(&cases[n++], "ties_four", 64, 4, 3, 2);
	make_random(&cases[n], "one_class_only", 20, 2, 0.5, 0);
	for (int i = 0; i < cases[n].n; i++) {
		cases[n].labels[i] = 0;
		fill_row(&cases[n], i, 0.5, 0);
	}
	n++;
	make_random(&cases[n], "saturated", 24, 4, 0, 0);
	for (int i = 0; i < cases[n].n; i++) {
		float *row = cases[n].probs + i * 4;
		memset(row, 0, 4 * sizeof(float));
		row[i % 5 == 0 ? (cases[n].labels[i] + 1) % 4 : cases[n].labels[i]] = 1.0f;
	}
	n++;
	test_case *g = &cases[n++];
	make_random(g, "groups", 52, 3, 0.9, 0);
	g->has_groups = 1;
	for (int i = 0; i < g->n; i++) {
		g->groups[i] = i < 48 ? (i / 4) * 7 + 3 : -1;
		g->labels[i] = i < 48 ? (i / 4) % 3 : 1;
		if (i == 5 || i == 6)
			g->labels[i] = 2;   /* group 1: two of one label, two of another */
		if (i == 9)
			g->labels[i] = 0;   /* group 2: majority 2 */
		fill_row(g, i, 0.9, 0);
	}
	return n;
}

static json_t *case_json(const test_case *tc)
{
	json_t *probs = json_array(), *labels = json_array(), *groups = json_array();

	for (int i = 0; i < tc->n; i++) {
		json_t *row = json_array();
		for (int j = 0; j < tc->k; j++)
			json_array_append_new(row, json_real(tc->probs[i * tc->k + j]));
		json_array_append_new(probs, row);
		json_array_append_new(labels, json_integer(tc->labels[i]));
		json_array_append_new(groups, json_integer(tc->groups[i]));
	}
	if (!tc->has_groups) {
		json_decref(groups);
		groups = json_null();
	}
	return json_pack("{s:s, s:i, s:o, s:o, s:o}", "name", tc->name, "k", tc->k,
			 "probs", probs, "labels", labels, "groups", groups);
}

/* Runs the reference script on cases; returns its parsed output. */
static json_t *reference(const test_case *cases, int n_cases)
{
	const char *root = getenv("PL_ROOT");
	char cmd[4400];
	json_t *all = json_array();
	json_error_t jerr;

	for (int c = 0; c < n_cases; c++)
		json_array_append_new(all, case_json(&cases[c]));
	CHECK(json_dump_file(all, "cases.json", JSON_COMPACT) == 0, "cannot write cases.json");
	json_decref(all);
	CHECK(root != NULL, "PL_ROOT is not set (run through tests/run.sh)");
	if (!root)
		return NULL;
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s/tests/metrics_ref.py' cases.json ref.json", root);
	CHECK(system(cmd) == 0, "%s failed", cmd);
	json_t *ref = json_load_file("ref.json", 0, &jerr);
	CHECK(ref != NULL, "ref.json: %s", jerr.text);
	return ref;
}

/* got equals want (a JSON number, or null for NaN) within 1e-9. */
static void check_num(const char *ctx, const char *what, double got, json_t *want)
{
	if (json_is_null(want) || !want) {
		CHECK(want && isnan(got), "%s %s: got %.17g, want null", ctx, what, got);
		return;
	}
	double w = json_number_value(want);
	CHECK(fabs(got - w) <= 1e-9, "%s %s: got %.17g, want %.17g", ctx, what, got, w);
}

static void check_array(const char *ctx, const char *what, const double *got,
			int n, json_t *want)
{
	CHECK((int)json_array_size(want) == n, "%s %s: %d values, want %zu", ctx, what,
	      n, json_array_size(want));
	for (int i = 0; i < n && i < (int)json_array_size(want); i++)
		check_num(ctx, what, got[i], json_array_get(want, (size_t)i));
}

static void check_level(const char *ctx, const metrics *m, json_t *ref)
{
	static const char *const headline[] = {
		"accuracy", "balanced_accuracy", "macro_precision", "macro_recall",
		"macro_f1", "weighted_precision", "weighted_recall", "weighted_f1",
		"auc", "log_loss"
	};
	double v;

	CHECK(m->n == json_integer_value(json_object_get(ref, "n")), "%s n %d", ctx, m->n);
	for (size_t i = 0; i < sizeof(headline) / sizeof(*headline); i++) {
		CHECK(metrics_get(m, headline[i], &v) == 0, "%s", headline[i]);
		check_num(ctx, headline[i], v, json_object_get(ref, headline[i]));
	}
	check_array(ctx, "precision", m->precision, m->k, json_object_get(ref, "precision"));
	check_array(ctx, "recall", m->recall, m->k, json_object_get(ref, "recall"));
	check_array(ctx, "f1", m->f1, m->k, json_object_get(ref, "f1"));
	for (int c = 0; c < m->k; c++) {
		json_t *row = json_array_get(json_object_get(ref, "confusion"), (size_t)c);
		CHECK(m->support[c] == json_integer_value(json_array_get(json_object_get(ref, "support"), (size_t)c)),
		      "%s support[%d]", ctx, c);
		for (int j = 0; j < m->k; j++)
			CHECK(m->confusion[c * m->k + j] == json_integer_value(json_array_get(row, (size_t)j)),
			      "%s confusion[%d][%d] = %lld", ctx, c, j, (long long)m->confusion[c * m->k + j]);
	}
	json_t *rocs = json_object_get(ref, "roc");
	CHECK((int)json_array_size(rocs) == m->n_roc, "%s n_roc %d", ctx, m->n_roc);
	for (int r = 0; r < m->n_roc && r < (int)json_array_size(rocs); r++) {
		const metrics_roc *roc = &m->roc[r];
		json_t *want = json_array_get(rocs, (size_t)r);
		CHECK(roc->cls == json_integer_value(json_object_get(want, "cls")), "%s roc cls", ctx);
		check_array(ctx, "fpr", roc->fpr, roc->n_points, json_object_get(want, "fpr"));
		check_array(ctx, "tpr", roc->tpr, roc->n_points, json_object_get(want, "tpr"));
		check_array(ctx, "thresholds", roc->thresholds, roc->n_points,
			    json_object_get(want, "thresholds"));
		check_num(ctx, "roc auc", roc->auc, json_object_get(want, "auc"));
	}
}

static metrics_input input_of(const test_case *tc)
{
	metrics_input in = {
		.n = tc->n, .k = tc->k, .probs = tc->probs, .labels = tc->labels,
		.groups = tc->has_groups ? tc->groups : NULL,
	};
	return in;
}

static void test_against_sklearn(void)
{
	static test_case cases[16];
	int n_cases = make_cases(cases);
	json_t *ref = reference(cases, n_cases);
	pl_err err = { 0 };

	CHECK(ref && (int)json_array_size(ref) == n_cases, "reference has %zu cases",
	      json_array_size(ref));
	for (int c = 0; ref && c < n_cases; c++) {
		metrics_input in = input_of(&cases[c]);
		metrics crop, group;
		json_t *want = json_array_get(ref, (size_t)c);

		CHECK_OK(metrics_compute(&in, &crop, &group, &err), &err);
		check_level(cases[c].name, &crop, json_object_get(want, "crop"));
		if (cases[c].has_groups) {
			char ctx[64];
			snprintf(ctx, sizeof(ctx), "%s/group", cases[c].name);
			CHECK(group.n == 12, "%s: %d groups", ctx, group.n);
			check_level(ctx, &group, json_object_get(want, "group"));
			CHECK(group.items[1].n_members == 4, "members %d", group.items[1].n_members);
			CHECK(strcmp(group.items[0].name, "group 3") == 0, "name %s", group.items[0].name);
		} else {
			CHECK(group.n == 0, "%s: no groups, got %d", cases[c].name, group.n);
		}
		metrics_release(&crop);
		metrics_release(&group);
	}
	json_decref(ref);
}

/* Hand-checked values, independent of the reference script. */
static void test_known_values(void)
{
	const float probs[] = { 0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f, 0.3f, 0.7f };
	const int labels[] = { 0, 1, 1, 1 };
	metrics_input in = { .n = 4, .k = 2, .probs = probs, .labels = labels };
	metrics m;
	pl_err err = { 0 };
	double v;

	CHECK_OK(metrics_compute(&in, &m, NULL, &err), &err);
	CHECK(fabs(m.accuracy - 0.75) < 1e-12, "accuracy %g", m.accuracy);
	CHECK(m.confusion[2] == 1 && m.confusion[3] == 2, "confusion row 1");
	CHECK(fabs(m.precision[0] - 0.5) < 1e-12 && fabs(m.recall[1] - 2.0 / 3) < 1e-12, "p/r");
	CHECK(fabs(m.auc - 1.0) < 1e-12, "auc %g", m.auc);
	CHECK(strcmp(m.class_names[1], "class 1") == 0, "%s", m.class_names[1]);
	metrics_release(&m);
	const char *latin1[] = { "caf\xc3\xa9", "na\xefve\xc3" };
	in.class_names = latin1;
	CHECK_OK(metrics_compute(&in, &m, NULL, &err), &err);
	CHECK(strcmp(m.class_names[0], "caf\xc3\xa9") == 0, "valid utf-8 changed");
	CHECK(strcmp(m.class_names[1], "na\\xefve\\xc3") == 0, "invalid utf-8 kept: %s", m.class_names[1]);
	CHECK(strcmp(m.items[2].name, "sample 2") == 0 && m.items[2].y_pred == 0, "item 2");
	CHECK(metrics_get(&m, "weighted_f1", &v) == 0 && v > 0.7 && v < 0.9, "weighted_f1 %g", v);
	CHECK(metrics_get(&m, "f2", &v) == -PL_EUSAGE, "unknown metric accepted");
	CHECK(metrics_higher_is_better("auc") && !metrics_higher_is_better("log_loss"), "direction");
	int n_names = 0;
	for (const char *const *name = metrics_names(); *name; name++)
		n_names += metrics_get(&m, *name, &v) == 0;
	CHECK(n_names == 10, "%d names", n_names);
	metrics_release(&m);
	metrics_release(&m);
	metrics_release(NULL);
}

static void test_bad_input(void)
{
	const float probs[] = { 0.9f, 0.1f, NAN, 0.5f };
	const int labels[] = { 0, 2 };
	metrics_input in = { .n = 2, .k = 2, .probs = probs, .labels = labels };
	metrics m;
	pl_err err = { 0 };

	CHECK(metrics_compute(&in, &m, NULL, &err) == -PL_EDATA, "label 2 of 2 classes");
	CHECK(strstr(err.msg, "label 2") != NULL, "%s", err.msg);
	metrics_release(&m);
	in.labels = (const int[]){ 0, 1 };
	CHECK(metrics_compute(&in, &m, NULL, &err) == -PL_EDATA, "nan accepted");
	metrics_release(&m);
	in.n = 0;
	CHECK(metrics_compute(&in, &m, NULL, &err) == -PL_EUSAGE, "empty accepted");
	metrics_release(&m);
	in.n = 1;
	in.k = 1;
	CHECK(metrics_compute(&in, &m, NULL, &err) == -PL_EUSAGE, "one class accepted");
	metrics_release(&m);
}

/* Samples of class c get names "c-i"; groups of 4 named "well-g". */
static void make_report_metrics(metrics *crop, metrics *group)
{
	static test_case tc;
	static char name_buf[MAX_N][32], gname_buf[MAX_N][32];
	static const char *names[MAX_N], *gnames[MAX_N];
	const char *classes[] = { "low dose", "high, dose", "control" };
	pl_err err = { 0 };

	make_random(&tc, "report", 96, 3, 1.5, 0);
	for (int i = 0; i < tc.n; i++) {
		tc.groups[i] = i / 4;
		tc.labels[i] = (i / 4) % 3;
		fill_row(&tc, i, 1.5, 0);
		snprintf(name_buf[i], sizeof(name_buf[i]), "tile-%03d", i);
		snprintf(gname_buf[i], sizeof(gname_buf[i]), "well-%c%02d", 'A' + i / 12, i % 12 + 1);
		names[i] = name_buf[i];
		gnames[i] = gname_buf[i];
	}
	tc.has_groups = 1;
	metrics_input in = input_of(&tc);
	in.sample_names = names;
	in.class_names = classes;
	in.group_names = gnames;
	in.n_group_names = tc.n;
	CHECK_OK(metrics_compute(&in, crop, group, &err), &err);
}

static json_t *load_json(const char *path)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);

	CHECK(root != NULL, "%s: %s", path, jerr.text);
	return root;
}

static void check_kfp_metrics(void)
{
	json_t *root = load_json("out/mlpipeline-metrics.json");
	json_t *list = json_object_get(root, "metrics"), *item;
	regex_t re;
	size_t i;
	int found = 0;

	CHECK(regcomp(&re, "^[a-z]([-a-z0-9]{0,62}[a-z0-9])?$", REG_EXTENDED | REG_NOSUB) == 0, "regex");
	CHECK(json_is_array(list) && json_array_size(list) >= 10, "metrics list");
	json_array_foreach(list, i, item) {
		const char *name = json_string_value(json_object_get(item, "name"));
		const char *format = json_string_value(json_object_get(item, "format"));
		CHECK(name && regexec(&re, name, 0, NULL, 0) == 0, "bad name %s", name ? name : "(null)");
		CHECK(json_is_number(json_object_get(item, "numberValue")), "%s: numberValue", name);
		CHECK(format && (!strcmp(format, "RAW") || !strcmp(format, "PERCENTAGE")), "format");
		found += name && !strcmp(name, "weighted-f1");
		found += name && !strcmp(name, "group-weighted-f1");
	}
	CHECK(found == 2, "weighted-f1 and group-weighted-f1: %d", found);
	regfree(&re);
	json_decref(root);
}

static void check_kfp_ui(const metrics *crop)
{
	json_t *root = load_json("out/mlpipeline-ui-metadata.json");
	json_t *outputs = json_object_get(root, "outputs"), *out;
	size_t i;
	int n_cm = 0, n_roc = 0, n_md = 0;

	CHECK(json_is_array(outputs), "outputs");
	json_array_foreach(outputs, i, out) {
		const char *type = json_string_value(json_object_get(out, "type"));
		const char *source = json_string_value(json_object_get(out, "source"));
		CHECK(type && source, "output %zu: type and source", i);
		CHECK(!strcmp(json_string_value(json_object_get(out, "storage")), "inline"), "storage");
		if (!type || !source)
			continue;
		if (!strcmp(type, "confusion_matrix")) {
			json_t *schema = json_object_get(out, "schema");
			int lines = 0;
			for (const char *p = source; *p; p++)
				lines += *p == '\n';
			CHECK(lines == crop->k * crop->k, "confusion lines %d", lines);
			CHECK(json_array_size(schema) == 3 && !strcmp(json_string_value(json_object_get(
				json_array_get(schema, 2), "type")), "NUMBER"), "schema");
			CHECK(json_array_size(json_object_get(out, "labels")) == (size_t)crop->k, "labels");
			CHECK(strstr(source, "\"high, dose\",low dose,") != NULL, "csv quoting: %s", source);
			n_cm++;
		} else if (!strcmp(type, "roc")) {
			CHECK(!strcmp(json_string_value(json_object_get(out, "format")), "csv"), "roc format");
			CHECK(json_array_size(json_object_get(out, "schema")) == 3, "roc schema");
			n_roc++;
		} else if (!strcmp(type, "markdown")) {
			CHECK(strstr(source, "weighted F1") != NULL, "markdown headline");
			n_md++;
		}
	}
	CHECK(n_cm == 2 && n_md == 1 && n_roc == 3, "cm %d roc %d md %d", n_cm, n_roc, n_md);
	json_decref(root);
}

static void check_metrics_json(const metrics *crop, const metrics *group)
{
	json_t *root = load_json("out/metrics.json");
	json_t *c = json_object_get(root, "crop"), *g = json_object_get(root, "group");

	CHECK(json_is_object(c) && json_is_object(g), "crop and group objects");
	CHECK(fabs(json_number_value(json_object_get(c, "weighted_f1")) - crop->weighted_f1) < 1e-12, "crop f1");
	CHECK(fabs(json_number_value(json_object_get(g, "accuracy")) - group->accuracy) < 1e-12, "group acc");
	CHECK(json_array_size(json_object_get(c, "per_class")) == 3, "per_class");
	CHECK(json_array_size(json_object_get(c, "roc")) == 3, "roc curves");
	CHECK(json_integer_value(json_object_get(g, "n")) == 24, "group n");
	json_t *cm = json_object_get(c, "confusion");
	CHECK(json_integer_value(json_array_get(json_array_get(cm, 1), 2)) == crop->confusion[5], "confusion");
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(root, "model"), "arch")), "conv 8 3, relu, gap, dense"), "arch");
	json_decref(root);
}

static void check_text_files(const metrics *crop)
{
	char *text = NULL;
	size_t len = 0;
	pl_err err = { 0 };

	CHECK_OK(fs_read_file("out/confusion.csv", 0, &text, &len, &err), &err);
	CHECK(text && !strncmp(text, "level,true,predicted,count\n", 27), "confusion header");
	CHECK(text && strstr(text, "group,control,control,"), "group rows");
	free(text);
	CHECK_OK(fs_read_file("out/roc.csv", 0, &text, &len, &err), &err);
	CHECK(text && !strncmp(text, "fpr,tpr,threshold,class,level\n", 30), "roc header");
	free(text);
	CHECK_OK(fs_read_file("out/report.md", 0, &text, &len, &err), &err);
	int worst = 0;
	for (int i = 0; i < crop->n; i++)
		if (crop->items[i].p_true < crop->items[worst].p_true)
			worst = i;
	CHECK(text && strstr(text, crop->items[worst].name), "worst sample %s", crop->items[worst].name);
	CHECK(text && strstr(text, "conv 8 3, relu, gap, dense") && strstr(text, "3x64x64"), "model");
	CHECK(text && strstr(text, "| high, dose |") && strstr(text, "well-A"), "names");
	CHECK(text && strstr(text, "passed"), "gate line");
	free(text);
}

static void test_report_files(void)
{
	metrics crop, group;
	report_info info = {
		.arch = "conv 8 3, relu, gap, dense", .in_c = 3, .in_h = 64, .in_w = 64,
		.n_train = 300, .n_val = 50, .n_test = 96,
		.gate_metric = "weighted_f1", .gate_min = 0.1, .gate_group_level = 1,
	};
	pl_err err = { 0 };
	img im = { 0 };

	make_report_metrics(&crop, &group);
	CHECK_OK(fs_mkdirs("out", &err), &err);
	CHECK_OK(report_write("out", &crop, &group, &info, &err), &err);
	check_metrics_json(&crop, &group);
	check_kfp_metrics();
	check_kfp_ui(&crop);
	check_text_files(&crop);
	CHECK_OK(img_decode_file("out/confusion.png", NULL, &im, &err), &err);
	CHECK(im.w > 400 && im.h > 300 && im.c == 3, "confusion.png %dx%dx%d", im.w, im.h, im.c);
	img_release(&im);
	CHECK_OK(img_decode_file("out/roc.png", NULL, &im, &err), &err);
	CHECK(im.w > 400 && im.h > 300, "roc.png %dx%d", im.w, im.h);
	img_release(&im);
	/* the SVGs beside them: the class names as text, the curves as lines */
	size_t len;
	char *svg = check_slurp("out/confusion.svg", &len);
	CHECK(svg && strstr(svg, ">high, dose</text>") && strstr(svg, ">low dose</text>"),
	      "confusion.svg lacks the class names");
	free(svg);
	svg = check_slurp("out/roc.svg", &len);
	CHECK(svg && strstr(svg, "<polyline") && strstr(svg, "control vs rest (AUC"),
	      "roc.svg lacks its curves");
	free(svg);
	CHECK(report_write("missing/dir", &crop, NULL, &info, &err) == -PL_EIO,
	      "write into a missing directory");
	CHECK(strstr(err.msg, "missing/dir") != NULL, "%s", err.msg);
	metrics_release(&crop);
	metrics_release(&group);
}

/* One class only in the truth: AUC undefined, left out of the Kubeflow files. */
static void test_report_one_class(void)
{
	static test_case tc;
	metrics crop, group;
	pl_err err = { 0 };

	make_random(&tc, "one", 30, 2, 0.5, 0);
	for (int i = 0; i < tc.n; i++)
		tc.labels[i] = 0;
	metrics_input in = input_of(&tc);
	CHECK_OK(metrics_compute(&in, &crop, &group, &err), &err);
	CHECK(isnan(crop.auc), "auc %g", crop.auc);
	CHECK_OK(report_write(".", &crop, &group, NULL, &err), &err);
	json_t *root = load_json("metrics.json");
	CHECK(json_is_null(json_object_get(json_object_get(root, "crop"), "auc")), "auc not null");
	CHECK(json_is_null(json_object_get(root, "group")), "group not null");
	json_decref(root);
	char *text = NULL;
	size_t len = 0;
	CHECK_OK(fs_read_file("mlpipeline-metrics.json", 0, &text, &len, &err), &err);
	CHECK(text && !strstr(text, "\"auc\"") && strstr(text, "\"accuracy\""), "%s", text);
	free(text);
	CHECK_OK(fs_read_file("mlpipeline-ui-metadata.json", 0, &text, &len, &err), &err);
	CHECK(text && !strstr(text, "\"roc\"") && strstr(text, "confusion_matrix"), "roc output");
	free(text);
	CHECK_OK(fs_read_file("report.md", 0, &text, &len, &err), &err);
	CHECK(text && strstr(text, "| ROC AUC | n/a |"), "auc row");
	free(text);
	metrics_release(&crop);
	metrics_release(&group);
}

int main(void)
{
	RUN(test_known_values);
	RUN(test_bad_input);
	RUN(test_against_sklearn);
	RUN(test_report_files);
	RUN(test_report_one_class);
	return check_report("test_metrics");
}
