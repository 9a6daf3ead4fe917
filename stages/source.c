/* Resolving the configured source to a tree of files: synth: draws the
 * demo plate into WS/downloads, URLs are fetched there, archives are listed
 * as a stream (and their listing kept in WS/.cache/archives), directories
 * are read in place. */
#include "source.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/arc.h"
#include "../io/fetch.h"
#include "../io/fs.h"
#include "../io/log.h"
#include "../io/sha.h"
#include "hashcache.h"
#include "demo/synth.h"

typedef enum { SRC_SYNTH, SRC_URL, SRC_ARCHIVE, SRC_DIR } source_kind;

/* 1 when the resolved path real is dir (resolved) or lies below it. */
static int within(const char *real, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(real, dir, n) && (real[n] == '/' || real[n] == '\0' || !strcmp(dir, "/"));
}

/* realpath of a path that may not exist yet: its nearest existing
 * ancestor resolved, and the rest as given. */
static int realpath_ahead(const char *path, char *out, pl_err *err)
{
	char head[PATH_MAX], *cut;
	size_t tail;

	if (realpath(path, out))
		return 0;
	if (fs_path(head, sizeof(head), err, "%s", path) < 0)
		return -PL_EIO;
	while ((cut = strrchr(head, '/')) && cut > head) {
		*cut = '\0';
		if (realpath(head, out)) {
			tail = strlen(head);
			return fs_path(out + strlen(out), PATH_MAX - strlen(out), err, "%s", path + tail);
		}
	}
	if (!realpath(cut == head ? "/" : ".", out))
		return pl_errorf(err, PL_EIO, "cannot resolve '%s': %s", path, strerror(errno));
	return fs_path(out + strlen(out), PATH_MAX - strlen(out), err, "%s%s",
		       cut == head ? "" : "/", cut == head ? path + 1 : path);
}

/* A workspace inside a directory source would be read as data (its plots a
 * class of their own, and no run ever cached); a source inside the
 * workspace, other than a download, is under the files pipeline rewrites. */
static int check_nesting(const char *src, const char *ws, source_kind kind, pl_err *err)
{
	char src_real[PATH_MAX], ws_real[PATH_MAX], downloads[PATH_MAX];

	if (!realpath(src, src_real))
		return 0;
	if (realpath_ahead(ws, ws_real, err) < 0)
		return -PL_EIO;
	if (kind == SRC_DIR && within(ws_real, src_real))
		return pl_errorf(err, PL_EUSAGE, "the workspace '%s' is inside the source directory "
				 "'%s': its own files would be read as data (use a workspace outside "
				 "'%s')", ws, src, src);
	if (fs_path(downloads, sizeof(downloads), err, "%s/downloads", ws_real) < 0)
		return -PL_EIO;
	if (within(src_real, ws_real) && !within(src_real, downloads))
		return pl_errorf(err, PL_EUSAGE, "the source '%s' is inside the workspace '%s', "
				 "whose files pipeline rewrites and removes (move the data out of "
				 "'%s')", src, ws, ws);
	return 0;
}

/* Works out the kind of source and the local file it is (or will be) in. */
static int locate(const cfg *c, const char *ws, source_kind *kind, char *path, size_t n,
		  pl_err *err)
{
	const char *src = cfg_str(c, "dataset", "source");
	char hex[SHA256_HEX], base[96] = "", *slash;
	int rc;

	if (!*src)
		return pl_errorf(err, PL_EUSAGE, "no data source: set [dataset] source "
				 "(a URL, an archive, a directory or synth:plate)");
	if (!strncmp(src, "synth:", 6)) {
		synth_opts o;
		if ((rc = synth_parse_source(src, &o, err)) < 0)
			return rc;
		*kind = SRC_SYNTH;
		return fs_path(path, n, err, "%s/downloads/synth-v%d-seed%llu-plates%d-%dx%d.tar.gz",
			       ws, SYNTH_VERSION, (unsigned long long)o.seed, o.plates, o.width,
			       o.height);
	}
	if (fetch_is_url(src)) {
		*kind = SRC_URL;
		sha256_hex(src, strlen(src), hex);
		slash = strrchr(src, '/');
		snprintf(base, sizeof(base), "%s", slash ? slash + 1 : "source");
		base[strcspn(base, "?#")] = '\0';
		for (char *p = base; *p; p++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p))
				*p = '_';
		return fs_path(path, n, err, "%s/downloads/%.16s-%s", ws, hex,
			       base[0] ? base : "source");
	}
	if ((rc = fs_path(path, n, err, "%s", src)) < 0)
		return rc;
	if (fs_is_dir(src)) {
		*kind = SRC_DIR;
		if (*cfg_str(c, "dataset", "sha256"))
			return pl_errorf(err, PL_EUSAGE, "[dataset] sha256 checks an archive or a "
					 "download; source '%s' is a directory (leave sha256 empty)", src);
		return check_nesting(src, ws, *kind, err);
	}
	if (!fs_exists(src))
		return pl_errorf(err, PL_EUSAGE, "[dataset] source '%s' does not exist", src);
	if (!arc_is_archive(src) && !arc_has_archive_name(src, NULL))
		return pl_errorf(err, PL_EDATA, "'%s' is neither a directory nor an archive "
				 "(tar, tar.gz, tar.zst, zip)", src);
	*kind = SRC_ARCHIVE;
	return check_nesting(src, ws, *kind, err);
}

