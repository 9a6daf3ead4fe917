/* The prepare stage's input: a URL, a local archive or directory, or the
 * built-in demo plate, as a tree of files: a directory read in place, or
 * an archive read as a stream, never extracted. */
#ifndef PL_SOURCE_H
#define PL_SOURCE_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>

#include "../io/cfg.h"
#include "../io/err.h"
#include "tree.h"

typedef struct source {
	char root[PATH_MAX];       /* directory holding the data (after descending
				    * into a single top-level directory); for an
				    * archive, that folder inside it ("" for its top) */
	tree *tree;                /* an archive's members, or NULL for a directory */
	char archive[PATH_MAX];    /* the archive file read, or "" */
	arc_limits lim;            /* the limits it is read with */
	char identity[128];        /* "sha256:...", "tree:...", "synth:..." */
	long long bytes;           /* size of the archive or download, 0 for a directory */
	char shown[2048];          /* the source as the user gave it (URL credentials
				    * removed), named in messages before an archive's
				    * members */
	const char *ws;            /* the workspace it was opened in */
} source;

/* Writes the identity of the configured source into out without fetching
 * or extracting anything ("" when a URL is not downloaded yet). */
int source_identity(const cfg *c, const char *ws, char *out, size_t n, pl_err *err);

/* Fetches (or draws) the configured source and lists an archive's members
 * (the listing is kept in WS/.cache/archives), or uses a local directory as
 * it is. Nothing is extracted. */
int source_open(const cfg *c, const char *ws, const volatile sig_atomic_t *stop,
		source *src, pl_err *err);

/* Writes the file name under WS/downloads that the configured source is
 * kept in (a URL's download, the drawn demo plate), or "" for a local path. */
int source_download_name(const cfg *c, const char *ws, char *out, size_t n, pl_err *err);

/* A file of the source (a path under src->root as samples list them, or
 * root itself for "") as messages name it: on disk as it is, in an archive
 * the source as given with the member after a colon
 * ("data.tar.gz:cats/001.png", "train.tar:n01440764.tar:a.JPEG"). */
void source_shown(const source *src, const char *rel, char *out, size_t n);

/* Frees the listing of src. */
void source_close(source *src);

#endif
