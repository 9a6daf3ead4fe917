/* JSON files as pipeline writes them, in one format: indented by two
 * spaces, keys in insertion order, reals with 17 significant digits (they
 * read back to the same double), and a trailing newline. */
#ifndef PL_JSON_H
#define PL_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* obj as text in that format (caller frees); *len (may be NULL) gets its
 * length. NULL when obj is NULL or memory runs out. */
char *json_format(const json_t *obj, size_t *len);

/* Writes obj to path with fs_write_file (for files in a directory that is
 * committed later as a whole). A NULL obj (a json_pack that failed) is
 * -PL_ENOMEM naming path. */
int json_write_file(const char *path, const json_t *obj, pl_err *err);

/* As json_write_file, to dir/name; a path too long is -PL_EIO. */
int json_write_in(const char *dir, const char *name, const json_t *obj, pl_err *err);

/* As json_write_file, but replaces path atomically (fs_write_atomic). */
int json_write_atomic(const char *path, const json_t *obj, pl_err *err);

#endif
