/* Archives through libarchive: extraction that checks every entry against
 * the target directory and the size limits before anything touches the
 * disk, reproducible tar.gz / tar.zst packing, and in-memory reading. */
#include "arc.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs.h"

#define ARC_BLOCK (64 * 1024)

/* State of one extraction or foreach pass. */
typedef struct arc_walk {
	const char *path;      /* the archive, for messages */
	const char *dest;      /* target directory as written in joined paths */
	arc_limits lim;
	int64_t n_entries;
	int64_t total_bytes;
	int64_t disk_free;     /* > 0: max_total_bytes was lowered to fit the disk, */
	int64_t keep_free;     /* ... leaving this much free */
	pl_err *err;
	json_t *seen;          /* names of the entries extracted so far (not folders) */
} arc_walk;

#define ARC_KEEP_FREE ((int64_t)64 << 20)   /* left free on the target disk ... */

/* Lowers the total limit to what the target's file system can take, less
 * ARC_KEEP_FREE (or an eighth of the free space, if less), so a bomb ends
 * in a clear error and not a full disk. */
static void fit_disk(arc_walk *w, const char *dest)
{
	struct statvfs fs;

	if (statvfs(dest, &fs) != 0)
		return;
	int64_t free_bytes = (int64_t)fs.f_bavail * (int64_t)fs.f_frsize;
	int64_t keep = free_bytes / 8 < ARC_KEEP_FREE ? free_bytes / 8 : ARC_KEEP_FREE;
	if (free_bytes - keep < w->lim.max_total_bytes) {
		w->disk_free = free_bytes;
		w->keep_free = keep;
		w->lim.max_total_bytes = free_bytes - keep;
	}
}

/* The total limit was passed at entry name. */
static int total_error(arc_walk *w, const char *name)
{
	if (w->disk_free)
		return pl_errorf(w->err, PL_EIO, "'%s': entries add up to more than the %lld bytes "
				 "free on the target disk (at '%s'; %lld KiB are kept free)", w->path,
				 (long long)w->disk_free, name, (long long)(w->keep_free >> 10));
	return pl_errorf(w->err, PL_EDATA, "'%s': entries add up to more than the limit of "
			 "%lld bytes (at '%s')", w->path, (long long)w->lim.max_total_bytes, name);
}

/* libarchive may have no message; never pass NULL to printf. */
static const char *arc_msg(struct archive *a)
{
	const char *msg = archive_error_string(a);

	return msg ? msg : "unknown error";
}

static void limits_fill(arc_limits *out, const arc_limits *in)
{
	*out = in ? *in : (arc_limits){0};
	if (out->max_entries <= 0)
		out->max_entries = 1000000;
	if (out->max_entry_bytes <= 0)
		out->max_entry_bytes = (int64_t)4 << 30;
	if (out->max_total_bytes <= 0)
		out->max_total_bytes = (int64_t)64 << 30;
}

/* I/O failures (full disk, permissions) are PL_EIO; the rest is the data. */
static int errno_code(int e)
{
	return (e == ENOSPC || e == EDQUOT || e == EIO || e == EROFS ||
		e == EACCES || e == EPERM || e == EMFILE || e == ENFILE) ?
		PL_EIO : PL_EDATA;
}

/* The formats read: tar (and its compressed forms, through every filter)
 * and zip. Not format_all: its mtree reader takes a plain text file for
 * an archive. */
static void support_formats(struct archive *a)
{
	archive_read_support_format_tar(a);
	archive_read_support_format_zip(a);
	archive_read_support_filter_all(a);
}

static int open_reader(const char *path, struct archive **out, pl_err *err)
{
	struct archive *a = archive_read_new();
	int e;

	*out = NULL;
	if (!a)
		return pl_errorf(err, PL_ENOMEM, "cannot read '%s': out of memory", path);
	support_formats(a);
	if (archive_read_open_filename(a, path, ARC_BLOCK) != ARCHIVE_OK) {
		e = archive_errno(a);
		if (e == ENOENT || e == EACCES || e == EISDIR || e == EIO)
			pl_errorf(err, PL_EIO, "cannot open archive '%s': %s", path,
				  arc_msg(a));
		else
			pl_errorf(err, PL_EDATA, "'%s' is not a readable archive "
				  "(tar, tar.gz, tar.zst, zip): %s", path,
				  arc_msg(a));
		archive_read_free(a);
		return -err->code;
	}
	*out = a;
	return 0;
}

