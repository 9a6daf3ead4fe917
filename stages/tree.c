/* A prepare source's files: on disk through scandir and stat, or an
 * archive's members from one pass over its headers, sorted so that every
 * folder's descendants follow it, and cached in the workspace. */
#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/fs.h"
#include "../io/log.h"
#include "../io/sha.h"
#include "../io/strbuf.h"

#define TREE_KEEP_MAX ((int64_t)256 << 20)   /* largest member kept (a table) */
#define TREE_INDEX_MAGIC "pipeline archive index 1"

typedef struct tnode {
	char *name;
	int kind;        /* TREE_FILE or TREE_DIR */
	int inner;       /* a folder that is an inner archive */
	char *shown;     /* for an inner archive: its own name */
	int64_t size, offset;
	char *data;      /* kept contents, or NULL */
	size_t len;
} tnode;

struct tree {
	tnode *v;
	size_t n, cap;
	const char *const *keep;
	int64_t n_entries, bytes;
};

/* strcmp with '/' before every other byte: a folder's descendants then
 * follow it, before its siblings, and each folder's children come in
 * alphasort's order. */
static int path_cmp(const char *a, const char *b)
{
	for (; *a && *a == *b; a++, b++)
		;
	if (*a == *b)
		return 0;
	if (*a == '/' || !*b)
		return *b ? -1 : 1;
	if (*b == '/' || !*a)
		return *a ? 1 : -1;
	return (unsigned char)*a - (unsigned char)*b;
}

static int node_cmp(const void *x, const void *y)
{
	return path_cmp(((const tnode *)x)->name, ((const tnode *)y)->name);
}

void tree_free(tree *t)
{
	for (size_t i = 0; t && i < t->n; i++) {
		free(t->v[i].name);
		free(t->v[i].shown);
		free(t->v[i].data);
	}
	if (t)
		free(t->v);
	free(t);
}

static tnode *add_node(tree *t, const char *name, size_t len, int kind)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		tnode *v = realloc(t->v, cap * sizeof(tnode));
		if (!v)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n] = (tnode){ .name = strndup(name, len), .kind = kind, .offset = -1 };
	return t->v[t->n].name ? &t->v[t->n++] : NULL;
}

static int keep_wanted(const tree *t, const char *name)
{
	size_t len = strlen(name);

	for (const char *const *k = t->keep; k && *k; k++) {
		size_t n = strlen(*k);
		if (n && (!strcmp(name, *k) || (len > n && name[len - n - 1] == '/' &&
						 !strcmp(name + len - n, *k))))
			return 1;
	}
	return 0;
}

static int list_want(void *ctx, const arc_member *m, pl_err *err)
{
	tree *t = ctx;
	tnode *node = add_node(t, m->name, strlen(m->name), m->is_dir ? TREE_DIR : TREE_FILE);

	if (!node)
		return pl_errorf(err, PL_ENOMEM, "out of memory listing an archive");
	node->size = m->size;
	node->offset = m->offset;
	t->n_entries++;
	t->bytes += m->size > 0 && !m->is_dir ? m->size : 0;
	if (m->is_dir && arc_has_archive_name(m->shown, NULL)) {
		const char *colon = strrchr(m->shown, ':');
		node->inner = 1;
		if (!(node->shown = strdup(colon ? colon + 1 : m->shown)))
			return pl_errorf(err, PL_ENOMEM, "out of memory listing an archive");
	}
	if (m->is_dir)
		return ARC_READ;   /* an inner archive is listed too */
	return m->size <= TREE_KEEP_MAX && keep_wanted(t, m->name) ? ARC_READ : ARC_SKIP;
}

static int list_take(void *ctx, const arc_member *m, void *data, size_t len, pl_err *err)
{
	tree *t = ctx;
	tnode *node = &t->v[t->n - 1];

	(void)m;
	(void)err;
	node->data = data;
	node->len = len;
	node->size = (int64_t)len;
	return 0;
}

/* Adds the folders above every member that the archive does not list. */
static int add_parents(tree *t)
{
	size_t n = t->n;
	char last[PATH_MAX] = "";

	for (size_t i = 0; i < n; i++)
		for (const char *slash = strchr(t->v[i].name, '/'); slash; slash = strchr(slash + 1, '/')) {
			size_t len = (size_t)(slash - t->v[i].name);
			if (len < sizeof(last) && !strncmp(last, t->v[i].name, len) && !last[len])
				continue;
			if (!add_node(t, t->v[i].name, len, TREE_DIR))
				return -1;
			snprintf(last, sizeof(last), "%.*s", (int)len, t->v[i].name);
		}
	return 0;
}

/* Sorts the nodes, merges folders listed twice (keeping an inner archive's
 * name) and refuses a name that is two things, or one file twice. */
