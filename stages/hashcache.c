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
	json_t *entries;    /* path -> [size, mtime_ns, inode, sha256] */
	int dirty;
};

hashcache *hashcache_open(const char *ws, const char *name)
{
	hashcache *hc = calloc(1, sizeof(*hc));

	if (!hc)
		return NULL;
	if (fs_path(hc->path, sizeof(hc->path), NULL, "%s/.cache/%s.json", ws, name) == 0)
		hc->entries = json_load_file(hc->path, 0, NULL);
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
	free(hc);
}

/* Remembers hex as the hash of the file at full (a real path) as it is now. */
static void remember(hashcache *hc, const char *full, const struct stat *st, const char *hex)
{
	json_int_t mtime = (json_int_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;

	json_object_set_new(hc->entries, full, json_pack("[I,I,I,s]", (json_int_t)st->st_size,
							 mtime, (json_int_t)st->st_ino, hex));
	hc->dirty = 1;
}

void hashcache_note(hashcache *hc, const char *path, const char *hex)
{
	char full[PATH_MAX];
	struct stat st;

	if (realpath(path, full) && stat(full, &st) == 0)
		remember(hc, full, &st, hex);
}

int hashcache_file(hashcache *hc, const char *path, char hex[SHA256_HEX], pl_err *err)
{
	char full[PATH_MAX];
	struct stat st;
	json_int_t mtime;
	json_t *e;
	int rc;

	if (!realpath(path, full) || stat(full, &st) != 0)
		return pl_errorf(err, PL_EIO, "cannot read '%s': %s", path, strerror(errno));
	mtime = (json_int_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	e = json_object_get(hc->entries, full);
	if (json_array_size(e) == 4 &&
	    json_integer_value(json_array_get(e, 0)) == (json_int_t)st.st_size &&
	    json_integer_value(json_array_get(e, 1)) == mtime &&
	    json_integer_value(json_array_get(e, 2)) == (json_int_t)st.st_ino &&
	    json_string_length(json_array_get(e, 3)) == SHA256_HEX - 1) {
		memcpy(hex, json_string_value(json_array_get(e, 3)), SHA256_HEX);
		return 0;
	}
	if ((rc = sha256_file(full, hex, err)) < 0)
		return rc;
	remember(hc, full, &st, hex);
	return 0;
}

int hashcache_save(hashcache *hc, pl_err *err)
{
	char dir[PATH_MAX], *text;
	int rc;

	if (!hc->dirty || !hc->path[0])
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
