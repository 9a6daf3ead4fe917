/* File-system helpers: checked, durable writes and tree operations. */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_path(char *out, size_t n, pl_err *err, const char *fmt, ...)
{
	char start[81];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	if (len >= 0 && (size_t)len < n)
		return 0;
	if (n > 0)
		out[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(start, sizeof(start), fmt, ap);
	va_end(ap);
	return pl_errorf(err, PL_EIO, "path too long: '%s...'", start);
}

int fs_mkdirs(const char *dir, pl_err *err)
{
	char path[PATH_MAX];
	int rc;

	if (!*dir)
		return pl_errorf(err, PL_EIO, "bad directory path ''");
	if ((rc = fs_path(path, sizeof(path), err, "%s", dir)) < 0)
		return rc;
	for (char *p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return pl_errorf(err, PL_EIO, "cannot create directory '%s': %s",
					 path, strerror(errno));
		*p = saved;
		if (saved == '\0')
			break;
	}
	if (!fs_is_dir(dir))
		return pl_errorf(err, PL_EIO, "'%s' exists and is not a directory", dir);
	return 0;
}

int fs_rmtree(const char *path, pl_err *err)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : pl_errorf(err, PL_EIO, "cannot stat '%s': %s",
						       path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		if (!(d = opendir(path)))
			return pl_errorf(err, PL_EIO, "cannot open directory '%s': %s",
					 path, strerror(errno));
		while (rc == 0 && (de = readdir(d))) {
			char child[PATH_MAX];
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if ((rc = fs_path(child, sizeof(child), err, "%s/%s", path, de->d_name)) == 0)
				rc = fs_rmtree(child, err);
		}
		closedir(d);
		if (rc == 0 && rmdir(path) != 0 && errno != ENOENT)
			rc = pl_errorf(err, PL_EIO, "cannot remove '%s': %s", path, strerror(errno));
		return rc;
	}
	if (unlink(path) != 0 && errno != ENOENT)
		return pl_errorf(err, PL_EIO, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Writes all of data to fd, retrying short writes and EINTR. */
static int write_all(int fd, const void *data, size_t len, const char *path, pl_err *err)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pl_errorf(err, PL_EIO, "cannot write '%s': %s", path, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_fd(int fd, const char *path, const void *data, size_t len, pl_err *err)
{
	int rc = write_all(fd, data, len, path, err);

	if (rc == 0 && fsync(fd) != 0)
		rc = pl_errorf(err, PL_EIO, "cannot sync '%s': %s", path, strerror(errno));
	if (close(fd) != 0 && rc == 0)
		rc = pl_errorf(err, PL_EIO, "cannot close '%s': %s", path, strerror(errno));
	return rc;
}

int fs_fclose_synced(FILE *fp, const char *path, pl_err *err)
{
	int rc = 0;

	if (fflush(fp) != 0)
		rc = pl_errorf(err, PL_EIO, "cannot write '%s': %s", path, strerror(errno));
	else if (fsync(fileno(fp)) != 0 && errno != EINVAL)
		rc = pl_errorf(err, PL_EIO, "cannot sync '%s': %s", path, strerror(errno));
	if (fclose(fp) != 0 && rc == 0)
		rc = pl_errorf(err, PL_EIO, "cannot close '%s': %s", path, strerror(errno));
	return rc;
}

int fs_write_file(const char *path, const void *data, size_t len, pl_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return pl_errorf(err, PL_EIO, "cannot create '%s': %s", path, strerror(errno));
	return write_fd(fd, path, data, len, err);
}

int fs_fsync_dir(const char *path, pl_err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return pl_errorf(err, PL_EIO, "cannot open directory '%s': %s", path, strerror(errno));
	if (fsync(fd) != 0 && errno != EINVAL)
		rc = pl_errorf(err, PL_EIO, "cannot sync directory '%s': %s", path, strerror(errno));
	close(fd);
	return rc;
}

/* Writes the parent directory of path into dir (size PATH_MAX). */
static int parent_dir(const char *path, char *dir, pl_err *err)
{
	char copy[PATH_MAX];
	int rc = fs_path(copy, sizeof(copy), err, "%s", path);

	return rc ? rc : fs_path(dir, PATH_MAX, err, "%s", dirname(copy));
}

int fs_rename(const char *from, const char *to, pl_err *err)
{
	char dir[PATH_MAX];
	int rc;

	if (rename(from, to) != 0)
		return pl_errorf(err, PL_EIO, "cannot rename '%s' to '%s': %s", from, to,
				 strerror(errno));
	if ((rc = parent_dir(to, dir, err)) < 0)
		return rc;
	return fs_fsync_dir(dir, err);
}

int fs_write_atomic(const char *path, const void *data, size_t len, pl_err *err)
{
	char tmp[PATH_MAX];
	int fd, rc;

	for (int attempt = 0; ; attempt++) {
		if ((rc = fs_path(tmp, sizeof(tmp), err, "%s.tmp.%d.%d", path, (int)getpid(),
				  attempt)) < 0)
			return rc;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST || attempt > 100)
			break;
	}
	if (fd < 0)
		return pl_errorf(err, PL_EIO, "cannot create '%s': %s", tmp, strerror(errno));
	rc = write_fd(fd, tmp, data, len, err);
	if (rc == 0)
		rc = fs_rename(tmp, path, err);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int fs_fsync_tree(const char *dir, pl_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return pl_errorf(err, PL_EIO, "cannot open directory '%s': %s", dir, strerror(errno));
	while (rc == 0 && (de = readdir(d))) {
		char child[PATH_MAX];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((rc = fs_path(child, sizeof(child), err, "%s/%s", dir, de->d_name)) < 0)
			break;
		if (lstat(child, &st) != 0)
			rc = pl_errorf(err, PL_EIO, "cannot stat '%s': %s", child, strerror(errno));
		else if (S_ISDIR(st.st_mode))
			rc = fs_fsync_tree(child, err);
		else if (S_ISREG(st.st_mode)) {
			int fd = open(child, O_RDONLY | O_CLOEXEC);
			if (fd < 0 || fsync(fd) != 0)
				rc = pl_errorf(err, PL_EIO, "cannot sync '%s': %s", child,
					       strerror(errno));
			if (fd >= 0)
				close(fd);
		}
	}
	closedir(d);
	return rc ? rc : fs_fsync_dir(dir, err);
}

int fs_read_file(const char *path, size_t max, char **data, size_t *len, pl_err *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, rc = 0;

	*data = NULL;
	if (max == 0)
		max = (size_t)1 << 30;
	/* O_NONBLOCK: opening a FIFO does not wait for a writer (it is then
	 * refused as not a regular file) */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return pl_errorf(err, PL_EIO, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = pl_errorf(err, PL_EIO, "'%s' is not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > max) {
		rc = pl_errorf(err, PL_EDATA, "'%s' is %lld bytes, more than the limit of %zu",
			       path, (long long)st.st_size, max);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		rc = pl_errorf(err, PL_ENOMEM, "out of memory reading '%s'", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = pl_errorf(err, PL_EIO, "cannot read '%s': %s", path,
				       n == 0 ? "file shrank while reading" : strerror(errno));
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

int fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int fs_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fs_copy_file(const char *from, const char *to, pl_err *err)
{
	char buf[1 << 16];
	int in, out, rc = 0;
	ssize_t n;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
		return pl_errorf(err, PL_EIO, "cannot open '%s': %s", from, strerror(errno));
	if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		rc = pl_errorf(err, PL_EIO, "cannot create '%s': %s", to, strerror(errno));
		close(in);
		return rc;
	}
	while (rc == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = pl_errorf(err, PL_EIO, "cannot read '%s': %s", from, strerror(errno));
		else
			rc = write_all(out, buf, (size_t)n, to, err);
	}
	close(in);
	if (rc != 0) {
		close(out);
		return rc;
	}
	return write_fd(out, to, "", 0, err);
}

int fs_visit_enter(fs_visit *v, const fs_visit *up, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return -1;
	v->dev = st.st_dev;
	v->ino = st.st_ino;
	v->up = up;
	for (; up; up = up->up)
		if (up->dev == v->dev && up->ino == v->ino)
			return -1;
	return 0;
}
