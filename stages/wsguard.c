/* No write through a symbolic link out of the workspace. */
#include "wsguard.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/fs.h"

#define GUARD_DEPTH 4   /* WS/.tmp/train/checkpoints/last.ckpt */

/* 1 when the link at path resolves to ws_real or below it. */
static int link_inside(const char *path, const char *ws_real)
{
	char real[PATH_MAX];
	size_t n = strlen(ws_real);

	if (!realpath(path, real))
		return 0;
	return !strncmp(real, ws_real, n) && (real[n] == '/' || real[n] == '\0');
}

static int refuse(const char *path, pl_err *err)
{
	char target[PATH_MAX];
	ssize_t len = readlink(path, target, sizeof(target) - 1);

	target[len > 0 ? len : 0] = '\0';
	return pl_errorf(err, PL_EUSAGE, "'%s' is a symbolic link to '%s', outside the "
			 "workspace: pipeline writes nothing through links out of its workspace "
			 "(remove the link)", path, target);
}

/* Checks the entries of dir (depth levels below the workspace). */
static int guard_dir(const char *dir, const char *ws_real, int depth, pl_err *err)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	if (depth > GUARD_DEPTH || !(d = opendir(dir)))
		return 0;
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (depth == 2 && !strcmp(de->d_name, "prepare-source")))
			continue;
		if ((rc = fs_path(path, sizeof(path), err, "%s/%s", dir, de->d_name)) < 0 ||
		    lstat(path, &st) != 0)
			continue;
		if (S_ISLNK(st.st_mode) && !link_inside(path, ws_real))
			rc = refuse(path, err);
		else if (S_ISDIR(st.st_mode))
			rc = guard_dir(path, ws_real, depth + 1, err);
	}
	closedir(d);
	return rc;
}

int wsguard_check(const char *ws, pl_err *err)
{
	char real[PATH_MAX];

	if (!realpath(ws, real))
		return pl_errorf(err, PL_EIO, "cannot resolve workspace '%s': %s", ws, strerror(errno));
	return guard_dir(ws, real, 1, err);
}
