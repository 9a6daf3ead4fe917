/* Garbage collection of a workspace: what no current stage can use. */
#include "gc.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/fs.h"
#include "../io/log.h"
#include "source.h"

/* Bytes under path (regular files), for the report. */
static long long tree_bytes(const char *path)
{
	struct stat st;
	long long sum = 0;
	struct dirent *de;
	DIR *d;

	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) ? st.st_size : 0;
	if (!(d = opendir(path)))
		return 0;
	while ((de = readdir(d))) {
		char child[PATH_MAX];
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    fs_path(child, sizeof(child), NULL, "%s/%s", path, de->d_name) == 0)
			sum += tree_bytes(child);
	}
	closedir(d);
	return sum;
}

static int drop(const char *path, long long *freed, pl_err *err)
{
	long long bytes = tree_bytes(path);
	int rc = fs_rmtree(path, err);

	if (rc == 0) {
		*freed += bytes;
		log_info("removed %s (%.1f MiB)", path, bytes / 1048576.0);
	}
	return rc;
}

/* 1 when WS/.tmp/NAME holds the work in progress of a stage at its current
 * fingerprint (a training run to resume), or prepare's shard parts. */
static int tmp_in_use(const char *ws, const char *name, const stage_status *st, int n)
{
	char path[PATH_MAX], *fp = NULL;
	size_t len;
	int keep = 0;

	if (!strcmp(name, "prepare-shards"))
		return n > 0 && st[0].state != ST_CACHED;
	if (fs_path(path, sizeof(path), NULL, "%s/.tmp/%s/.fingerprint", ws, name) < 0)
		return 1;   /* cannot be checked: kept */
	for (int i = 0; i < n && !keep; i++)
		if (!strcmp(st[i].def->name, name) && st[i].state != ST_CACHED && st[i].fingerprint[0] &&
		    fs_read_file(path, 128, &fp, &len, NULL) == 0)
			keep = !strcmp(fp, st[i].fingerprint);
	free(fp);
	return keep;
}

/* Removes every entry of dir for which keep() says no. */
static int sweep(const char *dir, int (*keep)(const char *name, void *ctx), void *ctx,
		 long long *freed, pl_err *err)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int rc = 0;

	if (!d)
		return 0;
	while (rc == 0 && (de = readdir(d))) {
		char path[PATH_MAX];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || keep(de->d_name, ctx))
			continue;
		if ((rc = fs_path(path, sizeof(path), err, "%s/%s", dir, de->d_name)) == 0)
			rc = drop(path, freed, err);
	}
	closedir(d);
	return rc;
}

typedef struct gc_ctx { const char *ws; const stage_status *st; int n; char download[PATH_MAX]; } gc_ctx;

static int keep_tmp(const char *name, void *ctx)
{
	gc_ctx *g = ctx;
	return tmp_in_use(g->ws, name, g->st, g->n);
}

static int keep_download(const char *name, void *ctx)
{
	gc_ctx *g = ctx;
	size_t len = strlen(g->download);

	return len && !strncmp(name, g->download, len) &&
	       (!name[len] || !strcmp(name + len, ".done") || !strcmp(name + len, ".part") ||
		!strcmp(name + len, ".part.validator"));
}

int gc_workspace(const stage_def *defs, int n, const char *ws, const cfg *c, long long *freed,
		 pl_err *err)
{
	stage_status st[8] = { 0 };
	gc_ctx g = { ws, st, n, "" };
	char dir[PATH_MAX];
	int rc;

	*freed = 0;
	if ((rc = engine_status(defs, n, ws, c, 0, st, err)) < 0)
		return rc;
	rc = source_download_name(c, ws, g.download, sizeof(g.download), err);
	if (rc == 0 && (rc = fs_path(dir, sizeof(dir), err, "%s/.tmp", ws)) == 0)
		rc = sweep(dir, keep_tmp, &g, freed, err);
	if (rc == 0 && (rc = fs_path(dir, sizeof(dir), err, "%s/downloads", ws)) == 0)
		rc = sweep(dir, keep_download, &g, freed, err);
	if (rc == 0 && (rc = fs_path(dir, sizeof(dir), err, "%s/.cache", ws)) == 0)
		rc = drop(dir, freed, err);     /* memoised hashes, archive indexes: rebuilt on demand */
	engine_status_release(st, n);
	return rc;
}
