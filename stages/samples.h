/* The labelled samples of a source: a folder per class, or a CSV table of
 * channel files, labels and groups. */
#ifndef PL_SAMPLES_H
#define PL_SAMPLES_H

#include "../io/cfg.h"
#include "../io/err.h"
#include "source.h"

typedef struct sample {
	char **files;     /* n_channels paths under the root (owned) */
	int label;        /* index into classes */
	int group;        /* index into groups */
} sample;

typedef struct sample_set {
	int n, n_channels;
	sample *s;
	char **classes;   /* sorted class names */
	int n_classes;
	char **groups;    /* group names (well, or the first file when no group column) */
	int n_groups;
	char **channel_names;  /* table columns, or "image" */
} sample_set;

/* Lists the samples under src->root (on disk, or in the archive's
 * listing) as configured in [dataset]; files are paths under that root.
 * Paths in a table may not leave root. Errors and warnings name the table,
 * line and column, or the folder, as source_shown names them. Free with
 * samples_free. */
int samples_load(const cfg *c, const source *src, sample_set *out, pl_err *err);

void samples_free(sample_set *set);

#endif
