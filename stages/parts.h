/* Sharded prepare: `pipeline stage prepare --shard I/N` builds part I of N
 * (samples [n*I/N, n*(I+1)/N)) in WS/.tmp/prepare-shards/FINGERPRINT/I-of-N,
 * committed on its own with one rename; prepare without --shard assembles
 * the parts (doing the missing ones itself) into the same bytes a single
 * process writes. */
#ifndef PL_PARTS_H
#define PL_PARTS_H

#include <jansson.h>

#include "../io/err.h"

/* Parses "I/N" into *index and *count (0 <= I < N <= PARTS_MAX);
 * "/N" takes I from JOB_COMPLETION_INDEX (set in the pods of an Indexed
 * Job). PL_EUSAGE naming the text when it is not valid. */
#define PARTS_MAX 10000
int parts_parse(const char *text, int *index, int *count, pl_err *err);

/* The shard parts kept for prepare's fingerprint fp in workspace ws, or NULL
 * when there are none: {"count": N, "done": D, "parts": [{"shard": "I/N",
 * "state": "done", "tiles", "mib", "elapsed_s", "host"}, {"shard": "I/N",
 * "state": "failed", "reason"} or {"shard": "I/N", "state": "missing"},
 * ...]} for the set of parts the assembly would use (or, none being done,
 * those a failed part names). */
json_t *parts_status(const char *ws, const char *fp);

#endif
