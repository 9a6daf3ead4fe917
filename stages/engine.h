/* The stage engine: fingerprints, the cache, atomic commit of a stage's
 * outputs, the workspace lock, status with reasons. */
#ifndef PL_ENGINE_H
#define PL_ENGINE_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>

#include <jansson.h>

#include "../io/cfg.h"
#include "../io/err.h"
#include "../io/sha.h"

/* What a stage reads from its upstream: the upstream's fingerprint (part
 * of the stage's own) and, once that result is committed, a digest of its
 * outputs (recorded beside it): a retrained model (forced, or trained with
 * another thread count) is validated and packaged again, though neither
 * fingerprint changes. */
typedef struct upstream {
	char fingerprint[SHA256_HEX]; /* "" with no upstream, or one not yet known */
	char outputs[SHA256_HEX];     /* digest of its committed outputs, "" when none */
} upstream;

/* What a running stage sees. */
typedef struct stage_ctx {
	const char *ws;               /* workspace directory */
	const cfg *cfg;               /* effective configuration */
	const char *name;             /* this stage */
	char out_dir[PATH_MAX];       /* build outputs here: WS/.tmp/NAME */
	char up_dir[PATH_MAX];        /* the committed upstream stage: WS/UP ("" if none) */
	json_t *metrics;              /* headline metrics the stage sets (object) */
	json_t *info;                 /* more fields for stage.json (object) */
	const volatile sig_atomic_t *stop;  /* non-zero: stop soon, return PL_EINTR */
	const char *part;             /* "I/N": run as part I of N of a prepare (--shard), else NULL */
	char fingerprint[SHA256_HEX]; /* this run's fingerprint, "" while the input
				       * data identity is unknown (engine_fingerprint) */
	const struct stage_def *def;  /* this stage */
	upstream up;                  /* what it reads from its upstream */
} stage_ctx;

typedef struct stage_def {
	const char *name;
	int format;                   /* artifact format version */
	const char *sections;         /* config sections hashed, space-separated */
	const char *upstream;         /* the stage whose outputs it reads, or NULL */
	/* Optional: writes the identity of the stage's input data into out
	 * (e.g. "sha256:..."), or "" when it cannot be known before running. */
	int (*identity)(stage_ctx *ctx, char *out, size_t n, pl_err *err);
	int (*run)(stage_ctx *ctx, pl_err *err);
} stage_def;

typedef enum stage_state {
	ST_CACHED,      /* done, fingerprint matches */
	ST_STALE,       /* done once, but something changed */
	ST_NEVER,       /* no valid result */
	ST_FAILED,      /* the last attempt with these inputs failed */
	ST_RAN,         /* ran in this invocation */
	ST_SKIPPED      /* outside --from/--until */
} stage_state;

/* What the assessment of a stage found, and what happened to it. */
typedef struct stage_status {
	const stage_def *def;
	stage_state state;
	char reason[sizeof(((pl_err *)0)->msg) + 64];  /* "cached", "config changed: train.lr
						* 0.01 -> 0.02", "failed: MESSAGE" ... */
	char fingerprint[SHA256_HEX]; /* computed now ("" when unknown) */
	upstream up;                  /* what its upstream holds now */
	json_t *config;               /* its canonical effective config, owned */
	char data[512];               /* identity of its input data ("" unknown or none) */
	json_t *record;               /* the stage.json read (NULL if none), owned */
	json_t *failure;              /* the failure record (NULL if none), owned */
} stage_status;

typedef struct engine_opts {
	const char *ws;
	const cfg *cfg;
	const char *from, *until;     /* NULL = first / last */
	const char *force;            /* a stage name, "all" or NULL */
	int dry_run;
	const char *part;             /* passed to the stage as ctx.part */
	const volatile sig_atomic_t *stop;
} engine_opts;

/* Computes ctx's stage fingerprint now into ctx->fingerprint (for a stage
 * whose data identity became known while running, e.g. after a download);
 * it stays "" when the identity is still unknown. */
int engine_fingerprint(stage_ctx *ctx, pl_err *err);

/* Leaves a one-line note of where the running stage stands ("resumes
 * after epoch 3 of 10"), which status shows while a run with the same
 * inputs is unfinished; it is dropped when the stage completes. */
int engine_note(const stage_ctx *ctx, const char *note, pl_err *err);

/* Runs the stages defs[0..n) in order as opts says. With opts->part the
 * one stage selected runs as that part: no workspace lock is expected, its
 * work is not committed as the stage's result and failures are not
 * recorded (the stage keeps its parts itself). st (n entries) gets
 * what happened to each; release with engine_status_release. Returns 0, or
 * the failing stage's error (message prefixed with the stage name). */
int engine_run(const stage_def *defs, int n, const engine_opts *opts,
	       stage_status *st, pl_err *err);

/* Runs the stage def as a rank of an MPI job other than 0: with the
 * context rank 0's engine_run gives it, but without the lock, the
 * temporary directory, the record or the commit: rank 0 writes all. */
int engine_follow(const stage_def *def, const engine_opts *opts, pl_err *err);

/* Fills st (n entries) with each stage's state and reason, without running
 * anything or taking the lock; the same walk as engine_run. With
 * unknown_ok, a data identity that cannot be had (no source configured)
 * is not an error: the stages then show as never run (the one that
 * cannot tell saying why), or as "cannot tell: WHY" when they hold a
 * result. Release with engine_status_release
 * (on failure st is released already). */
int engine_status(const stage_def *defs, int n, const char *ws, const cfg *cfg,
		  int unknown_ok, stage_status *st, pl_err *err);

void engine_status_release(stage_status *st, int n);

/* Index of the stage named name in defs, or -1. */
int engine_find(const stage_def *defs, int n, const char *name);

/* Takes the workspace lock (WS/.lock, flock); *fd gets the descriptor to
 * keep open. PL_ELOCK naming the holder's pid when another process has it. */
int engine_lock(const char *ws, int *fd, pl_err *err);
/* engine_lock, but while another process holds the workspace, says so once
 * and waits for it (until *stop is set: PL_EINTR). For container steps: a
 * duplicated pod waits for the first, then finds the stage done. */
int engine_lock_wait(const char *ws, int *fd, const volatile sig_atomic_t *stop, pl_err *err);
void engine_unlock(int fd);

/* Removes the result and temporary files of the stage named name. */
int engine_clean(const char *ws, const char *name, pl_err *err);

/* The word status shows for s: "cached", "stale", "never run" ... */
const char *engine_state_name(stage_state s);

#endif
