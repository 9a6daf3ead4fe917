/* Classification metrics at sample and group level, computed the way
 * scikit-learn 1.2 does (zero_division=0, log loss clipped at 1e-15, ROC with
 * dropped collinear points), so its numbers can be checked against it. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/utf8.h"

#define LOG_LOSS_EPS 1e-15

/* One level's input in double precision. */
typedef struct level_input {
	int n, k;
	const double *probs;            /* n x k */
	const int *labels;              /* n */
	char **names;                   /* n, handed over to the items */
	const int *members;             /* n, or NULL for 1 each */
} level_input;

/* A score and whether its item is a positive, for sorting. */
typedef struct scored {
	double score;
	int positive;
} scored;

static char *str_printf_int(const char *prefix, long long value)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s%lld", prefix, value);
	return utf8_escape(buf);
}

/* Index of the largest entry; the first one on ties, as numpy's argmax. */
static int argmax(const double *p, int k)
{
	int best = 0;

	for (int j = 1; j < k; j++)
		if (p[j] > p[best])
			best = j;
	return best;
}

static int cmp_desc(const void *a, const void *b)
{
	double x = ((const scored *)a)->score, y = ((const scored *)b)->score;

	return (x < y) - (x > y);
}

/* Trapezoidal area under (x, y), as numpy's trapz. */
static double trapezoid(const double *x, const double *y, int n)
{
	double area = 0;

	for (int i = 0; i + 1 < n; i++)
		area += (x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2.0;
	return area;
}

/* Collapses the sorted scores into one point per distinct threshold (fps,
 * tps, thr), drops collinear points and prepends (0, 0); returns the count. */
static int roc_points(const scored *s, int n, double *fps, double *tps,
		      double *thr)
{
	int m = 0, kept = 0;
	double tp = 0;

	for (int i = 0; i < n; i++) {
		tp += s[i].positive;
		if (i + 1 < n && s[i + 1].score == s[i].score)
			continue;
		tps[m + 1] = tp;
		fps[m + 1] = 1.0 + i - tp;
		thr[m + 1] = s[i].score;
		m++;
	}
	for (int i = 1; i <= m; i++) {
		int keep = m <= 2 || i == 1 || i == m ||
			   fps[i + 1] - 2 * fps[i] + fps[i - 1] != 0 ||
			   tps[i + 1] - 2 * tps[i] + tps[i - 1] != 0;
		if (!keep)
			continue;
		kept++;
		fps[kept] = fps[i];
		tps[kept] = tps[i];
		thr[kept] = thr[i];
	}
	fps[0] = tps[0] = 0;
	thr[0] = thr[1] + 1;
	return kept + 1;
}

/* One-vs-rest ROC curve of class cls over in's items. */
static int roc_compute(const level_input *in, int cls, metrics_roc *roc,
		       pl_err *err)
{
	int n = in->n, rc = 0;
	scored *s = malloc((size_t)n * sizeof(*s));

	roc->cls = cls;
	roc->fpr = malloc((size_t)(n + 1) * sizeof(double));
	roc->tpr = malloc((size_t)(n + 1) * sizeof(double));
	roc->thresholds = malloc((size_t)(n + 1) * sizeof(double));
	if (!s || !roc->fpr || !roc->tpr || !roc->thresholds) {
		rc = pl_errorf(err, PL_ENOMEM, "out of memory for a roc curve of %d items", n);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		s[i].score = in->probs[(size_t)i * in->k + cls];
		s[i].positive = in->labels[i] == cls;
	}
	qsort(s, (size_t)n, sizeof(*s), cmp_desc);
	roc->n_points = roc_points(s, n, roc->fpr, roc->tpr, roc->thresholds);
	double neg = roc->fpr[roc->n_points - 1], pos = roc->tpr[roc->n_points - 1];
	for (int i = 0; i < roc->n_points; i++) {
		roc->fpr[i] = neg > 0 ? roc->fpr[i] / neg : NAN;
		roc->tpr[i] = pos > 0 ? roc->tpr[i] / pos : NAN;
	}
	roc->auc = neg > 0 && pos > 0 ?
		trapezoid(roc->fpr, roc->tpr, roc->n_points) : NAN;
out:
	free(s);
	return rc;
}

/* Precision, recall, F1 per class and their means, from the confusion matrix. */
static void per_class_scores(metrics *m)
{
	int k = m->k;
	double recall_sum = 0;
	int present = 0;

	m->macro_precision = m->macro_recall = m->macro_f1 = 0;
	m->weighted_precision = m->weighted_recall = m->weighted_f1 = 0;
	for (int c = 0; c < k; c++) {
		double tp = (double)m->confusion[(size_t)c * k + c];
		double p = m->predicted[c] ? tp / (double)m->predicted[c] : 0;
		double r = m->support[c] ? tp / (double)m->support[c] : 0;

		m->precision[c] = p;
		m->recall[c] = r;
		m->f1[c] = p + r > 0 ? 2 * p * r / (p + r) : 0;
		m->macro_precision += p;
		m->macro_recall += r;
		m->macro_f1 += m->f1[c];
		m->weighted_precision += p * (double)m->support[c];
		m->weighted_recall += r * (double)m->support[c];
		m->weighted_f1 += m->f1[c] * (double)m->support[c];
		if (m->support[c]) {
			recall_sum += r;
			present++;
		}
	}
	m->macro_precision /= k;
	m->macro_recall /= k;
	m->macro_f1 /= k;
	m->weighted_precision /= m->n;
	m->weighted_recall /= m->n;
	m->weighted_f1 /= m->n;
	m->balanced_accuracy = recall_sum / present;
}

/* Log loss as sklearn: clip to [eps, 1-eps], renormalise rows, mean -log p. */
static double log_loss(const level_input *in)
{
	double total = 0;

	for (int i = 0; i < in->n; i++) {
		const double *row = in->probs + (size_t)i * in->k;
		double sum = 0, p_true = 0;

		for (int j = 0; j < in->k; j++) {
			double p = fmin(fmax(row[j], LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
			sum += p;
			if (j == in->labels[i])
				p_true = p;
		}
		total += -log(p_true / sum);
	}
	return total / in->n;
}

static int level_alloc(metrics *m, int n, int k, const char *const *class_names)
{
	size_t kk = (size_t)k;

	m->n = n;
	m->k = k;
	m->class_names = calloc(kk, sizeof(char *));
	m->precision = calloc(kk, sizeof(double));
	m->recall = calloc(kk, sizeof(double));
	m->f1 = calloc(kk, sizeof(double));
	m->support = calloc(kk, sizeof(int64_t));
	m->predicted = calloc(kk, sizeof(int64_t));
	m->confusion = calloc(kk * kk, sizeof(int64_t));
	m->n_roc = k == 2 ? 1 : k;
	m->roc = calloc((size_t)m->n_roc, sizeof(metrics_roc));
	m->items = calloc((size_t)n, sizeof(metrics_item));
	if (!m->class_names || !m->precision || !m->recall || !m->f1 ||
	    !m->support || !m->predicted || !m->confusion || !m->roc || !m->items)
		return -1;
	for (int c = 0; c < k; c++) {
		m->class_names[c] = class_names && class_names[c] ?
			utf8_escape(class_names[c]) : str_printf_int("class ", c);
		if (!m->class_names[c])
			return -1;
	}
	return 0;
}

/* All metrics of one level; takes over in->names. */
static int level_compute(const level_input *in, const char *const *class_names,
			 metrics *m, pl_err *err)
{
	int n = in->n, k = in->k, rc, correct = 0;

	if (level_alloc(m, n, k, class_names) != 0) {
		for (int i = 0; i < n; i++)
			free(in->names[i]);
		return pl_errorf(err, PL_ENOMEM, "out of memory for metrics of %d items", n);
	}
	for (int i = 0; i < n; i++) {
		const double *row = in->probs + (size_t)i * k;
		metrics_item *it = &m->items[i];

		it->name = in->names[i];
		it->y_true = in->labels[i];
		it->y_pred = argmax(row, k);
		it->p_true = row[it->y_true];
		it->p_pred = row[it->y_pred];
		it->n_members = in->members ? in->members[i] : 1;
		m->confusion[(size_t)it->y_true * k + it->y_pred]++;
		m->support[it->y_true]++;
		m->predicted[it->y_pred]++;
		correct += it->y_true == it->y_pred;
	}
	m->accuracy = (double)correct / n;
	per_class_scores(m);
	m->log_loss = log_loss(in);
	for (int r = 0; r < m->n_roc; r++) {
		rc = roc_compute(in, k == 2 ? 1 : r, &m->roc[r], err);
		if (rc != 0)
			return rc;
	}
	if (k == 2) {
		m->auc = m->roc[0].auc;
	} else {
		m->auc = 0;
		for (int r = 0; r < m->n_roc; r++)
			m->auc += m->roc[r].auc;
		m->auc /= m->n_roc;
	}
	return 0;
}

static int check_input(const metrics_input *in, pl_err *err)
{
	if (in->n < 1)
		return pl_errorf(err, PL_EUSAGE, "metrics need at least one sample (the test split is empty)");
	if (in->k < 2)
		return pl_errorf(err, PL_EUSAGE, "metrics need at least two classes, got %d", in->k);
	for (int i = 0; i < in->n; i++) {
		if (in->labels[i] < 0 || in->labels[i] >= in->k)
			return pl_errorf(err, PL_EDATA, "sample %d has label %d, outside 0..%d",
					 i, in->labels[i], in->k - 1);
		for (int j = 0; j < in->k; j++)
			if (!isfinite(in->probs[(size_t)i * in->k + j]))
				return pl_errorf(err, PL_EDATA, "sample %d has a non-finite probability for class %d",
						 i, j);
	}
	return 0;
}

static int sample_level(const metrics_input *in, metrics *samples, pl_err *err)
{
	size_t nk = (size_t)in->n * in->k;
	double *probs = malloc(nk * sizeof(double));
	char **names = calloc((size_t)in->n, sizeof(char *));
	int rc = 0;

	if (!probs || !names)
		goto nomem;
	for (size_t i = 0; i < nk; i++)
		probs[i] = in->probs[i];
	for (int i = 0; i < in->n; i++) {
		const char *name = in->sample_names ? in->sample_names[i] : NULL;
		names[i] = name ? utf8_escape(name) : str_printf_int("sample ", i);
		if (!names[i])
			goto nomem;
	}
	level_input lin = { in->n, in->k, probs, in->labels, names, NULL };
	rc = level_compute(&lin, in->class_names, samples, err);
	goto out;
nomem:
	for (int i = 0; names && i < in->n; i++)
		free(names[i]);
	rc = pl_errorf(err, PL_ENOMEM, "out of memory for metrics of %d samples", in->n);
out:
	free(probs);
	free(names);
	return rc;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Sorted distinct group ids >= 0 into ids; returns their count. */
static int distinct_groups(const metrics_input *in, int *ids)
{
	int n_ids = 0, distinct = 0;

	for (int i = 0; i < in->n; i++)
		if (in->groups[i] >= 0)
			ids[n_ids++] = in->groups[i];
	qsort(ids, (size_t)n_ids, sizeof(int), cmp_int);
	for (int i = 0; i < n_ids; i++)
		if (i == 0 || ids[i] != ids[i - 1])
			ids[distinct++] = ids[i];
	return distinct;
}

static int group_index(const int *ids, int n_ids, int id)
{
	const int *hit = bsearch(&id, ids, (size_t)n_ids, sizeof(int), cmp_int);

	return hit ? (int)(hit - ids) : -1;
}

/* Mean probabilities, majority label, member count and name of each group. */
static int group_aggregate(const metrics_input *in, const int *ids, int n_g,
			   double *probs, int *labels, int *members, char **names)
{
	int k = in->k;
	int *votes = calloc((size_t)n_g * k, sizeof(int));

	if (!votes)
		return -1;
	for (int i = 0; i < in->n; i++) {
		int g = in->groups[i] < 0 ? -1 : group_index(ids, n_g, in->groups[i]);
		if (g < 0)
			continue;
		for (int j = 0; j < k; j++)
			probs[(size_t)g * k + j] += in->probs[(size_t)i * k + j];
		votes[(size_t)g * k + in->labels[i]]++;
		members[g]++;
	}
	for (int g = 0; g < n_g; g++) {
		int best = 0, id = ids[g];

		for (int j = 0; j < k; j++) {
			probs[(size_t)g * k + j] /= members[g];
			if (votes[(size_t)g * k + j] > votes[(size_t)g * k + best])
				best = j;
		}
		labels[g] = best;
		names[g] = id < in->n_group_names && in->group_names && in->group_names[id] ?
			utf8_escape(in->group_names[id]) : str_printf_int("group ", id);
		if (!names[g]) {
			free(votes);
			return -1;
		}
	}
	free(votes);
	return 0;
}

static int group_level(const metrics_input *in, metrics *group, pl_err *err)
{
	int *ids = malloc((size_t)in->n * sizeof(int));
	double *probs = NULL;
	int *labels = NULL, *members = NULL, n_g = 0, rc = 0;
	char **names = NULL;

	if (!ids)
		goto nomem;
	n_g = distinct_groups(in, ids);
	if (n_g == 0)
		goto out;
	probs = calloc((size_t)n_g * in->k, sizeof(double));
	labels = calloc((size_t)n_g, sizeof(int));
	members = calloc((size_t)n_g, sizeof(int));
	names = calloc((size_t)n_g, sizeof(char *));
	if (!probs || !labels || !members || !names ||
	    group_aggregate(in, ids, n_g, probs, labels, members, names) != 0)
		goto nomem;
	level_input lin = { n_g, in->k, probs, labels, names, members };
	rc = level_compute(&lin, in->class_names, group, err);
	free(names);
	names = NULL;
	goto out;
nomem:
	for (int g = 0; names && g < n_g; g++)
		free(names[g]);
	rc = pl_errorf(err, PL_ENOMEM, "out of memory for group metrics of %d samples", in->n);
out:
	free(ids);
	free(probs);
	free(labels);
	free(members);
	free(names);
	return rc;
}

int metrics_compute(const metrics_input *in, metrics *samples, metrics *group,
		    pl_err *err)
{
	int rc;

	memset(samples, 0, sizeof(*samples));
	if (group)
		memset(group, 0, sizeof(*group));
	rc = check_input(in, err);
	if (rc == 0)
		rc = sample_level(in, samples, err);
	if (rc == 0 && group && in->groups)
		rc = group_level(in, group, err);
	return rc;
}

void metrics_release(metrics *m)
{
	if (!m)
		return;
	for (int c = 0; m->class_names && c < m->k; c++)
		free(m->class_names[c]);
	for (int r = 0; m->roc && r < m->n_roc; r++) {
		free(m->roc[r].fpr);
		free(m->roc[r].tpr);
		free(m->roc[r].thresholds);
	}
	for (int i = 0; m->items && i < m->n; i++)
		free(m->items[i].name);
	free(m->class_names);
	free(m->precision);
	free(m->recall);
	free(m->f1);
	free(m->support);
	free(m->predicted);
	free(m->confusion);
	free(m->roc);
	free(m->items);
	memset(m, 0, sizeof(*m));
}

static const char *const metric_names[] = {
	"accuracy", "balanced_accuracy", "macro_precision", "macro_recall",
	"macro_f1", "weighted_precision", "weighted_recall", "weighted_f1",
	"auc", "log_loss", NULL
};

const char *const *metrics_names(void)
{
	return metric_names;
}

int metrics_higher_is_better(const char *name)
{
	return strcmp(name, "log_loss") != 0;
}

int metrics_get(const metrics *m, const char *name, double *out)
{
	const double values[] = {
		m->accuracy, m->balanced_accuracy, m->macro_precision,
		m->macro_recall, m->macro_f1, m->weighted_precision,
		m->weighted_recall, m->weighted_f1, m->auc, m->log_loss
	};

	for (int i = 0; metric_names[i]; i++) {
		if (strcmp(name, metric_names[i]) == 0) {
			*out = m->n > 0 ? values[i] : NAN;
			return 0;
		}
	}
	return -PL_EUSAGE;
}
