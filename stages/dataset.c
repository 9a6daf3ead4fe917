/* Reading prepare's outputs. */
#include "dataset.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/fs.h"

int dataset_read_lines(const char *path, char ***lines, int *n, pl_err *err)
{
	char *text = NULL, *save = NULL;
	size_t len;
	int count = 0, rc;

	*lines = NULL;
	*n = 0;
	if ((rc = fs_read_file(path, 64 << 20, &text, &len, err)) < 0)
		return rc;
	for (size_t i = 0; i < len; i++)
		count += text[i] == '\n';
	if (!(*lines = calloc((size_t)count + 2, sizeof(char *)))) {
		free(text);
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	}
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (!((*lines)[(*n)++] = strdup(l)))
			rc = pl_errorf(err, PL_ENOMEM, "out of memory");
	free(text);
	return rc;
}

void dataset_free_lines(char **lines, int n)
{
	for (int i = 0; lines && i < n; i++)
		free(lines[i]);
	free(lines);
}

int dataset_load(const char *dir, dataset *ds, pl_err *err)
{
	char path[PATH_MAX];
	json_error_t jerr;
	json_t *mean, *std;
	int rc;

	memset(ds, 0, sizeof(*ds));
	if ((rc = fs_path(path, sizeof(path), err, "%s/dataset.json", dir)) < 0)
		return rc;
	if (!(ds->info = json_load_file(path, 0, &jerr)))
		return pl_errorf(err, PL_EDATA, "cannot read '%s': %s", path, jerr.text);
	if (json_unpack(ds->info, "{s:[iii],s:o,s:o}", "shape", &ds->c, &ds->h, &ds->w,
			"mean", &mean, "std", &std) || ds->c < 1 || ds->c > 16 ||
	    (int)json_array_size(mean) != ds->c || (int)json_array_size(std) != ds->c)
		return pl_errorf(err, PL_EDATA, "'%s' is malformed", path);
	for (int k = 0; k < ds->c; k++) {
		ds->mean[k] = (float)json_number_value(json_array_get(mean, (size_t)k));
		ds->std[k] = (float)json_number_value(json_array_get(std, (size_t)k));
	}
	if ((rc = fs_path(path, sizeof(path), err, "%s/labels.txt", dir)) < 0 ||
	    (rc = dataset_read_lines(path, &ds->classes, &ds->n_classes, err)) < 0)
		return rc;
	if ((rc = fs_path(path, sizeof(path), err, "%s/groups.txt", dir)) < 0)
		return rc;
	return dataset_read_lines(path, &ds->groups, &ds->n_groups, err);
}

void dataset_release(dataset *ds)
{
	json_decref(ds->info);
	dataset_free_lines(ds->classes, ds->n_classes);
	dataset_free_lines(ds->groups, ds->n_groups);
	memset(ds, 0, sizeof(*ds));
}

rec_loader *dataset_open_split(const dataset *ds, const char *dir, const char *split,
			       pl_err *err)
{
	json_t *shards = json_object_get(json_object_get(json_object_get(ds->info, "splits"),
							  split), "shards");
	size_t n = json_array_size(shards);
	char **paths = calloc(n + 1, sizeof(char *));
	rec_loader *l = NULL;
	size_t made = 0;
	int rc = 0;

	if (!paths || n == 0) {
		if (paths)
			pl_errorf(err, PL_EDATA, "prepare's dataset.json lists no %s shards", split);
		else
			pl_errorf(err, PL_ENOMEM, "out of memory");
		free(paths);
		return NULL;
	}
	for (; made < n && rc == 0; made++) {
		char path[PATH_MAX];
		if ((rc = fs_path(path, sizeof(path), err, "%s/%s", dir,
				  json_string_value(json_array_get(shards, made)))) == 0 &&
		    !(paths[made] = strdup(path)))
			rc = pl_errorf(err, PL_ENOMEM, "out of memory");
	}
	if (rc == 0)
		l = rec_loader_open((const char *const *)paths, (int)n, err);
	if (l && rec_loader_set_norm(l, ds->mean, ds->std, err) < 0) {
		rec_loader_close(l);
		l = NULL;
		pl_errprefix(err, "prepare's dataset.json: ");
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return l;
}
