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

/* Returns 1 when name ends like an archive's (.tar, .tar.gz, .tgz, .tar.zst,
 * .tzst, .zip, any case); *stem_len (may be NULL) gets the length of the
 * name without that ending. */
int arc_has_archive_name(const char *name, size_t *stem_len);

/* One member of an archive as arc_stream reads it. */
typedef struct arc_member {
	const char *name;   /* its path, an inner archive read as the folder of its
			     * name without extension: "n01440764/a.JPEG" */
	const char *shown;  /* as messages name it: "n01440764.tar:a.JPEG" */
	int is_dir;         /* a folder (or an inner archive's), no data */
	int64_t size;       /* declared size, -1 when not declared */
	int64_t offset;     /* where its bytes lie, uncompressed, in the file
			     * (members of an uncompressed tar, also inside an
			     * uncompressed inner tar of one), or -1 */
} arc_member;

/* What an arc_member_fn answers (or ARC_STOP). */
enum { ARC_SKIP = 0, ARC_READ = 1 };
typedef int (*arc_member_fn)(void *ctx, const arc_member *m, pl_err *err);
typedef int (*arc_take_fn)(void *ctx, const arc_member *m, void *data, size_t len,
			   pl_err *err);

/* Reads the archive at path as a stream, never writing to disk: every
 * folder and regular file member goes to want, in archive order, which
 * answers ARC_SKIP (the data is skipped: seeked over where the archive
 * allows; for an inner archive, all of it), ARC_READ (take then gets the
 * data in a heap buffer with a NUL after it, which take owns from then on,
 * and returns 0 or a negative code), ARC_STOP (the walk ends, 0) or a
 * negative code. Members that are archives (arc_has_archive_name) are
 * read in turn as folders, to a depth of 2: an archive in an inner one is
 * refused. Names are checked as arc_extract checks them (absolute, "..",
 * links leaving the archive, devices, FIFOs) at every level; links inside
 * are not followed (not passed on); lim bounds the entries and the bytes
 * summed over all levels (an inner archive counts by its members). */
int arc_stream(const char *path, const arc_limits *lim, arc_member_fn want, arc_take_fn take,
	       void *ctx, pl_err *err);

#endif