static int finish(tree *t, const char *path, pl_err *err)
{
	size_t out = 0;

	if (add_parents(t) < 0)
		return pl_errorf(err, PL_ENOMEM, "out of memory listing '%s'", path);
	if (t->n)   /* an empty archive: no nodes, and qsort takes no NULL */
		qsort(t->v, t->n, sizeof(tnode), node_cmp);
	for (size_t i = 0; i < t->n; i++) {
		tnode *prev = out ? &t->v[out - 1] : NULL;
		if (prev && !strcmp(prev->name, t->v[i].name)) {
			if (prev->kind != TREE_DIR || t->v[i].kind != TREE_DIR) {
				pl_errorf(err, PL_EDATA, "'%s': entry '%s' appears twice in the "
					  "archive (which copy is the data? repack it with one)",
					  path, t->v[i].name);
				memmove(&t->v[out], &t->v[i], (t->n - i) * sizeof(tnode));
				t->n = out + (t->n - i);   /* every node once, for tree_free */
				return -PL_EDATA;
			}
			if (t->v[i].inner && !prev->inner) {
				prev->inner = 1;
				prev->shown = t->v[i].shown;
				t->v[i].shown = NULL;
			}
			free(t->v[i].name);
			free(t->v[i].shown);
			continue;
		}
		t->v[out++] = t->v[i];
	}
	t->n = out;
	return 0;
}

/* ---- the index kept in the workspace ---- */

/* cache_dir/HEX.idx, HEX naming the identity and the kept names. */
static int index_path(char *out, size_t n, const char *cache_dir, const char *identity,
		      const char *const *keep, char *key, size_t key_n)
{
	char hex[SHA256_HEX];
	size_t len = (size_t)snprintf(key, key_n, "%s", identity);

	for (const char *const *k = keep; k && *k; k++)
		len += (size_t)snprintf(key + len, len < key_n ? key_n - len : 0, "|%s", *k);
	if (len >= key_n)
		return -1;
	sha256_hex(key, len, hex);
	return fs_path(out, n, NULL, "%s/archives/%.32s.idx", cache_dir, hex);
}

static int save_index(const tree *t, const char *file, const char *key, pl_err *err)
{
	strbuf b = { 0 };
	char dir[PATH_MAX];
	int rc;

	strbuf_appendf(&b, "%s\n%s\n%lld %lld %zu\n", TREE_INDEX_MAGIC, key,
		       (long long)t->n_entries, (long long)t->bytes, t->n);
	for (size_t i = 0; i < t->n; i++) {
		const tnode *v = &t->v[i];
		if (strchr(v->name, '\n') || (v->shown && strchr(v->shown, '\n'))) {
			strbuf_release(&b);
			return 0;   /* not kept: a name the index cannot hold */
		}
		strbuf_appendf(&b, "%c %lld %lld %zu %s\n%s\n", v->kind == TREE_DIR ?
			       (v->inner ? 'a' : 'd') : 'f', (long long)v->offset, (long long)v->size,
			       v->data ? v->len : (size_t)-1 >> 1, v->name, v->shown ? v->shown : "");
		if (v->data)
			strbuf_append(&b, v->data, v->len);
	}
	if ((rc = fs_path(dir, sizeof(dir), err, "%s", file)) < 0)
		return rc;
	*strrchr(dir, '/') = '\0';
	if ((rc = fs_mkdirs(dir, err)) < 0) {
		strbuf_release(&b);
		return rc;
	}
	size_t len;
	char *text = strbuf_take(&b, &len);
	rc = text ? fs_write_atomic(file, text, len, err) : pl_errorf(err, PL_ENOMEM, "out of memory");
	free(text);
	return rc;
}

/* One node of the index from *p on; 0, or -1 when the text is not one. */
static int parse_node(tree *t, char **p, const char *end)
{
	char kind, *nl = memchr(*p, '\n', (size_t)(end - *p)), *shown_end;
	long long offset, size;
	size_t len;
	int used = 0;
	tnode *v;

	if (!nl || sscanf(*p, "%c %lld %lld %zu %n", &kind, &offset, &size, &len, &used) != 4 ||
	    !used || !strchr("adf", kind) || !(shown_end = memchr(nl + 1, '\n', (size_t)(end - nl - 1))))
		return -1;
	if (!(v = add_node(t, *p + used, (size_t)(nl - *p - used), kind == 'f' ? TREE_FILE : TREE_DIR)))
		return -1;
	v->inner = kind == 'a';
	v->offset = offset;
	v->size = size;
	if (v->inner && !(v->shown = strndup(nl + 1, (size_t)(shown_end - nl - 1))))
		return -1;
	*p = shown_end + 1;
	if (len == (size_t)-1 >> 1)
		return 0;
	if (len > (size_t)(end - *p) || !(v->data = malloc(len + 1)))
		return -1;
	memcpy(v->data, *p, len);
	v->data[len] = '\0';
	v->len = len;
	*p += len;
	return 0;
}

