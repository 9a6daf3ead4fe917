/* Content hashes of input and output files, memoised by path, size, inode,
 * mtime and ctime (nanoseconds; a user can set the mtime back, not the
 * ctime) in WS/.cache/NAME.json, so a rerun does not re-read gigabytes.
 * As in git's index, an entry whose times are not older than the memo's
 * own write time ("racy": the file may have changed within the same clock
 * tick) is not trusted: the file is read again. */
#ifndef PL_HASHCACHE_H
#define PL_HASHCACHE_H

#include "../io/err.h"
#include "../io/sha.h"

typedef struct hashcache hashcache;

/* Loads the cache WS/.cache/NAME.json of workspace ws (a missing or
 * unreadable cache is empty): "inputs" for the data the stages read,
 * "outputs" for their results, kept apart so that checking a few outputs
 * does not load the hashes of a large input tree. NULL on out of memory.
 * Free with hashcache_free. */
hashcache *hashcache_open(const char *ws, const char *name);

/* SHA-256 of the file at path, from the cache when path, size, inode,
 * mtime and ctime are unchanged (and the entry is not racy), else read and
 * remembered. */
int hashcache_file(hashcache *hc, const char *path, char hex[SHA256_HEX], pl_err *err);

/* Remembers hex as the SHA-256 of the file at path as it is now (one just
 * written and hashed), so the next hashcache_file need not read it. */
void hashcache_note(hashcache *hc, const char *path, const char *hex);

/* Writes the cache back (atomically) when it changed; errors are ignored by
 * callers that only lose speed. */
int hashcache_save(hashcache *hc, pl_err *err);

void hashcache_free(hashcache *hc);

/* Identity of a directory tree: SHA-256 over the sorted relative paths of
 * its regular files with their sizes and content hashes. */
int hashcache_tree(hashcache *hc, const char *dir, char hex[SHA256_HEX], pl_err *err);

#endif
