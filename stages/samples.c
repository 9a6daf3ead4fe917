/* Building the sample list from a folder per class or a CSV table. */
#include "samples.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/csv.h"
#include "../io/fs.h"
#include "../io/img.h"
#include "../io/log.h"
#include "../io/utf8.h"
#include "classnames.h"
#include "preproc.h"

/* A growable list of strings with lookup, for classes and groups. */
typedef struct strlist { char **v; int n, cap; } strlist;

static int strlist_add(strlist *l, const char *s)
{
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 64;
		char **v = realloc(l->v, (size_t)cap * sizeof(char *));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n] = utf8_escape(s)))
		return -1;
	return l->n++;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strs(char **v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void samples_free(sample_set *set)
{
	for (int i = 0; i < set->n; i++)
		free_strs(set->s[i].files, set->n_channels);
	free(set->s);
	free_strs(set->classes, set->n_classes);
	free_strs(set->groups, set->n_groups);
	free_strs(set->channel_names, set->n_channels);
	memset(set, 0, sizeof(*set));
}

/* Appends a sample; files (n_channels strings) are copied. */
static int add_sample(sample_set *set, int *cap, char *const *files, int label, int group)
{
	sample *s;

	if (set->n == *cap) {
		int ncap = *cap ? *cap * 2 : 256;
		sample *v = realloc(set->s, (size_t)ncap * sizeof(sample));
		if (!v)
			return -1;
		set->s = v;
		*cap = ncap;
	}
	s = &set->s[set->n];
	s->label = label;
	s->group = group;
	if (!(s->files = calloc((size_t)set->n_channels, sizeof(char *))))
		return -1;
	set->n++;
	for (int k = 0; k < set->n_channels; k++)
		if (!(s->files[k] = strdup(files[k])))
			return -1;
	return 0;
}

/* What a walk of one class folder adds to. */
typedef struct scan {
	sample_set *set;
	int *cap;
	strlist *groups;
	const source *src;
	int label;
} scan;

/* Adds every image under root/rel (recursively, sorted) as the scan's
 * class; up: the folders above on disk, so that links never lead round in
 * circles (an archive's links are not followed). */
static int scan_class(const scan *sc, const char *rel, const fs_visit *up, pl_err *err)
{
	char path[PATH_MAX], child[PATH_MAX], buf[PATH_MAX + 2048];
	const tree *t = sc->src->tree;
	tree_ent *v = NULL;
	fs_visit here;
	int n = 0, rc = 0;

	if ((rc = tree_join(path, sizeof(path), err, sc->src->root, rel)) < 0)
		return rc;
	if (!t && fs_visit_enter(&here, up, path) < 0) {
		source_shown(sc->src, rel, buf, sizeof(buf));
		log_warn("ignoring '%s': a link to a folder above it", buf);
		return 0;
	}
	if ((rc = tree_list(t, path, &v, &n, err)) < 0)
		return rc;
	for (int i = 0; i < n && rc == 0; i++) {
		char *files[1] = { child };
		if (v[i].name[0] == '.')
			continue;
		if ((rc = fs_path(child, sizeof(child), err, "%s/%s", rel, v[i].name)) < 0)
			continue;
		if (v[i].kind == TREE_DIR)
			rc = scan_class(sc, child, t ? NULL : &here, err);
		else if (v[i].kind != TREE_FILE) {
			source_shown(sc->src, child, buf, sizeof(buf));
			if (img_is_image_name(child))
				log_warn("ignoring '%s': %s", buf, v[i].kind == TREE_OTHER ?
					 "not a regular file" : "cannot be read (a dangling link?)");
		} else if (img_is_image_name(child)) {
			int g = strlist_add(sc->groups, child);
			if (g < 0 || add_sample(sc->set, sc->cap, files, sc->label, g) < 0)
				rc = pl_errorf(err, PL_ENOMEM, "out of memory listing samples");
		}
	}
	tree_list_free(v, n);
	return rc;
}

static int load_folders(sample_set *set, const source *src, pl_err *err)
{
	strlist classes = { 0 }, groups = { 0 };
	char buf[PATH_MAX + 2048];
	tree_ent *v = NULL;
	fs_visit top;
	int n = 0, cap = 0, rc = 0;

	set->n_channels = 1;
	if (!(set->channel_names = calloc(1, sizeof(char *))) ||
	    !(set->channel_names[0] = strdup("image")))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	if (!src->tree && fs_visit_enter(&top, NULL, src->root) < 0)
		return pl_errorf(err, PL_EIO, "cannot list '%s': %s", src->root, strerror(errno));
	if ((rc = tree_list(src->tree, src->root, &v, &n, err)) < 0)
		return rc;
	for (int i = 0; i < n && rc == 0; i++) {
		if (v[i].name[0] == '.' || v[i].kind != TREE_DIR)
			continue;
		scan sc = { set, &cap, &groups, src, strlist_add(&classes, v[i].name) };
		int before = set->n;
		rc = sc.label < 0 ? pl_errorf(err, PL_ENOMEM, "out of memory") :
		     scan_class(&sc, v[i].name, src->tree ? NULL : &top, err);
		if (rc == 0 && set->n == before) {
			/* a folder without images is not a class (docs/, junk/ ...) */
			source_shown(src, v[i].name, buf, sizeof(buf));
			log_warn("ignoring folder '%s': it holds no PNG, JPEG or BMP images", buf);
			free(classes.v[--classes.n]);
			classes.v[classes.n] = NULL;
		}
	}
	tree_list_free(v, n);
	set->classes = classes.v;
	set->n_classes = classes.n;
	set->groups = groups.v;
	set->n_groups = groups.n;
	source_shown(src, "", buf, sizeof(buf));
	if (rc == 0 && set->n_classes == 0)
		rc = pl_errorf(err, PL_EDATA, "'%s' has no class folders (expected one folder of "
			       "images per class, or one archive per class, or set [dataset] "
			       "table)", buf);
	for (int i = 0; rc == 0 && i < set->n_classes; i++)
		if (cfg_word_in(set->classes[i], "train|test|val|valid|validation")) {
			log_warn("a class is named '%s': the folders under '%s' are taken as the "
				 "classes; if they are splits, point [dataset] source at one of them",
				 set->classes[i], buf);
			break;
		}
	return rc;
}

/* Sorts and de-duplicates v (n strings), returning the new count. */
static int sort_unique(char **v, int n)
{
	int out = 0;

	qsort(v, (size_t)n, sizeof(char *), cmp_str);
	for (int i = 0; i < n; i++) {
		if (out && !strcmp(v[out - 1], v[i])) {
			free(v[i]);
			continue;
		}
		v[out++] = v[i];
	}
	return out;
}

/* Index of a table cell's name (escaped as the names are) among v, or -1. */
static int index_of_cell(char *const *v, int n, const char *cell)
{
	char *text = utf8_escape(cell);
	char *const *hit = text ? bsearch(&text, v, (size_t)n, sizeof(char *), cmp_str) : NULL;

	free(text);
	return hit ? (int)(hit - v) : -1;
}

/* Writes path (relative) into out with "." and ".." segments resolved as
 * text; -1 when a ".." climbs above its start, or out is too small. */
static int resolve_rel(const char *path, char *out, size_t n)
{
	size_t len = 0;

	out[0] = '\0';
	while (*path) {
		size_t seg = strcspn(path, "/");
		if (seg == 2 && !strncmp(path, "..", 2)) {
			if (len == 0)
				return -1;
			while (len > 0 && out[len - 1] != '/')
				len--;
			len -= len > 0;   /* the slash before the dropped segment */
			out[len] = '\0';
		} else if (seg && !(seg == 1 && path[0] == '.')) {
			if (len + !!len + seg + 1 > n)
				return -1;
			len += (size_t)snprintf(out + len, n - len, "%s%.*s", len ? "/" : "", (int)seg, path);
		}
		path += seg + (path[seg] == '/');
	}
	return 0;
}

/* Checks a table cell naming a file: relative to the table, inside the
 * data (".." may lead out of the table's folder, not out of the data),
 * a regular file. */
static int check_path(const csv_table *t, int row, const char *col, const char *cell,
		      const source *src, const char *dir, char *out, size_t n, pl_err *err)
{
	char full[PATH_MAX], joined[PATH_MAX];
	int rc;

	if ((rc = fs_path(joined, sizeof(joined), err, "%s%s%s", dir, *dir ? "/" : "", cell)) < 0)
		return rc;
	if (!*cell || cell[0] == '/' || resolve_rel(joined, out, n) < 0 || !*out)
		return pl_errorf(err, PL_EDATA, "'%s' line %d, column %s: '%s' is not a relative "
				 "path inside the data", csv_name(t), csv_line(t, row), col, cell);
	if ((rc = tree_join(full, sizeof(full), err, src->root, out)) < 0)
		return rc;
	int kind = tree_kind(src->tree, full);
	if (kind == TREE_NONE)
		return pl_errorf(err, PL_EDATA, "'%s' line %d, column %s: file '%s' does not exist",
				 csv_name(t), csv_line(t, row), col, cell);
	if (kind != TREE_FILE)
		return pl_errorf(err, PL_EDATA, "'%s' line %d, column %s: '%s' is not a regular file",
				 csv_name(t), csv_line(t, row), col, cell);
	return 0;
}

/* s without leading and trailing blanks (cut in place). */
static char *trim(char *s)
{
	char *end = s + strlen(s);

	while (*s == ' ' || *s == '\t')
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* Finds the table's columns: channels (comma-separated list, names may
 * hold spaces), label, group. */
static int table_columns(const cfg *c, const csv_table *t, sample_set *set, int *cols,
			 int *label_col, int *group_col, pl_err *err)
{
	char list[512], *save = NULL;
	const char *label = cfg_str(c, "dataset", "label_column");
	const char *group = cfg_str(c, "dataset", "group_column");

	snprintf(list, sizeof(list), "%s", cfg_str(c, "dataset", "channels"));
	if (!(set->channel_names = calloc(PREPROC_MAX_CHANNELS, sizeof(char *))))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	int n = 0;
	for (char *col = strtok_r(list, ",", &save); col; col = strtok_r(NULL, ",", &save)) {
		col = trim(col);
		if (!*col)
			continue;
		if (n == PREPROC_MAX_CHANNELS)
			return pl_errorf(err, PL_EUSAGE, "[dataset] channels: more than %d columns",
					 PREPROC_MAX_CHANNELS);
		if ((cols[n] = csv_column(t, col)) < 0)
			return pl_errorf(err, PL_EDATA, "'%s' has no column '%s' (from [dataset] "
					 "channels)", csv_name(t), col);
		if (!(set->channel_names[n++] = utf8_escape(col)))
			return pl_errorf(err, PL_ENOMEM, "out of memory");
		set->n_channels = n;
	}
	if (!n)
		return pl_errorf(err, PL_EUSAGE, "[dataset] channels names no column");
	if ((*label_col = csv_column(t, label)) < 0)
		return pl_errorf(err, PL_EDATA, "'%s' has no label column '%s' (set [dataset] "
				 "label_column)", csv_name(t), label);
	*group_col = *group ? csv_column(t, group) : -1;
	if (*group && *group_col < 0)
		return pl_errorf(err, PL_EDATA, "'%s' has no group column '%s' (set [dataset] "
				 "group_column)", csv_name(t), group);
	return 0;
}

/* Collects the distinct values of column col (or of column alt when col
 * is -1) sorted into *out. */
static int distinct(const csv_table *t, int col, int alt, char ***out, int *n_out)
{
	int rows = csv_rows(t);
	char **v = calloc((size_t)rows + 1, sizeof(char *));

	if (!v)
		return -1;
	for (int r = 0; r < rows; r++)
		if (!(v[r] = utf8_escape(csv_cell(t, r, col >= 0 ? col : alt)))) {
			free_strs(v, r);
			return -1;
		}
	*n_out = sort_unique(v, rows);
	*out = v;
	return 0;
}

static int cmp_sample_file(const void *a, const void *b)
{
	return strcmp((*(const sample *const *)a)->files[0], (*(const sample *const *)b)->files[0]);
}

/* Warns when rows of the table name the same file: each copy would count
 * as a sample of its own. */
static void warn_repeats(const sample_set *set, const char *table)
{
	const sample **v = malloc((size_t)set->n * sizeof(*v));
	const char *example = NULL;
	int repeats = 0;

	if (!v)
		return;
	for (int i = 0; i < set->n; i++)
		v[i] = &set->s[i];
	qsort(v, (size_t)set->n, sizeof(*v), cmp_sample_file);
	for (int i = 1; i < set->n; i++)
		if (!strcmp(v[i]->files[0], v[i - 1]->files[0]) && repeats++ == 0)
			example = v[i]->files[0];
	if (repeats)
		log_warn("'%s' names %d file(s) again in another row (e.g. '%s'); each row counts "
			 "as a sample", table, repeats, example);
	free(v);
}

/* Reads the table at path (under src) as named in messages. */
static int read_table(const source *src, const char *table, csv_table **t, pl_err *err)
{
	char path[PATH_MAX], shown[PATH_MAX + 2048], *text = NULL;
	size_t len = 0;
	int rc;

	if ((rc = tree_join(path, sizeof(path), err, src->root, table)) < 0)
		return rc;
	if (!src->tree)
		return csv_read(path, t, err);
	source_shown(src, table, shown, sizeof(shown));
	if (tree_kind(src->tree, path) == TREE_NONE)
		return pl_errorf(err, PL_EIO, "cannot read '%s': no such file in the archive", shown);
	if ((rc = tree_read(src->tree, path, CSV_MAX_BYTES, &text, &len, err)) == 0)
		rc = csv_parse(text, len, shown, t, err);
	free(text);
	return rc;
}

static int load_table(const cfg *c, const source *src, sample_set *set, pl_err *err)
{
	char dir[PATH_MAX], *files[PREPROC_MAX_CHANNELS], bufs[PREPROC_MAX_CHANNELS][PATH_MAX];
	int cols[PREPROC_MAX_CHANNELS], label_col = -1, group_col = -1, cap = 0, rc;
	const char *table = cfg_str(c, "dataset", "table");
	csv_table *t = NULL;

	if ((rc = fs_path(dir, sizeof(dir), err, "%s", table)) < 0)
		return rc;
	*(strrchr(dir, '/') ? strrchr(dir, '/') : dir) = '\0';
	if ((rc = read_table(src, table, &t, err)) < 0)
		return rc;
	if ((rc = table_columns(c, t, set, cols, &label_col, &group_col, err)) < 0)
		goto out;
	if (csv_rows(t) == 0) {
		rc = pl_errorf(err, PL_EDATA, "'%s' has no rows", csv_name(t));
		goto out;
	}
	if (distinct(t, label_col, label_col, &set->classes, &set->n_classes) < 0 ||
	    distinct(t, group_col, cols[0], &set->groups, &set->n_groups) < 0) {
		rc = pl_errorf(err, PL_ENOMEM, "out of memory reading '%s'", csv_name(t));
		goto out;
	}
	for (int r = 0; r < csv_rows(t) && rc == 0; r++) {
		for (int k = 0; k < set->n_channels && rc == 0; k++) {
			files[k] = bufs[k];
			rc = check_path(t, r, set->channel_names[k], csv_cell(t, r, cols[k]), src,
					dir, bufs[k], PATH_MAX, err);
		}
		if (rc == 0 && !*csv_cell(t, r, label_col))
			rc = pl_errorf(err, PL_EDATA, "'%s' line %d: empty label", csv_name(t),
				       csv_line(t, r));
		if (rc == 0 && group_col >= 0 && !*csv_cell(t, r, group_col))
			rc = pl_errorf(err, PL_EDATA, "'%s' line %d: empty %s (the group column)",
				       csv_name(t), csv_line(t, r), cfg_str(c, "dataset", "group_column"));
		int label = rc ? -1 : index_of_cell(set->classes, set->n_classes,
						       csv_cell(t, r, label_col));
		int group = rc ? -1 : index_of_cell(set->groups, set->n_groups,
						       csv_cell(t, r, group_col >= 0 ? group_col : cols[0]));
		if (rc == 0 && (label < 0 || group < 0 || add_sample(set, &cap, files, label, group) < 0))
			rc = pl_errorf(err, PL_ENOMEM, "out of memory reading '%s'", csv_name(t));
	}
	if (rc == 0)
		warn_repeats(set, csv_name(t));
out:
	csv_free(t);
	return rc;
}

int samples_load(const cfg *c, const source *src, sample_set *out, pl_err *err)
{
	char shown[PATH_MAX + 2048];
	int rc;

	memset(out, 0, sizeof(*out));
	source_shown(src, "", shown, sizeof(shown));
	rc = *cfg_str(c, "dataset", "table") ? load_table(c, src, out, err) :
	     load_folders(out, src, err);
	if (rc == 0 && out->n == 0)
		rc = pl_errorf(err, PL_EDATA, "no images found under '%s'", shown);
	if (rc == 0 && out->n_classes == 1)
		rc = pl_errorf(err, PL_EDATA, "only one class ('%s') under '%s': a classifier "
			       "needs at least two", out->classes[0], shown);
	if (rc == 0)
		rc = classnames_apply(c, src->tree, src->root, out->classes, out->n_classes, err);
	if (rc < 0)
		samples_free(out);
	return rc;
}