int source_identity(const cfg *c, const char *ws, char *out, size_t n, pl_err *err)
{
	char path[PATH_MAX], done[PATH_MAX], table[PATH_MAX], hex[SHA256_HEX];
	source_kind kind;
	hashcache *hc;
	int rc;

	out[0] = '\0';
	if ((rc = locate(c, ws, &kind, path, sizeof(path), err)) < 0)
		return rc;
	if (kind == SRC_SYNTH) {
		snprintf(out, n, "synth:%s", strrchr(path, '/') + 1);
		return 0;
	}
	if ((rc = fs_path(done, sizeof(done), err, "%s.done", path)) < 0 ||
	    (rc = fs_path(table, sizeof(table), err, "%s/%s", path,
			  cfg_str(c, "dataset", "table"))) < 0)
		return rc;
	if (kind == SRC_URL && (!fs_exists(done) || !fs_exists(path)))
		return 0;   /* not downloaded yet, as fetch_url sees it */
	if (!(hc = hashcache_open(ws, "inputs")))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	rc = kind == SRC_DIR ? hashcache_tree(hc, path, hex, err) : hashcache_file(hc, path, hex, err);
	if (rc == 0)
		snprintf(out, n, "%s:%s", kind == SRC_DIR ? "tree" : "sha256", hex);
	/* the tree leaves out hidden files, but the table may be one */
	if (rc == 0 && kind == SRC_DIR && *cfg_str(c, "dataset", "table") && fs_exists(table) &&
	    (rc = hashcache_file(hc, table, hex, err)) == 0)
		snprintf(out + strlen(out), n - strlen(out), " table:%s", hex);
	if (rc == 0)
		hashcache_save(hc, NULL);
	hashcache_free(hc);
	return rc;
}

/* Returns 1 when dir has a subdirectory (hidden ones aside). */
static int has_subdir(const tree *t, const char *dir)
{
	tree_ent *v = NULL;
	int n = 0, found = 0;

	if (tree_list(t, dir, &v, &n, NULL) < 0)
		return 0;
	for (int i = 0; i < n && !found; i++)
		found = v[i].name[0] != '.' && v[i].kind == TREE_DIR;
	tree_list_free(v, n);
	return found;
}

int source_download_name(const cfg *c, const char *ws, char *out, size_t n, pl_err *err)
{
	char path[PATH_MAX];
	source_kind kind;
	int rc;

	out[0] = '\0';
	if ((rc = locate(c, ws, &kind, path, sizeof(path), err)) < 0)
		return rc;
	if (kind == SRC_SYNTH || kind == SRC_URL)
		return fs_path(out, n, err, "%s", strrchr(path, '/') + 1);
	return 0;
}

/* Descends into the single top-level directory an archive often has: when
 * the root holds no other directory (plain files such as a README, and
 * macOS's __MACOSX, aside) and the data is in there (the table, or the
 * class folders), not when that directory is itself the only class. */
