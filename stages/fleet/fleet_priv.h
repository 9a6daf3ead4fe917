/* What the files of stages/fleet share. */
#ifndef PL_FLEET_PRIV_H
#define PL_FLEET_PRIV_H

#include <jansson.h>

#include "fleet.h"
#include "queue.h"

struct fleet_conn {
	queue q;
	fleet_limits limits;
};

/* Field of job id's record as a heap string ("" when missing; caller
 * frees), NULL on error. */
char *fleet_hget(fleet_conn *f, const char *id, const char *field, pl_err *err);

/* The record of job key (a reply of HGETALL) as an object; the fields
 * spec, metrics and result that hold JSON are parsed. */
json_t *fleet_record(const redisReply *r);

/* The job ids of submission sub (in layer order) into *out (array). */
int fleet_sub_jobs(fleet_conn *f, const char *sub, json_t **out, pl_err *err);

/* Runs one job of the worker: its spec, what it gives back. */
typedef struct job_result {
	json_t *metrics;              /* object, owned */
	char *output;                 /* where the result is, heap ("" none) */
	char *result;                 /* predict: the JSON lines, heap ("" none) */
	char progress[128];
} job_result;

typedef struct job_env {
	const char *id;
	const char *tmp_dir;          /* the worker's scratch directory */
	const volatile sig_atomic_t *stop;  /* set: stop soon (PL_EINTR) */
	struct pkg_cache *packages;
} job_env;

struct pkg_cache *job_cache_new(void);
void job_cache_free(struct pkg_cache *c);

/* Runs the job of kind with spec; fills res (release with
 * job_result_release). Returns 0 or the job's error. */
int job_run(const job_env *env, const char *kind, const json_t *spec, job_result *res,
	    pl_err *err);
void job_result_release(job_result *res);

#endif