/* Reads the next header: 1 with an entry, 0 at the end, negative on error. */
static int next_header(struct archive *a, const char *path,
		       struct archive_entry **entry, pl_err *err)
{
	int r = archive_read_next_header(a, entry);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
		return 1;
	return pl_errorf(err, PL_EDATA, "'%s': corrupt or truncated archive: %s",
			 path, arc_msg(a));
}

static const char *entry_name(struct archive_entry *entry)
{
	const char *name = archive_entry_pathname(entry);

	if (!name)
		name = archive_entry_pathname_utf8(entry);
	return name;
}

/* Skips leading "./" so "./a/b" and "a/b" are the same entry. */
static const char *skip_dot_slash(const char *name)
{
	while (name[0] == '.' && name[1] == '/') {
		name += 2;
		while (*name == '/')
			name++;
	}
	return name;
}

/* Returns 1 when the '/'-separated path has a ".." component. */
static int has_dotdot(const char *p)
{
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p += len;
		while (*p == '/')
			p++;
	}
	return 0;
}

/* Entry names must be relative and free of "..". */
static int check_name(const arc_walk *w, const char *name)
{
	if (name[0] == '/')
		return pl_errorf(w->err, PL_EDATA, "'%s': entry '%s' has an absolute "
				 "path", w->path, name);
	if (has_dotdot(name))
		return pl_errorf(w->err, PL_EDATA, "'%s': entry '%s' escapes the "
				 "target directory", w->path, name);
	return 0;
}

/* A symlink target is resolved against the link's directory. Only leading
 * ".." are accepted: a ".." after a name could climb out through another
 * link, so it is refused even when it would stay inside. */
static int check_symlink(const arc_walk *w, const char *name, const char *target)
{
	int depth = 0, seen_name = 0;
	const char *p;

	if (!target || !*target || target[0] == '/')
		goto outside;
	for (p = name; *p; ) {     /* depth of the link's directory */
		size_t len = strcspn(p, "/");

		if (p[len] == '\0')
			break;
		if (!(len == 1 && p[0] == '.'))
			depth++;
		p += len;
		while (*p == '/')
			p++;
	}
	for (p = target; *p; ) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (seen_name)
				return pl_errorf(w->err, PL_EDATA, "'%s': symbolic link "
						 "'%s' -> '%s' has '..' after a name "
						 "and may leave the target directory",
						 w->path, name, target);
			if (--depth < 0)
				goto outside;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			seen_name = 1;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	return 0;
outside:
	return pl_errorf(w->err, PL_EDATA, "'%s': symbolic link '%s' -> '%s' "
			 "points outside the target directory", w->path, name,
			 target ? target : "");
}

/* dest/name into out (fs_path); an entry whose path does not fit is bad data. */
static int join_path(const arc_walk *w, const char *name, char *out, size_t n)
{
	if (fs_path(out, n, NULL, "%s/%s", w->dest, name) < 0)
		return pl_errorf(w->err, PL_EDATA, "'%s': entry '%s' has a path "
				 "that is too long", w->path, name);
	return 0;
}

/* A hard link must name a regular file extracted before it. */
static int check_hardlink(const arc_walk *w, const char *name, const char *target)
{
	char full[PATH_MAX];
	struct stat st;

	target = skip_dot_slash(target);
	if (!*target || target[0] == '/' || has_dotdot(target))
		return pl_errorf(w->err, PL_EDATA, "'%s': hard link '%s' -> '%s' "
				 "points outside the target directory", w->path,
				 name, target);
	if (join_path(w, target, full, sizeof(full)) < 0)
		return -PL_EDATA;
	if (lstat(full, &st) != 0 || !S_ISREG(st.st_mode))
		return pl_errorf(w->err, PL_EDATA, "'%s': hard link '%s' -> '%s' "
				 "does not name a file extracted before it",
				 w->path, name, target);
	return 0;
}

/* A hard link read as a stream is not followed; its target must still
 * name a member inside the archive. */
static int check_link_name(const arc_walk *w, const char *name, const char *target)
{
	target = skip_dot_slash(target);
	if (!*target || target[0] == '/' || has_dotdot(target))
		return pl_errorf(w->err, PL_EDATA, "'%s': hard link '%s' -> '%s' "
				 "points outside the archive", w->path, name, target);
	return 0;
}

/* No directory on the way to the entry may be a symlink (archive_write_disk
 * refuses that too; this gives the message in our words). */
