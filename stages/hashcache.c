/* Memoised content hashes of input files. */
#include "hashcache.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "../io/fs.h"

struct hashcache {
	char path[PATH_MAX];  /* WS/.cache/NAME.json; "" when too long (kept in memory only) */
	json_t *entries;    /* path -> [size, mtime_ns, ctime_ns, inode, sha256] */
	json_t *fresh;      /* paths hashed (or noted) by this handle */
	long long written;  /* when the memo file was last written (ns), 0 if never */
	int dirty;
};

static long long ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* Whether the entry e, of a file whose times are mtime and ctime, may be
 * trusted without reading the file. Racy (as git's index calls it): a file
 * changed in the same clock tick as the memo was written after hashing
 * it keeps the times the memo recorded; so an entry whose times are not
 * older than the memo's own write is hashed again. */
static int racy(const hashcache *hc, const char *full, long long mtime, long long ctime)
{
	return !json_object_get(hc->fresh, full) && (mtime >= hc->written || ctime >= hc->written);
}

hashcache *hashcache_open(const char *ws, const char *name)
{
	hashcache *hc = calloc(1, sizeof(*hc));
	struct stat st;

	if (!hc)
		return NULL;
	hc->fresh = json_object();
	if (fs_path(hc->path, sizeof(hc->path), NULL, "%s/.cache/%s.json", ws, name) == 0) {
		if (stat(hc->path, &st) == 0)
			hc->written = ns(&st.st_mtim);
		hc->entries = json_load_file(hc->path, 0, NULL);
	}
	if (!json_is_object(hc->entries)) {
		json_decref(hc->entries);
		hc->entries = json_object();
	}
	return hc;
}

void hashcache_free(hashcache *hc)
{
	if (!hc)
		return;
	json_decref(hc->entries);
	json_decref(hc->fresh);
	free(hc);
}

/* Remembers hex as the hash of the file at full (a real path) as it was
 * when st was taken, before it was read. */
static void remember(hashcache *hc, const char *full, const struct stat *st, const char *hex)
{
	json_object_set_new(hc->entries, full, json_pack("[I,I,I,I,s]", (json_int_t)st->st_size,
							 (json_int_t)ns(&st->st_mtim),
							 (json_int_t)ns(&st->st_ctim),
							 (json_int_t)st->st_ino, hex));
	json_object_set_new(hc->fresh, full, json_true());
	hc->dirty = 1;
}

void hashcache_note(hashcache *hc, const char *path, const char *hex)
{
	char full[PATH_MAX];
	struct stat st;

	if (realpath(path, full) && stat(full, &st) == 0)
		remember(hc, full, &st, hex);
}

/* The hash the memo holds for full, when its entry matches st and may be
 * trusted; NULL otherwise. */
static const char *memo_of(const hashcache *hc, const char *full, const struct stat *st)
{
	json_t *e = json_object_get(hc->entries, full);
	long long mtime = ns(&st->st_mtim), ctime = ns(&st->st_ctim);

	if (json_array_size(e) != 5 ||
	    json_integer_value(json_array_get(e, 0)) != (json_int_t)st->st_size ||
	    json_integer_value(json_array_get(e, 1)) != mtime ||
	    json_integer_value(json_array_get(e, 2)) != ctime ||
	    json_integer_value(json_array_get(e, 3)) != (json_int_t)st->st_ino ||
	    json_string_length(json_array_get(e, 4)) != SHA256_HEX - 1 ||
	    racy(hc, full, mtime, ctime))
		return NULL;
	return json_string_value(json_array_get(e, 4));
}

int hashcache_file(hashcache *hc, const char *path, char hex[SHA256_HEX], pl_err *err)
{
	char full[PATH_MAX];
	const char *known;
	struct stat st;
	int rc;

	if (!realpath(path, full) || stat(full, &st) != 0)
		return pl_errorf(err, PL_EIO, "cannot read '%s': %s", path, strerror(errno));
	if ((known = memo_of(hc, full, &st))) {
		memcpy(hex, known, SHA256_HEX);
		return 0;
	}
	if ((rc = sha256_file(full, hex, err)) < 0)
		return rc;
	remember(hc, full, &st, hex);
	return 0;
}

/* Drops the entries that were racy when the memo was loaded and were not
 * hashed again since: once the memo is written anew their times would
 * look older than it, and be trusted. */
static void drop_racy(hashcache *hc)
{
	const char *key;
	json_t *e, *tmp;

	json_object_foreach_safe(hc->entries, tmp, key, e)
		if (json_array_size(e) != 5 ||
		    racy(hc, key, json_integer_value(json_array_get(e, 1)),
			 json_integer_value(json_array_get(e, 2))))
			json_object_del(hc->entries, key);
}

int hashcache_save(hashcache *hc, pl_err *err)
{
	char dir[PATH_MAX], *text;
	int rc;

	if (!hc->dirty || !hc->path[0])
		return 0;
	drop_racy(hc);
	if ((rc = fs_path(dir, sizeof(dir), err, "%s", hc->path)) < 0)
		return rc;
	*strrchr(dir, '/') = '\0';
	/* a workspace not made yet is not made by its memo: status and a dry
	 * run write nothing where nothing has run */
	if (strrchr(dir, '/') && (*strrchr(dir, '/') = '\0', !fs_is_dir(dir)))
		return 0;
	if ((rc = fs_path(dir, sizeof(dir), err, "%s", hc->path)) < 0)
		return rc;
	*strrchr(dir, '/') = '\0';
	if ((rc = fs_mkdirs(dir, err)) < 0)
		return rc;
	if (!(text = json_dumps(hc->entries, JSON_COMPACT | JSON_SORT_KEYS)))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	rc = fs_write_atomic(hc->path, text, strlen(text), err);
	free(text);
	if (rc == 0)
		hc->dirty = 0;
	return rc;
}

/* Feeds "relpath size sha\n" of every regular file under root/rel to sha;
 * up: the folders above (a link back to one of them is not followed). */
static int hash_tree(hashcache *hc, const char *root, const char *rel, const fs_visit *up,
		     sha256_ctx *sha, pl_err *err)
{
	char path[PATH_MAX], child[PATH_MAX], hex[SHA256_HEX], line[PATH_MAX + 100];
	struct dirent **names = NULL;
	fs_visit here;
	int n, rc = 0;

	if ((rc = fs_path(path, sizeof(path), err, "%s%s%s", root, *rel ? "/" : "", rel)) < 0)
		return rc;
	if (fs_visit_enter(&here, up, path) < 0)
		return 0;
	if ((n = scandir(path, &names, NULL, alphasort)) < 0)
		return pl_errorf(err, PL_EIO, "cannot list '%s': %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		struct stat st;
		if (rc < 0 || names[i]->d_name[0] == '.')
			continue;
		if ((rc = fs_path(child, sizeof(child), err, "%s%s%s", rel, *rel ? "/" : "",
				  names[i]->d_name)) < 0 ||
		    (rc = fs_path(path, sizeof(path), err, "%s/%s", root, child)) < 0)
			continue;
		if (stat(path, &st) != 0 && !(errno == ENOENT && lstat(path, &st) == 0))
			rc = pl_errorf(err, PL_EIO, "cannot stat '%s': %s", path, strerror(errno));
		else if (S_ISLNK(st.st_mode))
			continue;   /* a dangling link holds no data */
		else if (S_ISDIR(st.st_mode))
			rc = hash_tree(hc, root, child, &here, sha, err);
		else if (S_ISREG(st.st_mode) && (rc = hashcache_file(hc, path, hex, err)) == 0) {
			snprintf(line, sizeof(line), "%s %lld %s\n", child, (long long)st.st_size, hex);
			sha256_update(sha, line, strlen(line));
		}
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int hashcache_tree(hashcache *hc, const char *dir, char hex[SHA256_HEX], pl_err *err)
{
	sha256_ctx sha;
	int rc;

	if ((rc = sha256_init(&sha, err)) < 0)
		return rc;
	if ((rc = hash_tree(hc, dir, "", NULL, &sha, err)) < 0) {
		sha256_abort(&sha);
		return rc;
	}
	sha256_final(&sha, hex);
	return 0;
}
