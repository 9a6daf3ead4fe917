/* The prepare stage's input: a URL, a local archive or directory, or the
 * built-in demo plate, made available as a local directory. */
#ifndef PL_SOURCE_H
#define PL_SOURCE_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>

#include "../io/cfg.h"
#include "../io/err.h"

typedef struct source {
	char root[PATH_MAX];       /* directory holding the data (after descending
				    * into a single top-level directory) */
	char extracted[PATH_MAX];  /* temporary extraction to remove, or "" */
	char identity[128];        /* "sha256:...", "tree:...", "synth:..." */
	long long bytes;           /* size of the archive or download, 0 for a directory */
	char shown[2048];          /* the source as the user gave it (URL credentials
				    * removed), named in messages for what is in extracted */
	const char *ws;            /* the workspace it was opened in */
} source;

/* Writes the identity of the configured source into out without fetching
 * or extracting anything ("" when a URL is not downloaded yet). */
int source_identity(const cfg *c, const char *ws, char *out, size_t n, pl_err *err);

/* Fetches (or draws) and extracts the configured source into a temporary
 * directory under WS/.tmp, or uses a local directory as it is. */
int source_open(const cfg *c, const char *ws, const volatile sig_atomic_t *stop,
		source *src, pl_err *err);

/* Writes the file name under WS/downloads that the configured source is
 * kept in (a URL's download, the drawn demo plate), or "" for a local path. */
int source_download_name(const cfg *c, const char *ws, char *out, size_t n, pl_err *err);

/* Rewrites every path under the temporary extraction named in err's
 * message as the source the user gave, with the entry after a colon
 * ("data.tar.gz:cats/001.png"): the temporary folder is gone by the time
 * the message is read. */
void source_explain(const source *src, pl_err *err);

/* Removes the temporary extraction of src. */
void source_close(source *src);

#endif
