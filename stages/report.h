/* The report files of the validate stage, written from its metrics: JSON,
 * CSV, Markdown, plots and the Kubeflow Pipelines UI files. */
#ifndef PL_REPORT_H
#define PL_REPORT_H

#include <stdint.h>

#include "../io/err.h"
#include "metrics.h"

/* What the report says about the run besides the metrics. */
typedef struct report_info {
	const char *arch;               /* model architecture string; may be NULL */
	int in_c, in_h, in_w;           /* model input shape; 0 = unknown */
	int64_t n_train, n_val, n_test; /* samples per split; -1 = unknown */
	const char *gate_metric;        /* gate metric name; NULL = no gate */
	double gate_min;                /* the gate's minimum (maximum for log_loss) */
	int gate_group_level;           /* 1: the gate reads the group level */
	int n_worst;                    /* worst examples listed; 0 = 10 */
} report_info;

/* Writes into the existing directory dir: metrics.json, confusion.csv,
 * roc.csv, confusion.png and .svg, roc.png and .svg, report.md,
 * mlpipeline-metrics.json and mlpipeline-ui-metadata.json (Kubeflow Pipelines v1 output viewers:
 * confusion matrices, one-vs-rest ROC curves, the Markdown report; metric
 * names like "weighted-f1" and "group-weighted-f1", undefined ones left
 * out). confusion.csv has rows level,true,predicted,count and roc.csv
 * rows fpr,tpr,threshold,class,level (level "crop" or "group"); metrics.json
 * nests everything under "crop" and "group" (null without groups), NaN as
 * null. group may be NULL or have n == 0; info may be NULL. Each file is
 * written with fs_write_file (the caller commits the directory). Returns 0
 * or a negative PL_E* code with a message naming the file. */
int report_write(const char *dir, const metrics *samples,
		 const metrics *group, const report_info *info,
		 pl_err *err);

/* Formats the Markdown report into a heap string (caller frees); NULL when
 * out of memory. */
char *report_markdown(const metrics *samples, const metrics *group,
		      const report_info *info);

#endif