static int check_parents(const arc_walk *w, const char *name)
{
	char full[PATH_MAX];
	size_t base = strlen(w->dest) + 1;
	struct stat st;
	char *slash;

	if (join_path(w, name, full, sizeof(full)) < 0)
		return -PL_EDATA;
	for (slash = strchr(full + base, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (lstat(full, &st) == 0 && S_ISLNK(st.st_mode))
			return pl_errorf(w->err, PL_EDATA, "'%s': entry '%s' would be "
					 "written through the symbolic link '%s'",
					 w->path, name, full + base);
		*slash = '/';
	}
	return 0;
}

/* Counts the entry and its declared size against the limits. */
static int check_limits(arc_walk *w, struct archive_entry *entry,
			const char *name)
{
	int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;

	if (++w->n_entries > w->lim.max_entries)
		return pl_errorf(w->err, PL_EDATA, "'%s': more than %lld entries "
				 "(the limit)", w->path, (long long)w->lim.max_entries);
	if (size > w->lim.max_entry_bytes)
		return pl_errorf(w->err, PL_EDATA, "'%s': entry '%s' is %lld bytes, "
				 "over the limit of %lld bytes per entry", w->path,
				 name, (long long)size, (long long)w->lim.max_entry_bytes);
	if (size > w->lim.max_total_bytes - w->total_bytes)
		return total_error(w, name);
	return 0;
}

/* Counts bytes actually read: headers may lie about sizes. */
static int count_bytes(arc_walk *w, const char *name, int64_t *entry_bytes,
		       size_t len)
{
	*entry_bytes += (int64_t)len;
	w->total_bytes += (int64_t)len;
	if (*entry_bytes > w->lim.max_entry_bytes)
		return pl_errorf(w->err, PL_EDATA, "'%s': entry '%s' is over the "
				 "limit of %lld bytes per entry", w->path, name,
				 (long long)w->lim.max_entry_bytes);
	if (w->total_bytes > w->lim.max_total_bytes)
		return total_error(w, name);
	return 0;
}

/* Checks one entry: name, type, links, limits. */
static int check_entry(arc_walk *w, struct archive_entry *entry,
		       const char *name)
{
	mode_t type = archive_entry_filetype(entry);
	const char *hardlink = archive_entry_hardlink(entry);
	int rc;

	if ((rc = check_name(w, name)) < 0 || (rc = check_limits(w, entry, name)) < 0)
		return rc;
	if (hardlink)
		return w->dest ? check_hardlink(w, name, hardlink) : check_link_name(w, name, hardlink);
	if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(entry);

		if (!target)
			target = archive_entry_symlink_utf8(entry);
		return check_symlink(w, name, target);
	}
	if (type == AE_IFCHR || type == AE_IFBLK)
		return pl_errorf(w->err, PL_EDATA, "'%s': entry '%s' is a device "
				 "file", w->path, name);
	if (type == AE_IFIFO)
		return pl_errorf(w->err, PL_EDATA, "'%s': entry '%s' is a FIFO",
				 w->path, name);
	if (type != AE_IFREG && type != AE_IFDIR)
		return pl_errorf(w->err, PL_EDATA, "'%s': entry '%s' has an "
				 "unsupported type (0%o)", w->path, name, (unsigned)type);
	return 0;
}

static int write_failed(const arc_walk *w, struct archive *out, const char *name)
{
	int e = archive_errno(out);

	return pl_errorf(w->err, errno_code(e), "'%s': cannot extract entry '%s': %s",
			 w->path, name, arc_msg(out));
}

static int read_failed(const arc_walk *w, struct archive *in, const char *name)
{
	return pl_errorf(w->err, PL_EDATA, "'%s': cannot read entry '%s' (corrupt "
			 "or truncated archive?): %s", w->path, name, arc_msg(in));
}

