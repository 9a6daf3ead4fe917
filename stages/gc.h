/* Garbage collection of a workspace: temporary files no stage will resume
 * from, downloads of sources no longer configured, memoised hashes. */
#ifndef PL_GC_H
#define PL_GC_H

#include "engine.h"

/* Removes from WS what the current configuration cannot use: .tmp entries
 * other than a stage's work in progress at its current fingerprint,
 * downloads other than the configured source, and the hash cache. Stage
 * results are kept (clean removes those). *freed gets the bytes removed.
 * The caller holds the workspace lock. */
int gc_workspace(const stage_def *defs, int n, const char *ws, const cfg *c, long long *freed,
		 pl_err *err);

#endif
