/* The one JSON file format of json.h. */
#include "json.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

#define JSON_FILE_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17))

char *json_format(const json_t *obj, size_t *len)
{
	char *text = obj ? json_dumps(obj, JSON_FILE_FLAGS) : NULL, *grown;
	size_t n;

	if (!text)
		return NULL;
	n = strlen(text);
	if (!(grown = realloc(text, n + 2))) {
		free(text);
		return NULL;
	}
	grown[n++] = '\n';
	grown[n] = '\0';
	if (len)
		*len = n;
	return grown;
}

/* Formats obj and writes it with write (fs_write_file or fs_write_atomic). */
static int write_with(int (*write)(const char *, const void *, size_t, pl_err *),
		      const char *path, const json_t *obj, pl_err *err)
{
	size_t len;
	char *text = json_format(obj, &len);
	int rc;

	if (!text)
		return pl_errorf(err, PL_ENOMEM, "out of memory writing '%s'", path);
	rc = write(path, text, len, err);
	free(text);
	return rc;
}

int json_write_file(const char *path, const json_t *obj, pl_err *err)
{
	return write_with(fs_write_file, path, obj, err);
}

int json_write_in(const char *dir, const char *name, const json_t *obj, pl_err *err)
{
	char path[PATH_MAX];
	int rc = fs_path(path, sizeof(path), err, "%s/%s", dir, name);

	return rc ? rc : write_with(fs_write_file, path, obj, err);
}

int json_write_atomic(const char *path, const json_t *obj, pl_err *err)
{
	return write_with(fs_write_atomic, path, obj, err);
}
