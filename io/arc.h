/* Archives (libarchive): safe extraction of tar, tar.gz, tar.zst and zip;
 * reproducible writing of tar.gz and tar.zst; reading entries into memory. */
#ifndef PL_ARC_H
#define PL_ARC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct arc_limits {
	int64_t max_entries;     /* 0 = 1,000,000 */
	int64_t max_entry_bytes; /* 0 = 4 GiB */
	int64_t max_total_bytes; /* 0 = 64 GiB */
} arc_limits;

typedef enum arc_format { ARC_TAR_GZ, ARC_TAR_ZST } arc_format;

/* Returns 1 when the file at path looks like an archive libarchive reads
 * (tar, tar.gz, tar.zst, zip ...), 0 otherwise (including unreadable). */
int arc_is_archive(const char *path);

/* Extracts the archive at path into the existing directory dest. Refuses
 * (PL_EDATA, naming the archive and the entry) absolute paths, `..`
 * components, symlinks or hardlinks resolving outside dest, device files and
 * FIFOs, and a file name that comes twice (a zip may hold two entries of
 * one name); enforces lim (NULL = defaults). Regular files get mode 0644 &
 * ~umask, directories 0755 & ~umask. A truncated or corrupt archive is
 * PL_EDATA. On error dest may hold a partial tree: the caller extracts into
 * a temporary directory. */
int arc_extract(const char *path, const char *dest, const arc_limits *lim,
		pl_err *err);

/* Writes a reproducible archive at out_path of the n files rel_paths[i]
 * (relative to base_dir, regular files only, stored in the given order) with
 * mtime 0, uid/gid 0, owner "root", mode 0644: the same inputs give
 * byte-identical output. The file is written and fsynced before return. */
int arc_pack(const char *out_path, arc_format fmt, const char *base_dir,
	     const char *const *rel_paths, size_t n, pl_err *err);

/* Calls fn for each regular file entry of the archive at path, in archive
 * order, with its name and its whole content in a heap buffer (NUL after
 * the last byte). Non-regular entries are passed with data NULL and len 0.
 * fn returns 0 to go on (data is then freed), ARC_KEEP to go on and keep
 * data (fn's owner frees it with free()), ARC_STOP or ARC_KEEP_STOP to end
 * the walk there (returning 0) freeing or keeping data, or negative (having
 * filled err) to stop; that value is returned. lim bounds sizes and counts
 * as in arc_extract. */
enum { ARC_KEEP = 1, ARC_STOP = 2, ARC_KEEP_STOP = 3 };
typedef int (*arc_entry_fn)(void *ctx, const char *name, void *data,
			    size_t len, pl_err *err);
int arc_foreach(const char *path, const arc_limits *lim, arc_entry_fn fn,
		void *ctx, pl_err *err);

/* Says, from its name, whether a regular entry's data is wanted: 1 to read
 * it and call fn, 0 to skip it unread (fn is not called), ARC_STOP to end
 * the walk, or negative (having filled err) to fail. */
typedef int (*arc_want_fn)(void *ctx, const char *name, pl_err *err);
/* As arc_foreach, reading only the regular entries want (NULL: every one)
 * asks for: the others are neither buffered nor passed to fn. */
int arc_select(const char *path, const arc_limits *lim, arc_want_fn want,
	       arc_entry_fn fn, void *ctx, pl_err *err);

#endif