static int copy_data(arc_walk *w, struct archive *in, struct archive *out,
		     const char *name)
{
	int64_t entry_bytes = 0;
	const void *buf;
	size_t len;
	la_int64_t offset;
	int r, rc;

	for (;;) {
		r = archive_read_data_block(in, &buf, &len, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return read_failed(w, in, name);
		if ((rc = count_bytes(w, name, &entry_bytes, len)) < 0)
			return rc;
		if (archive_write_data_block(out, buf, len, offset) < ARCHIVE_WARN)
			return write_failed(w, out, name);
	}
}

/* An archive holding one name twice (a zip can) is ambiguous: which copy
 * is the data? It is refused, naming the entry, rather than letting the
 * last copy win in silence. Folders may repeat. */
static int check_duplicate(arc_walk *w, const char *name, mode_t type)
{
	if (type == AE_IFDIR)
		return 0;
	if (json_object_get(w->seen, name))
		return pl_errorf(w->err, PL_EDATA, "'%s': entry '%s' appears twice in the "
				 "archive (which copy is the data? repack it with one)", w->path, name);
	if (json_object_set_new(w->seen, name, json_true()) != 0)
		return pl_errorf(w->err, PL_ENOMEM, "'%s': out of memory", w->path);
	return 0;
}

/* Rewrites the entry to land under dest with our modes, then writes it. */
static int extract_entry(arc_walk *w, struct archive *in, struct archive *out,
			 struct archive_entry *entry, const char *name)
{
	char full[PATH_MAX], link_full[PATH_MAX];
	const char *hardlink = archive_entry_hardlink(entry);
	int rc;

	if ((rc = check_parents(w, name)) < 0 ||
	    (rc = join_path(w, name, full, sizeof(full))) < 0)
		return rc;
	if ((rc = check_duplicate(w, name, archive_entry_filetype(entry))) < 0)
		return rc;
	archive_entry_copy_pathname(entry, full);
	if (hardlink) {
		if ((rc = join_path(w, skip_dot_slash(hardlink), link_full,
				    sizeof(link_full))) < 0)
			return rc;
		archive_entry_copy_hardlink(entry, link_full);
	}
	if (archive_entry_filetype(entry) == AE_IFDIR)
		archive_entry_set_perm(entry, 0755);
	else if (archive_entry_filetype(entry) == AE_IFREG)
		archive_entry_set_perm(entry, 0644);
	if (archive_write_header(out, entry) < ARCHIVE_WARN)
		return write_failed(w, out, name);
	if (archive_entry_filetype(entry) == AE_IFREG &&
	    (rc = copy_data(w, in, out, name)) < 0)
		return rc;
	if (archive_write_finish_entry(out) < ARCHIVE_WARN)
		return write_failed(w, out, name);
	return 0;
}

/* Sets w->dest to dest relative to the working directory when it lies
 * below it (so absolute paths can be refused outright), else absolute. */
static int resolve_dest(const char *dest, char *buf, size_t n, int *relative,
			pl_err *err)
{
	char real[PATH_MAX], cwd[PATH_MAX];
	size_t cwd_len;

	if (!realpath(dest, real))
		return pl_errorf(err, PL_EIO, "cannot use target directory '%s': %s",
				 dest, strerror(errno));
	*relative = 0;
	if (getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/") != 0) {
		cwd_len = strlen(cwd);
		if (strncmp(real, cwd, cwd_len) == 0 && real[cwd_len] == '/') {
			*relative = 1;
			return fs_path(buf, n, err, "%s", real + cwd_len + 1);
		}
		if (strcmp(real, cwd) == 0) {
			*relative = 1;
			return fs_path(buf, n, err, ".");
		}
	}
	return fs_path(buf, n, err, "%s", real);
}

static struct archive *open_writer(int relative)
{
	struct archive *out = archive_write_disk_new();
	int flags = ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS;

	if (!out)
		return NULL;
	if (relative)
		flags |= ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
	archive_write_disk_set_options(out, flags);
	return out;
}

int arc_extract(const char *path, const char *dest, const arc_limits *lim,
		pl_err *err)
{
	struct archive *in = NULL, *out = NULL;
	struct archive_entry *entry;
	char dest_buf[PATH_MAX], name_buf[PATH_MAX];
	arc_walk w = { .path = path, .dest = dest_buf, .err = err, .seen = json_object() };
	const char *name;
	int rc, relative = 0;

	limits_fill(&w.lim, lim);
	if (!w.seen)
		return pl_errorf(err, PL_ENOMEM, "cannot extract '%s': out of memory", path);
	if ((rc = resolve_dest(dest, dest_buf, sizeof(dest_buf), &relative, err)) < 0 ||
	    (rc = open_reader(path, &in, err)) < 0)
		goto out;
	fit_disk(&w, dest_buf);
	if (!(out = open_writer(relative))) {
		rc = pl_errorf(err, PL_ENOMEM, "cannot extract '%s': out of memory", path);
		goto out;
	}
	while ((rc = next_header(in, path, &entry, err)) > 0) {
		if (!(name = entry_name(entry))) {
			rc = pl_errorf(err, PL_EDATA, "'%s': an entry has a name that "
				       "cannot be decoded", path);
			goto out;
		}
		/* extract_entry rewrites the entry's pathname: keep a copy */
		if (fs_path(name_buf, sizeof(name_buf), NULL, "%s", skip_dot_slash(name)) < 0) {
			rc = pl_errorf(err, PL_EDATA, "'%s': entry '%.200s...' has a "
				       "path that is too long", path, name);
			goto out;
		}
		if (!*name_buf || strcmp(name_buf, ".") == 0)
			continue;
		if ((rc = check_entry(&w, entry, name_buf)) < 0 ||
		    (rc = extract_entry(&w, in, out, entry, name_buf)) < 0)
			goto out;
	}
	if (rc == 0 && archive_write_close(out) != ARCHIVE_OK)
		rc = pl_errorf(err, errno_code(archive_errno(out)), "cannot finish "
			       "extracting '%s': %s", path, arc_msg(out));
out:
	if (out)
		archive_write_free(out);
	if (in)
		archive_read_free(in);
	json_decref(w.seen);
	return rc < 0 ? rc : 0;
}

int arc_is_archive(const char *path)
{
	struct archive *a;
	struct archive_entry *entry;
	struct stat st;
	int ok = 0, r;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		return 0;
	if (!(a = archive_read_new()))
		return 0;
	support_formats(a);
	if (archive_read_open_filename(a, path, ARC_BLOCK) == ARCHIVE_OK) {
		r = archive_read_next_header(a, &entry);
		ok = (r == ARCHIVE_OK || r == ARCHIVE_WARN) &&
		     archive_format(a) != ARCHIVE_FORMAT_EMPTY;
	}
	archive_read_free(a);
	return ok;
}

/* Reads the current entry's data into a growing heap buffer. */
/* Reads the entry's data into one heap buffer: sized from the header when
 * it declares a size (checked against the limits already), grown otherwise;
 * libarchive decompresses straight into it. */
static int read_entry_data(arc_walk *w, struct archive *in, struct archive_entry *entry,
			   const char *name, char **data, size_t *len)
{
	size_t cap = archive_entry_size_is_set(entry) ? (size_t)archive_entry_size(entry) + 1 :
		     ARC_BLOCK, n = 0;
	char *buf = malloc(cap), *grown;
	int64_t entry_bytes = 0;
	la_ssize_t got;
	int rc = 0;

	if (!buf)
		return pl_errorf(w->err, PL_ENOMEM, "'%s': entry '%s': out of memory", w->path, name);
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			if (!(grown = realloc(buf, cap))) {
				rc = pl_errorf(w->err, PL_ENOMEM, "'%s': entry '%s': out "
					       "of memory", w->path, name);
				goto out;
			}
			buf = grown;
		}
		got = archive_read_data(in, buf + n, cap - n - 1);
		if (got == 0)
			break;
		if (got < 0) {
			rc = read_failed(w, in, name);
			goto out;
		}
		if ((rc = count_bytes(w, name, &entry_bytes, (size_t)got)) < 0)
			goto out;
		n += (size_t)got;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	return rc;
}

