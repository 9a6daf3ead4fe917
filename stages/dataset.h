/* Reading what prepare wrote (dataset.json, labels.txt, shards) for the
 * stages after it. */
#ifndef PL_DATASET_H
#define PL_DATASET_H

#include <jansson.h>

#include "../io/err.h"
#include "../io/rec.h"

typedef struct dataset {
	json_t *info;         /* dataset.json, owned */
	char **classes;       /* labels.txt lines */
	int n_classes;
	char **groups;        /* groups.txt lines */
	int n_groups;
	int c, h, w;          /* sample shape */
	float mean[16], std[16];
} dataset;

/* Loads dataset.json, labels.txt and groups.txt from prepare's directory. */
int dataset_load(const char *dir, dataset *ds, pl_err *err);
void dataset_release(dataset *ds);

/* Opens the shards of split ("train", "val", "test") as a loader with the
 * dataset's standardisation. */
rec_loader *dataset_open_split(const dataset *ds, const char *dir, const char *split,
			       pl_err *err);

/* Reads a file of lines into a NULL-terminated array (caller frees with
 * dataset_free_lines); *n gets the count. */
int dataset_read_lines(const char *path, char ***lines, int *n, pl_err *err);
void dataset_free_lines(char **lines, int n);

#endif
