/* File-system helpers: checked, durable writes (write, fsync, rename, fsync
 * the directory), recursive mkdir and removal, whole-file reads. */
#ifndef PL_FS_H
#define PL_FS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sys/types.h>

#include "err.h"

/* Formats a path into out (n bytes, normally PATH_MAX), e.g.
 * fs_path(p, sizeof(p), err, "%s/%s", dir, name). A path that does not fit
 * is never cut: returns -PL_EIO with "path too long: 'START...'" instead. */
int fs_path(char *out, size_t n, pl_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Creates dir and its parents with mode 0755 (& ~umask); existing is fine. */
int fs_mkdirs(const char *dir, pl_err *err);

/* Removes path and everything under it; a missing path is fine. */
int fs_rmtree(const char *path, pl_err *err);

/* Writes len bytes to path (created 0644 & ~umask, truncated), fsyncs it.
 * For files inside a directory that is committed later as a whole. */
int fs_write_file(const char *path, const void *data, size_t len, pl_err *err);

/* Replaces path atomically: writes a temporary file beside it (O_EXCL),
 * fsyncs it, renames it over path and fsyncs the directory. */
int fs_write_atomic(const char *path, const void *data, size_t len, pl_err *err);

/* Flushes fp, fsyncs it (a device that cannot sync, like /dev/full, is
 * fine) and closes it: always closed, the first failure reported naming
 * path. */
int fs_fclose_synced(FILE *fp, const char *path, pl_err *err);

/* fsyncs the directory at path. */
int fs_fsync_dir(const char *path, pl_err *err);

/* fsyncs every regular file under dir, then every directory. */
int fs_fsync_tree(const char *dir, pl_err *err);

/* Renames from to to and fsyncs the parent directory of to. */
int fs_rename(const char *from, const char *to, pl_err *err);

/* Reads the whole file at path into a NUL-terminated heap buffer (caller
 * frees); fails with PL_EDATA when it is larger than max bytes (0 = 1 GiB). */
int fs_read_file(const char *path, size_t max, char **data, size_t *len,
		 pl_err *err);

/* Returns 1 when path exists (any type), 0 otherwise. */
int fs_exists(const char *path);

/* Returns 1 when path is a directory. */
int fs_is_dir(const char *path);

/* A folder on the way down a recursive walk, and the folders above it. */
typedef struct fs_visit {
	dev_t dev;
	ino_t ino;
	const struct fs_visit *up;
} fs_visit;

/* Enters the folder at path below up (NULL at the top) into v. Returns 0,
 * or -1 when it is one of the folders above (reached again through links:
 * following them would never end) or cannot be read. */
int fs_visit_enter(fs_visit *v, const fs_visit *up, const char *path);

/* Copies the regular file from to to (fsynced). */
int fs_copy_file(const char *from, const char *to, pl_err *err);

#endif