int arc_foreach(const char *path, const arc_limits *lim, arc_entry_fn fn,
		void *ctx, pl_err *err)
{
	return arc_select(path, lim, NULL, fn, ctx, err);
}

int arc_select(const char *path, const arc_limits *lim, arc_want_fn want,
	       arc_entry_fn fn, void *ctx, pl_err *err)
{
	struct archive *in = NULL;
	struct archive_entry *entry;
	arc_walk w = { .path = path, .err = err };
	const char *name;
	char *data = NULL;
	size_t len = 0;
	int rc;

	limits_fill(&w.lim, lim);
	if ((rc = open_reader(path, &in, err)) < 0)
		goto out;
	while ((rc = next_header(in, path, &entry, err)) > 0) {
		if (!(name = entry_name(entry))) {
			rc = pl_errorf(err, PL_EDATA, "'%s': an entry has a name that "
				       "cannot be decoded", path);
			goto out;
		}
		if ((rc = check_limits(&w, entry, name)) < 0)
			goto out;
		if (archive_entry_filetype(entry) != AE_IFREG ||
		    archive_entry_hardlink(entry)) {
			rc = fn(ctx, name, NULL, 0, err);
		} else if (!want || (rc = want(ctx, name, err)) == 1) {
			/* (data declined is skipped by libarchive at the next header) */
			if ((rc = read_entry_data(&w, in, entry, name, &data, &len)) < 0)
				goto out;
			rc = fn(ctx, name, data, len, err);
			if (rc != ARC_KEEP && rc != ARC_KEEP_STOP)
				free(data);
			data = NULL;
		}
		if (rc < 0 || rc == ARC_STOP || rc == ARC_KEEP_STOP)
			goto out;
	}
out:
	if (in)
		archive_read_free(in);
	return rc < 0 ? rc : 0;
}

