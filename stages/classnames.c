/* Reading a class-names file and naming the classes with it. */
#include "classnames.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../io/fs.h"
#include "../io/utf8.h"

#define CLASSNAMES_MAX_BYTES ((size_t)64 << 20)

typedef struct named { const char *id, *name; } named;

static int cmp_named(const void *a, const void *b)
{
	return strcmp(((const named *)a)->id, ((const named *)b)->id);
}

/* Cuts text into entries (pointers into text, which is modified): one per
 * line that is not blank, the id up to the first blank, the name the rest
 * with its blanks trimmed. Returns the count or a negative error. */
static int parse_lines(char *text, const char *path, named *out, pl_err *err)
{
	int n = 0, line = 0;

	for (char *p = text, *next; p && *p; p = next) {
		char *end = strchr(p, '\n'), *name;
		next = end ? end + 1 : NULL;
		line++;
		if (end)
			*end = '\0';
		if (end && end > p && end[-1] == '\r')
			end[-1] = '\0';
		p += strspn(p, " \t");
		if (!*p)
			continue;
		name = p + strcspn(p, " \t");
		if (*name)
			*name++ = '\0';
		name += strspn(name, " \t");
		for (char *e = name + strlen(name); e > name && (e[-1] == ' ' || e[-1] == '\t');)
			*--e = '\0';
		if (!*name)
			return pl_errorf(err, PL_EDATA, "%s:%d: no name after the id '%s' (expected "
					 "\"ID NAME...\" lines)", path, line, p);
		out[n++] = (named){ p, name };
	}
	return n;
}

/* Looks up each class, checking the file names every one and no id twice. */
static int lookup(named *v, int nv, const char *path, char **classes, int n, const char **found,
		  pl_err *err)
{
	qsort(v, (size_t)nv, sizeof(named), cmp_named);
	for (int i = 1; i < nv; i++)
		if (!strcmp(v[i - 1].id, v[i].id))
			return pl_errorf(err, PL_EDATA, "'%s' names the id '%s' twice", path, v[i].id);
	for (int i = 0; i < n; i++) {
		named key = { classes[i], NULL }, *hit = bsearch(&key, v, (size_t)nv, sizeof(named),
								 cmp_named);
		if (!hit)
			return pl_errorf(err, PL_EDATA, "'%s' has no name for the class '%s' (from "
					 "[dataset] class_names)", path, classes[i]);
		found[i] = hit->name;
	}
	return 0;
}

/* Replaces the ids by the names found, an id after a name classes share. */
static int rename_all(char **classes, int n, const char **found, pl_err *err)
{
	char **out = calloc((size_t)n, sizeof(char *));
	int rc = 0;

	for (int i = 0; out && i < n && rc == 0; i++) {
		int shared = 0;
		for (int j = 0; j < n && !shared; j++)
			shared = j != i && !strcmp(found[i], found[j]);
		size_t len = strlen(found[i]) + strlen(classes[i]) + 4;
		char *both = malloc(len);
		if (both)
			snprintf(both, len, shared ? "%s (%s)" : "%s", found[i], classes[i]);
		if (!both || !(out[i] = utf8_escape(both)))
			rc = -1;
		free(both);
	}
	if (!out || rc < 0) {
		for (int i = 0; out && i < n; i++)
			free(out[i]);
		free(out);
		return pl_errorf(err, PL_ENOMEM, "out of memory naming the classes");
	}
	for (int i = 0; i < n; i++) {
		free(classes[i]);
		classes[i] = out[i];
	}
	free(out);
	return 0;
}

int classnames_apply(const cfg *c, const tree *t, const char *root, char **classes, int n,
		     pl_err *err)
{
	const char *file = cfg_str(c, "dataset", "class_names");
	char path[PATH_MAX], *text = NULL;
	const char **found = NULL;
	named *v = NULL;
	size_t len = 0;
	int rc, nv;

	if (!*file)
		return 0;
	if ((rc = tree_join(path, sizeof(path), err, file[0] == '/' ? "" : root, file)) < 0 ||
	    (rc = tree_read(file[0] == '/' ? NULL : t, path, CLASSNAMES_MAX_BYTES, &text, &len,
			    err)) < 0)
		return pl_errprefix(err, "[dataset] class_names: ");
	v = malloc((len / 2 + 1) * sizeof(named));   /* a line is at least "i n" */
	found = calloc((size_t)n + 1, sizeof(char *));
	if (!v || !found) {
		rc = pl_errorf(err, PL_ENOMEM, "out of memory reading '%s'", path);
		goto out;
	}
	if ((rc = nv = parse_lines(text, path, v, err)) >= 0 &&
	    (rc = lookup(v, nv, path, classes, n, found, err)) == 0)
		rc = rename_all(classes, n, found, err);
out:
	free(v);
	free(found);
	free(text);
	return rc;
}