/* Loads the index at file when it was made for key; 1 when loaded. */
static int load_index(tree *t, const char *file, const char *key)
{
	char *text = NULL, *p, *end;
	size_t len, n = 0, magic = strlen(TREE_INDEX_MAGIC), keylen = strlen(key);
	long long entries, bytes;
	int used = 0;

	if (fs_read_file(file, (size_t)1 << 40, &text, &len, NULL) < 0)
		return 0;
	end = text + len;
	p = text;
	if (len < magic + keylen + 2 || memcmp(p, TREE_INDEX_MAGIC "\n", magic + 1) ||
	    memcmp(p + magic + 1, key, keylen) || p[magic + 1 + keylen] != '\n' ||
	    sscanf(p + magic + keylen + 2, "%lld %lld %zu\n%n", &entries, &bytes, &n, &used) != 3) {
		free(text);
		return 0;
	}
	p += magic + keylen + 2 + used;
	t->n_entries = entries;
	t->bytes = bytes;
	for (size_t i = 0; i < n; i++)
		if (parse_node(t, &p, end) < 0) {
			free(text);
			return 0;
		}
	free(text);
	return t->n == n;
}

/* The limits hold for an index read back, as for a new listing. */
static int check_counts(const tree *t, const char *path, const arc_limits *lim, pl_err *err)
{
	int64_t max_entries = lim && lim->max_entries > 0 ? lim->max_entries : 1000000;
	int64_t max_bytes = lim && lim->max_total_bytes > 0 ? lim->max_total_bytes : (int64_t)64 << 30;

	if (t->n_entries > max_entries)
		return pl_errorf(err, PL_EDATA, "'%s': more than %lld entries (the limit)", path,
				 (long long)max_entries);
	if (t->bytes > max_bytes)
		return pl_errorf(err, PL_EDATA, "'%s': entries add up to more than the limit of "
				 "%lld bytes", path, (long long)max_bytes);
	return 0;
}

/* Takes the lock of the index at file (file.lock), so that prepare shares
 * started at once list the archive once; -1 when it cannot be had. */
