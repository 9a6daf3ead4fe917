/* Classification metrics of the validate stage (accuracy, balanced accuracy,
 * per-class precision/recall/F1, confusion matrix, log loss, ROC and AUC, at
 * sample and group level, computed as scikit-learn does). */
#ifndef PL_METRICS_H
#define PL_METRICS_H

#include <stdint.h>

#include "../io/err.h"

/* What was predicted: n samples of k classes. */
typedef struct metrics_input {
	int n;                          /* samples, >= 1 */
	int k;                          /* classes, >= 2 */
	const float *probs;             /* n x k class probabilities, rows sum to 1 */
	const int *labels;              /* n true labels, 0..k-1 */
	const int *groups;              /* n group ids >= 0, -1 = no group; may be NULL */
	const char *const *sample_names; /* n names (file, well/tile); may be NULL */
	const char *const *class_names; /* k names; may be NULL ("class 0" ...) */
	const char *const *group_names; /* names indexed by group id; may be NULL */
	int n_group_names;              /* entries in group_names */
} metrics_input;

/* One ROC curve (one-vs-rest for class `cls`), as sklearn's roc_curve with
 * drop_intermediate: the first threshold is the highest score + 1. */
typedef struct metrics_roc {
	int cls;                        /* the positive class */
	int n_points;                   /* entries in fpr, tpr, thresholds */
	double *fpr, *tpr, *thresholds; /* owned */
	double auc;                     /* NaN when undefined (one class only) */
} metrics_roc;

/* One evaluated item (a sample, or a group with averaged probabilities). */
typedef struct metrics_item {
	char *name;                     /* owned */
	int y_true, y_pred;
	double p_true;                  /* probability given to the true class */
	double p_pred;                  /* probability of the predicted class */
	int n_members;                  /* samples in a group; 1 for a sample */
} metrics_item;

/* Metrics at one level (samples or groups). Undefined values are NaN. */
typedef struct metrics {
	int n;                          /* items evaluated; 0 = level absent */
	int k;                          /* classes */
	char **class_names;             /* k owned strings */
	double accuracy;
	double balanced_accuracy;       /* mean recall over classes present */
	double *precision, *recall, *f1; /* k each; 0 when undefined (zero_division=0) */
	int64_t *support;               /* k: true items per class */
	int64_t *predicted;             /* k: items predicted as each class */
	double macro_precision, macro_recall, macro_f1;
	double weighted_precision, weighted_recall, weighted_f1;
	int64_t *confusion;             /* k x k, rows = true, columns = predicted */
	double log_loss;                /* probabilities clipped to [1e-15, 1-1e-15] */
	double auc;                     /* binary: class 1; k > 2: macro one-vs-rest */
	int n_roc;                      /* 1 when k == 2, else k */
	metrics_roc *roc;               /* n_roc curves */
	metrics_item *items;            /* n items in input order */
} metrics;

/* Computes sample-level metrics into *samples and, when group is not NULL and
 * some sample has a group id >= 0, group-level metrics into *group: the
 * probabilities of a group's samples are averaged, its true label is the
 * most frequent one (ties: lowest index); samples with id -1 are left out.
 * Otherwise group->n is 0. Both are released by the caller with
 * metrics_release (also after a failure). Errors: PL_EUSAGE for n < 1 or
 * k < 2, PL_EDATA for a label out of range or a non-finite probability,
 * PL_ENOMEM. */
int metrics_compute(const metrics_input *in, metrics *samples, metrics *group,
		    pl_err *err);

/* Frees what m owns and zeroes it; NULL and zeroed structs are fine. */
void metrics_release(metrics *m);

/* Looks up a headline metric by name ("accuracy", "balanced_accuracy",
 * "macro_precision", "macro_recall", "macro_f1", "weighted_precision",
 * "weighted_recall", "weighted_f1", "auc", "log_loss"). Returns 0 and sets
 * *out (NaN when the metric is undefined, e.g. AUC with one class present),
 * or -PL_EUSAGE for an unknown name. */
int metrics_get(const metrics *m, const char *name, double *out);

/* The names metrics_get knows, NULL-terminated (for configuration checks). */
const char *const *metrics_names(void);

/* 1 when a larger value of the named metric is better, 0 for log_loss. */
int metrics_higher_is_better(const char *name);

#endif