static void descend(const cfg *c, const tree *t, char *root, size_t n)
{
	const char *table = cfg_str(c, "dataset", "table");
	char only[NAME_MAX + 1] = "", sub[PATH_MAX], path[PATH_MAX];
	tree_ent *v = NULL;
	int count = 0, n_ents = 0;

	if (tree_list(t, root, &v, &n_ents, NULL) < 0)
		return;
	for (int i = 0; i < n_ents; i++)
		if (v[i].name[0] != '.' && strcmp(v[i].name, "__MACOSX") && v[i].kind == TREE_DIR &&
		    count++ == 0)
			snprintf(only, sizeof(only), "%s", v[i].name);
	tree_list_free(v, n_ents);
	if (count != 1 || tree_join(sub, sizeof(sub), NULL, root, only) < 0 ||
	    tree_join(path, sizeof(path), NULL, root, table) < 0 ||
	    (*table && tree_kind(t, path) != TREE_NONE) || (!*table && !has_subdir(t, sub)))
		return;
	fs_path(root, n, NULL, "%s", sub);
}

/* Checks the optional [dataset] sha256 against the file at path. */
static int verify(const cfg *c, const char *path, pl_err *err)
{
	const char *want = cfg_str(c, "dataset", "sha256");
	char hex[SHA256_HEX];
	int rc;

	if (!*want)
		return 0;
	if ((rc = sha256_file(path, hex, err)) < 0)
		return rc;
	if (strcasecmp(hex, want))
		return pl_errorf(err, PL_EDATA, "'%s' has sha256 %s, but [dataset] sha256 is %s",
				 path, hex, want);
	return 0;
}

/* Makes the archive or download at path exist: draws or fetches it. */
static int obtain(const cfg *c, source_kind kind, const char *path,
		  const volatile sig_atomic_t *stop, pl_err *err)
{
	char dir[PATH_MAX];
	int rc;

	if (kind == SRC_SYNTH || kind == SRC_URL) {   /* path is WS/downloads/NAME */
		if ((rc = fs_path(dir, sizeof(dir), err, "%s", path)) < 0)
			return rc;
		*strrchr(dir, '/') = '\0';
		if ((rc = fs_mkdirs(dir, err)) < 0)
			return rc;
	}
	if (kind == SRC_SYNTH && !fs_exists(path)) {
		synth_opts o;
		log_info("drawing the demo plate into %s", path);
		if ((rc = synth_parse_source(cfg_str(c, "dataset", "source"), &o, err)) < 0)
			return rc;
		return synth_write(&o, path, err);
	}
	if (kind == SRC_URL) {
		fetch_opts fo = { 0 };
		fo.sha256 = cfg_str(c, "dataset", "sha256");
		fo.insecure = !cfg_bool(c, "dataset", "tls_verify");
		fo.max_attempts = (int)cfg_int(c, "dataset", "attempts");
		fo.low_speed_time_s = cfg_int(c, "dataset", "stall_seconds");
		fo.stop = (const volatile int *)stop;
		return fetch_url(cfg_str(c, "dataset", "source"), path, &fo, err);
	}
	return kind == SRC_ARCHIVE ? verify(c, path, err) : 0;
}

/* 1 when the file at path starts like an HTML page (an error page saved
 * under the archive's name). */