static int lock_index(const char *file)
{
	char dir[PATH_MAX], lock[PATH_MAX];
	int fd;

	if (fs_path(dir, sizeof(dir), NULL, "%s", file) < 0 ||
	    fs_path(lock, sizeof(lock), NULL, "%s.lock", file) < 0)
		return -1;
	*strrchr(dir, '/') = '\0';
	if (fs_mkdirs(dir, NULL) < 0 || (fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return -1;
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	return fd;
}

/* Lists the archive with one pass over it, into an empty t. */
static int list_archive(tree *t, const char *path, const arc_limits *lim, pl_err *err)
{
	for (size_t i = 0; i < t->n; i++) {   /* what a bad index left */
		free(t->v[i].name);
		free(t->v[i].shown);
		free(t->v[i].data);
	}
	t->n = 0;
	t->n_entries = t->bytes = 0;
	log_info("listing the members of %s", path);
	int rc = arc_stream(path, lim, list_want, list_take, t, err);
	return rc < 0 ? rc : finish(t, path, err);
}

int tree_open_archive(const char *path, const char *identity, const char *cache_dir,
		      const arc_limits *lim, const char *const *keep, tree **out, pl_err *err)
{
	char file[PATH_MAX], key[4096];
	int cached = 0, fd = -1, rc;
	tree *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	t->keep = keep;
	cached = cache_dir && *identity &&
		 index_path(file, sizeof(file), cache_dir, identity, keep, key, sizeof(key)) == 0;
	if (cached)
		fd = lock_index(file);
	if (cached && load_index(t, file, key))
		rc = check_counts(t, path, lim, err);
	else if ((rc = list_archive(t, path, lim, err)) == 0 && cached)
		rc = save_index(t, file, key, err);
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		tree_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* ---- queries ---- */

int tree_join(char *out, size_t n, pl_err *err, const char *root, const char *rel)
{
	return fs_path(out, n, err, "%s%s%s", root, *root && *rel ? "/" : "", rel);
}

static const tnode *find(const tree *t, const char *path)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = path_cmp(t->v[mid].name, path);
		if (c == 0)
			return &t->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Index of the first node after folder dir's own ("" : 0). */
static size_t first_child(const tree *t, const char *dir)
{
	const tnode *d = *dir ? find(t, dir) : NULL;

	return d ? (size_t)(d - t->v) + 1 : *dir ? t->n : 0;
}

static int list_disk(const char *dir, tree_ent **out, int *n, pl_err *err)
{
	struct dirent **names = NULL;
	char path[PATH_MAX];
	int count = scandir(dir, &names, NULL, alphasort), rc = 0;

	if (count < 0)
		return pl_errorf(err, PL_EIO, "cannot list '%s': %s", dir, strerror(errno));
	*out = calloc((size_t)count + 1, sizeof(tree_ent));
	for (int i = 0; i < count; i++) {
		if (*out && rc == 0 && fs_path(path, sizeof(path), NULL, "%s/%s", dir,
					       names[i]->d_name) == 0) {
			(*out)[i].kind = tree_kind(NULL, path);
			if (!((*out)[i].name = strdup(names[i]->d_name)))
				rc = -1;
		}
		free(names[i]);
	}
	free(names);
	*n = count;
	if (!*out || rc < 0) {
		tree_list_free(*out, count);
		*out = NULL;
		return pl_errorf(err, PL_ENOMEM, "out of memory listing '%s'", dir);
	}
	return 0;
}

int tree_list(const tree *t, const char *dir, tree_ent **out, int *n, pl_err *err)
{
	size_t len = strlen(dir), cap = 16;
	int count = 0;

	*out = NULL;
	*n = 0;
	if (!t)
		return list_disk(dir, out, n, err);
	if (!(*out = calloc(cap, sizeof(tree_ent))))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	for (size_t i = first_child(t, dir); i < t->n; i++) {
		const char *name = t->v[i].name, *rest = name + len + !!len;
		if (len && (strncmp(name, dir, len) || name[len] != '/'))
			break;
		if (strchr(rest, '/'))
			continue;
		if ((size_t)count + 1 >= cap) {
			tree_ent *grown = realloc(*out, (cap *= 2) * sizeof(tree_ent));
			if (!grown) {
				tree_list_free(*out, count);
				*out = NULL;
				return pl_errorf(err, PL_ENOMEM, "out of memory");
			}
			*out = grown;
		}
		(*out)[count].kind = t->v[i].kind;
		if (!((*out)[count++].name = strdup(rest))) {
			tree_list_free(*out, count);
			*out = NULL;
			return pl_errorf(err, PL_ENOMEM, "out of memory");
		}
	}
	*n = count;
	return 0;
}

void tree_list_free(tree_ent *v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

int tree_kind(const tree *t, const char *path)
{
	struct stat st;
	const tnode *v;

	if (t)
		return !*path ? TREE_DIR : (v = find(t, path)) ? v->kind : TREE_NONE;
	if (stat(path, &st) != 0)
		return TREE_NONE;
	return S_ISDIR(st.st_mode) ? TREE_DIR : S_ISREG(st.st_mode) ? TREE_FILE : TREE_OTHER;
}

int tree_read(const tree *t, const char *path, size_t max, char **data, size_t *len,
	      pl_err *err)
{
	const tnode *v;
	char shown[PATH_MAX];

	if (!t)
		return fs_read_file(path, max, data, len, err);
	tree_shown(t, path, shown, sizeof(shown));
	if (!(v = find(t, path)) || v->kind != TREE_FILE)
		return pl_errorf(err, PL_EIO, "cannot read '%s': not in the archive", shown);
	if (!v->data || v->len > max)
		return pl_errorf(err, PL_EIO, "cannot read '%s': %s", shown, v->data ?
				 "too large" : "not kept from the archive");
	if (!(*data = malloc(v->len + 1)))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	memcpy(*data, v->data, v->len + 1);
	*len = v->len;
	return 0;
}

int64_t tree_offset(const tree *t, const char *path, int64_t *size)
{
	const tnode *v = t ? find(t, path) : NULL;

	*size = v ? v->size : 0;
	return v && v->kind == TREE_FILE && v->size >= 0 ? v->offset : -1;
}

int tree_seekable(const tree *t)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (t->v[i].kind == TREE_FILE && (t->v[i].offset < 0 || t->v[i].size < 0))
			return 0;
	return t != NULL;
}

int64_t tree_inner(const tree *t, const char *path)
{
	char head[PATH_MAX];
	const tnode *v;

	for (const char *slash = strchr(path, '/'); t && slash; slash = strchr(slash + 1, '/')) {
		snprintf(head, sizeof(head), "%.*s", (int)(slash - path), path);
		if ((v = find(t, head)) && v->inner)
			return v - t->v;
	}
	return -1;
}

void tree_shown(const tree *t, const char *path, char *out, size_t n)
{
	char head[PATH_MAX];

	snprintf(out, n, "%s", path);
	for (const char *slash = strchr(path, '/'); t && slash; slash = strchr(slash + 1, '/')) {
		const tnode *v;
		snprintf(head, sizeof(head), "%.*s", (int)(slash - path), path);
		if ((v = find(t, head)) && v->inner) {
			const char *up = strrchr(head, '/');
			snprintf(out, n, "%.*s%s:%s", up ? (int)(up - head + 1) : 0, head, v->shown,
				 slash + 1);
			return;
		}
	}
}