/* Everything but the name and size is fixed, so output depends on content. */
static void normalise_entry(struct archive_entry *entry, const char *rel,
			    int64_t size)
{
	archive_entry_set_pathname(entry, rel);
	archive_entry_set_filetype(entry, AE_IFREG);
	archive_entry_set_perm(entry, 0644);
	archive_entry_set_size(entry, size);
	archive_entry_set_mtime(entry, 0, 0);
	archive_entry_set_uid(entry, 0);
	archive_entry_set_gid(entry, 0);
	archive_entry_set_uname(entry, "root");
	archive_entry_set_gname(entry, "root");
}

/* Adds one input file as a normalised entry. */
static int pack_one(struct archive *a, const char *out_path, const char *base_dir,
		    const char *rel, pl_err *err)
{
	char full[PATH_MAX], *buf = NULL;
	struct archive_entry *entry = NULL;
	struct stat st;
	int64_t left;
	ssize_t got;
	int fd = -1, rc = 0;

	if (!*rel || rel[0] == '/' || has_dotdot(rel))
		return pl_errorf(err, PL_EUSAGE, "cannot pack '%s' into '%s': the "
				 "name must be relative without '..'", rel, out_path);
	if (fs_path(full, sizeof(full), NULL, "%s/%s", base_dir, rel) < 0)
		return pl_errorf(err, PL_EUSAGE, "cannot pack '%s/%s': path too long",
				 base_dir, rel);
	if ((fd = open(full, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		rc = pl_errorf(err, PL_EIO, "cannot read '%s': %s", full, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = pl_errorf(err, PL_EUSAGE, "cannot pack '%s': not a regular file", full);
		goto out;
	}
	if (!(entry = archive_entry_new()) || !(buf = malloc(ARC_BLOCK))) {
		rc = pl_errorf(err, PL_ENOMEM, "cannot pack '%s': out of memory", full);
		goto out;
	}
	normalise_entry(entry, rel, st.st_size);
	if (archive_write_header(a, entry) != ARCHIVE_OK) {
		rc = pl_errorf(err, PL_EIO, "cannot write '%s': %s", out_path,
			       arc_msg(a));
		goto out;
	}
	for (left = st.st_size; left > 0; left -= got) {
		got = read(fd, buf, left < ARC_BLOCK ? (size_t)left : ARC_BLOCK);
		if (got <= 0) {
			rc = pl_errorf(err, PL_EIO, "cannot read '%s': %s", full,
				       got < 0 ? strerror(errno) : "file shrank while packing");
			goto out;
		}
		if (archive_write_data(a, buf, (size_t)got) != got) {
			rc = pl_errorf(err, PL_EIO, "cannot write '%s': %s", out_path,
				       arc_msg(a));
			goto out;
		}
	}
out:
	free(buf);
	if (entry)
		archive_entry_free(entry);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int pack_setup(struct archive *a, arc_format fmt)
{
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK)
		return -1;
	if (fmt == ARC_TAR_GZ)
		return archive_write_add_filter_gzip(a) == ARCHIVE_OK &&
		       archive_write_set_options(a, "gzip:!timestamp") == ARCHIVE_OK ? 0 : -1;
	return archive_write_add_filter_zstd(a) == ARCHIVE_OK ? 0 : -1;
}

int arc_pack(const char *out_path, arc_format fmt, const char *base_dir,
	     const char *const *rel_paths, size_t n, pl_err *err)
{
	struct archive *a = NULL;
	int fd = -1, rc = 0;
	size_t i;

	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return pl_errorf(err, PL_EIO, "cannot create '%s': %s", out_path,
				 strerror(errno));
	if (!(a = archive_write_new()) || pack_setup(a, fmt) < 0 ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		rc = pl_errorf(err, PL_EIO, "cannot write '%s': %s", out_path,
			       a ? arc_msg(a) : "out of memory");
		goto out;
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = pack_one(a, out_path, base_dir, rel_paths[i], err);
	if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
		rc = pl_errorf(err, PL_EIO, "cannot write '%s': %s", out_path,
			       arc_msg(a));
	if (rc == 0 && fsync(fd) != 0)
		rc = pl_errorf(err, PL_EIO, "cannot fsync '%s': %s", out_path,
			       strerror(errno));
out:
	if (a)
		archive_write_free(a);
	if (close(fd) != 0 && rc == 0)
		rc = pl_errorf(err, PL_EIO, "cannot close '%s': %s", out_path,
			       strerror(errno));
	if (rc < 0)
		unlink(out_path);
	return rc;
}

/* ---- streaming ---- */

static const char *const archive_exts[] = { ".tar.gz", ".tar.zst", ".tgz", ".tzst", ".tar", ".zip" };

int arc_has_archive_name(const char *name, size_t *stem_len)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < sizeof(archive_exts) / sizeof(archive_exts[0]); i++) {
		size_t n = strlen(archive_exts[i]);
		if (len > n && !strcasecmp(name + len - n, archive_exts[i])) {
			if (stem_len)
				*stem_len = len - n;
			return 1;
		}
	}
	return 0;
}

/* One level of a streamed archive: the outer file, or an inner archive. */
typedef struct arc_level {
	struct archive *a;
	const char *prefix;  /* folder its members are under ("" at the top) */
	const char *shown;   /* its name in messages, with ':' after when inner */
	int depth;           /* 1 for the outer archive */
	int64_t base;        /* offset of its first byte in the file, or -1 */
} arc_level;

typedef struct arc_stream_ctx {
	arc_walk w;
	arc_member_fn want;
	arc_take_fn take;
	void *ctx;
} arc_stream_ctx;

static int stream_level(arc_stream_ctx *s, const arc_level *lv);

/* An inner archive's bytes: the outer one's data blocks of its member. */
static la_ssize_t inner_read(struct archive *a, void *ctx, const void **buf)
{
	struct archive *outer = ctx;
	size_t len = 0;
	la_int64_t off;
	int r = archive_read_data_block(outer, buf, &len, &off);

	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN) {
		archive_set_error(a, archive_errno(outer) ? archive_errno(outer) : EIO, "%s",
				  arc_msg(outer));
		return -1;
	}
	return (la_ssize_t)len;
}

/* Where the current member's data starts in the file, or -1 when it is not
 * stored as is (compressed, sparse, zip). */
static int64_t data_offset(const arc_level *lv, struct archive_entry *entry)
{
	if (lv->base < 0 || archive_filter_count(lv->a) != 1 ||
	    (archive_format(lv->a) & ARCHIVE_FORMAT_BASE_MASK) != ARCHIVE_FORMAT_TAR ||
	    archive_entry_sparse_count(entry) > 0)
		return -1;
	return lv->base + archive_filter_bytes(lv->a, 0);
}

/* Reads the member m (an archive) as the folder m->name, one level down. */
static int stream_inner(arc_stream_ctx *s, const arc_level *lv, const arc_member *m)
{
	char prefix[PATH_MAX], shown[PATH_MAX];
	struct archive *in;
	arc_level down;
	int rc;

	if (lv->depth >= 2)
		return pl_errorf(s->w.err, PL_EDATA, "'%s': entry '%s%s' is an archive inside an "
				 "inner archive (archives are read to a depth of 2)", s->w.path,
				 lv->shown, m->shown + strlen(lv->shown));
	if (fs_path(prefix, sizeof(prefix), NULL, "%s/", m->name) < 0 ||
	    fs_path(shown, sizeof(shown), NULL, "%s:", m->shown) < 0)
		return pl_errorf(s->w.err, PL_EDATA, "'%s': entry '%s' has a path that is too "
				 "long", s->w.path, m->shown);
	if ((rc = s->want(s->ctx, m, s->w.err)) != ARC_READ)
		return rc;   /* skipped whole (or stopped, or failed) */
	if (!(in = archive_read_new()))
		return pl_errorf(s->w.err, PL_ENOMEM, "'%s': out of memory", s->w.path);
	support_formats(in);
	if (archive_read_open(in, lv->a, NULL, inner_read, NULL) != ARCHIVE_OK) {
		rc = pl_errorf(s->w.err, PL_EDATA, "'%s': inner archive '%s' is not readable "
			       "(tar, tar.gz, tar.zst, zip): %s", s->w.path, m->shown, arc_msg(in));
		archive_read_free(in);
		return rc;
	}
	down = (arc_level){ in, prefix, shown, lv->depth + 1, m->offset };
	rc = stream_level(s, &down);
	archive_read_free(in);
	return rc;
}

/* Passes one regular file or folder member on to want (and take). */
static int stream_member(arc_stream_ctx *s, const arc_level *lv, struct archive_entry *entry,
			 const arc_member *m)
{
	char *data = NULL;
	size_t len = 0;
	int rc = s->want(s->ctx, m, s->w.err);

	if (rc != ARC_READ || m->is_dir)
		return rc;
	if (m->size > 0)
		s->w.total_bytes -= m->size;   /* counted again as read */
	if ((rc = read_entry_data(&s->w, lv->a, entry, m->shown, &data, &len)) < 0)
		return rc;
	return s->take(s->ctx, m, data, len, s->w.err);
}

/* Checks one entry and hands it on: a folder or file to want, an inner
 * archive down a level; links are checked and passed over. */
static int stream_entry(arc_stream_ctx *s, const arc_level *lv, struct archive_entry *entry,
			const char *name)
{
	char full[PATH_MAX], shown[PATH_MAX];
	mode_t type = archive_entry_filetype(entry);
	size_t len = strlen(name), stem;
	arc_member m;
	int rc;

	while (len > 1 && name[len - 1] == '/')
		len--;
	if (fs_path(full, sizeof(full), NULL, "%s%.*s", lv->prefix, (int)len, name) < 0 ||
	    fs_path(shown, sizeof(shown), NULL, "%s%.*s", lv->shown, (int)len, name) < 0)
		return pl_errorf(s->w.err, PL_EDATA, "'%s': entry '%s%.200s...' has a path that "
				 "is too long", s->w.path, lv->shown, name);
	if (name[0] == '/' || has_dotdot(name))
		return pl_errorf(s->w.err, PL_EDATA, "'%s': entry '%s' %s", s->w.path, shown,
				 name[0] == '/' ? "has an absolute path" : "escapes the archive");
	if ((rc = check_entry(&s->w, entry, shown)) < 0)
		return rc;
	if (archive_entry_size_is_set(entry) && type == AE_IFREG)
		s->w.total_bytes += archive_entry_size(entry);
	if (archive_entry_hardlink(entry) || (type != AE_IFREG && type != AE_IFDIR))
		return 0;
	m = (arc_member){ full, shown, type == AE_IFDIR,
			  archive_entry_size_is_set(entry) ? archive_entry_size(entry) : -1,
			  data_offset(lv, entry) };
	if (type == AE_IFREG && arc_has_archive_name(full, &stem)) {
		if (m.size > 0)
			s->w.total_bytes -= m.size;   /* counted by its members */
		full[stem] = '\0';
		m.is_dir = 1;
		return stream_inner(s, lv, &m);
	}
	return stream_member(s, lv, entry, &m);
}

static int stream_level(arc_stream_ctx *s, const arc_level *lv)
{
	struct archive_entry *entry;
	const char *name;
	int rc;

	while ((rc = next_header(lv->a, lv->depth > 1 ? lv->shown : s->w.path, &entry,
				 s->w.err)) > 0) {
		if (!(name = entry_name(entry)))
			return pl_errorf(s->w.err, PL_EDATA, "'%s': an entry of %s has a name "
					 "that cannot be decoded", s->w.path,
					 lv->depth > 1 ? lv->shown : "it");
		name = skip_dot_slash(name);
		if (!*name || !strcmp(name, ".") || !strcmp(name, "/"))
			continue;
		if ((rc = stream_entry(s, lv, entry, name)) < 0 || rc == ARC_STOP)
			return rc;
	}
	return rc;
}

int arc_stream(const char *path, const arc_limits *lim, arc_member_fn want, arc_take_fn take,
	       void *ctx, pl_err *err)
{
	arc_stream_ctx s = { .w = { .path = path, .err = err }, .want = want, .take = take,
			     .ctx = ctx };
	struct archive *in = NULL;
	int rc;

	limits_fill(&s.w.lim, lim);
	if ((rc = open_reader(path, &in, err)) < 0)
		return rc;
	rc = stream_level(&s, &(arc_level){ in, "", "", 1, 0 });
	archive_read_free(in);
	return rc < 0 ? rc : 0;
}
