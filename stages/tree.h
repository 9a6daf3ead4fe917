/* The files of a prepare source as a tree: a directory on disk (tree
 * NULL), or an archive's members, listed by one pass over its headers
 * (inner archives as folders) and kept in the workspace as an index, so
 * that nothing is extracted. */
#ifndef PL_TREE_H
#define PL_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "../io/arc.h"
#include "../io/err.h"

typedef struct tree tree;

enum { TREE_NONE, TREE_FILE, TREE_DIR, TREE_OTHER };

typedef struct tree_ent {
	char *name;   /* the child's name (owned) */
	int kind;     /* TREE_FILE, TREE_DIR or TREE_OTHER */
} tree_ent;

/* Lists the archive at path (identity: its data identity, which the index
 * kept in cache_dir is checked against; cache_dir may be NULL) with lim
 * (the index's counts are checked against it too). The contents of the
 * members named keep[i] (NULL-terminated; a name matches a member of that
 * path or ending in "/" that path) are kept, for tree_read: the table and
 * the class-names file. Errors name the archive and the entry (PL_EDATA) or
 * the file (PL_EIO). Caller frees with tree_free. */
int tree_open_archive(const char *path, const char *identity, const char *cache_dir,
		      const arc_limits *lim, const char *const *keep, tree **out, pl_err *err);
void tree_free(tree *t);

/* "root/rel", or rel when root is "" (an archive's top). */
int tree_join(char *out, size_t n, pl_err *err, const char *root, const char *rel);

/* The children of folder dir, sorted by name (bytes), as scandir's
 * alphasort in the C locale; caller frees with tree_list_free. */
int tree_list(const tree *t, const char *dir, tree_ent **out, int *n, pl_err *err);
void tree_list_free(tree_ent *v, int n);

/* TREE_NONE, TREE_FILE, TREE_DIR or TREE_OTHER (following links on disk). */
int tree_kind(const tree *t, const char *path);

/* Reads a file of at most max bytes (NUL after the end; caller frees): from
 * disk, or a member kept by tree_open_archive. */
int tree_read(const tree *t, const char *path, size_t max, char **data, size_t *len,
	      pl_err *err);

/* Where member path's bytes lie in the archive file (*size of them), or -1
 * when they are not stored there as they are (compressed, zip). */
int64_t tree_offset(const tree *t, const char *path, int64_t *size);

/* 1 when every file under the tree lies at a fixed place in the file
 * (an uncompressed tar, also of uncompressed tars). */
int tree_seekable(const tree *t);

/* An id of the inner archive path lies in (the same for all its members),
 * or -1 for none. */
int64_t tree_inner(const tree *t, const char *path);

/* Path as messages name it inside the archive: an inner archive by its
 * own name ("n01440764.tar:a.JPEG"); on disk, path. */
void tree_shown(const tree *t, const char *path, char *out, size_t n);

#endif