static int looks_like_html(const char *path)
{
	char head[64] = "";
	FILE *f = fopen(path, "rb");
	size_t got = f ? fread(head, 1, sizeof(head) - 1, f) : 0;

	if (f)
		fclose(f);
	head[got] = '\0';
	for (char *p = head; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return strstr(head, "<!doctype html") || strstr(head, "<html");
}

/* Drops the copy at path (and its .done marker) so that obtain gets a new
 * one. */
static int drop_copy(const char *path, pl_err *err)
{
	char done[PATH_MAX + 8];

	if (fs_path(done, sizeof(done), err, "%s.done", path) < 0)
		return -PL_EIO;
	if ((unlink(path) != 0 && errno != ENOENT) || (unlink(done) != 0 && errno != ENOENT))
		return pl_errorf(err, PL_EIO, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Whether an archive from WS/downloads that does not open or extract may be
 * a damaged copy (cut short, an error page saved under its name) worth
 * fetching or drawing again, once. A configured sha256 decides: a copy
 * that has it is what was asked for, and the archive itself is at fault. */
static int worth_again(const cfg *c, source_kind kind, const char *path, int rc)
{
	const char *want = cfg_str(c, "dataset", "sha256");
	char hex[SHA256_HEX];

	if (rc != -PL_EDATA || (kind != SRC_URL && kind != SRC_SYNTH))
		return 0;
	return kind == SRC_SYNTH || !*want || sha256_file(path, hex, NULL) < 0 ||
	       strcasecmp(hex, want) != 0;
}

/* Lists the archive at path into src->tree, keeping the table and the
 * class-names file; a damaged download is dropped and fetched again once
 * before failing. */
static int list_archive(const cfg *c, source_kind kind, const char *path,
			const volatile sig_atomic_t *stop, source *src, pl_err *err)
{
	const char *names = cfg_str(c, "dataset", "class_names");
	const char *keep[3] = { cfg_str(c, "dataset", "table"), names[0] == '/' ? "" : names, NULL };
	char cache[PATH_MAX];
	int rc;

	if ((rc = fs_path(cache, sizeof(cache), err, "%s/.cache", src->ws)) < 0)
		return rc;
	for (int again = 0;; again++) {
		if ((rc = tree_open_archive(path, src->identity, cache, &src->lim, keep, &src->tree,
					    err)) == 0 || again || !worth_again(c, kind, path, rc))
			break;
		log_warn("%s%s; %s it again", err->msg, looks_like_html(path) ?
			 " (it is an HTML page, not an archive)" : "",
			 kind == SRC_URL ? "downloading" : "drawing");
		if ((rc = drop_copy(path, err)) < 0 || (rc = obtain(c, kind, path, stop, err)) < 0 ||
		    (rc = source_identity(c, src->ws, src->identity, sizeof(src->identity), err)) < 0)
			return rc;
	}
	if (rc < 0 && (kind == SRC_URL || kind == SRC_SYNTH) && looks_like_html(path)) {
		size_t len = strlen(err->msg);
		snprintf(err->msg + len, sizeof(err->msg) - len, " (%s is an HTML page, not an "
			 "archive: the server answered with an error page)", path);
	}
	return rc;
}

int source_open(const cfg *c, const char *ws, const volatile sig_atomic_t *stop,
		source *src, pl_err *err)
{
	char path[PATH_MAX];
	source_kind kind;
	struct stat st;
	int rc;

	memset(src, 0, sizeof(*src));
	src->ws = ws;
	if (fetch_is_url(cfg_str(c, "dataset", "source")))
		fetch_redact(cfg_str(c, "dataset", "source"), src->shown, sizeof(src->shown));
	else
		snprintf(src->shown, sizeof(src->shown), "%s", cfg_str(c, "dataset", "source"));
	if ((rc = locate(c, ws, &kind, path, sizeof(path), err)) < 0 ||
	    (rc = obtain(c, kind, path, stop, err)) < 0)
		return rc;
	if ((rc = source_identity(c, ws, src->identity, sizeof(src->identity), err)) < 0)
		return rc;
	if (kind == SRC_DIR) {
		if ((rc = fs_path(src->root, sizeof(src->root), err, "%s", path)) < 0)
			return rc;
		descend(c, NULL, src->root, sizeof(src->root));
		return 0;
	}
	src->lim.max_total_bytes = (int64_t)(cfg_float(c, "dataset", "max_archive_gb") * (1 << 30));
	src->lim.max_entries = cfg_int(c, "dataset", "max_archive_entries");
	if ((rc = fs_path(src->archive, sizeof(src->archive), err, "%s", path)) < 0 ||
	    (rc = list_archive(c, kind, path, stop, src, err)) < 0) {
		source_close(src);
		return rc;
	}
	if (stat(path, &st) == 0)
		src->bytes = st.st_size;
	descend(c, src->tree, src->root, sizeof(src->root));
	return 0;
}

void source_close(source *src)
{
	tree_free(src->tree);
	src->tree = NULL;
}

void source_shown(const source *src, const char *rel, char *out, size_t n)
{
	char path[PATH_MAX], inner[PATH_MAX];

	if (tree_join(path, sizeof(path), NULL, src->root, rel) < 0) {
		snprintf(out, n, "%s", rel);
		return;
	}
	if (!src->tree) {
		snprintf(out, n, "%s", path);
		return;
	}
	tree_shown(src->tree, path, inner, sizeof(inner));
	snprintf(out, n, "%s%s%s", src->shown, *inner ? ":" : "", inner);
}
