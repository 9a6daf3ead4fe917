/* Fleet mode: stage and predict jobs on a Redis stream, run by a pool of
 * workers (DESIGN.md "Fleet mode"). This is what cmd/worker.c, cmd/submit.c
 * and cmd/jobs.c call. */
#ifndef PL_FLEET_H
#define PL_FLEET_H

#include <signal.h>

#include <jansson.h>

#include "../../io/cfg.h"
#include "../../io/err.h"

/* redis://HOST[:PORT][/DB] */
typedef struct fleet_url {
	char host[256];
	int port;                     /* 6379 when not given */
	int db;                       /* 0 when not given */
} fleet_url;

/* Parses text; PL_EUSAGE naming it when it is not a redis:// URL (rediss://
 * is refused: the hiredis this builds on has no TLS). */
int fleet_url_parse(const char *text, fleet_url *u, pl_err *err);

/* The [queue] section: every limit of the protocol. */
typedef struct fleet_limits {
	char prefix[128];             /* key prefix */
	double lease_s;               /* a job whose worker stops renewing is reclaimed after this */
	int max_deliveries;           /* deliveries (and transient retries) before dead / failed */
	long result_ttl_s;            /* finished job records expire after this */
	double retry_s, retry_max_s;  /* transient retry backoff: first delay, doubled, cap */
	double grace_s;               /* a stopping worker's job gets this long before hand-back */
	double reconnect_max_s;       /* longest wait between reconnection attempts */
} fleet_limits;

void fleet_limits_from_cfg(const cfg *c, fleet_limits *l);

/* The queue URL: text when given, else PIPELINE_QUEUE, else [queue] url.
 * PL_EUSAGE when there is none or it does not parse. */
int fleet_url_pick(const char *text, const cfg *c, fleet_url *u, pl_err *err);

typedef struct fleet_conn fleet_conn;

/* Connects (once, no retry: PL_ETEMP when Redis is not there). Caller
 * closes with fleet_disconnect. */
int fleet_connect(const fleet_url *u, const fleet_limits *l, fleet_conn **out, pl_err *err);
void fleet_disconnect(fleet_conn *f);

/* ---- worker ---- */

typedef struct fleet_worker_opts {
	fleet_url url;
	fleet_limits limits;
	const char *name;             /* consumer name; NULL = HOST:PID */
	long max_jobs;                /* 0 = no limit */
	double idle_exit_s;           /* 0 = never */
	const volatile sig_atomic_t *stop;  /* SIGTERM/SIGINT: drain and exit */
} fleet_worker_opts;

/* Takes jobs until stopped (drains: the current job finishes or is handed
 * back within grace_s), max_jobs were run or idle_exit_s passed without
 * work. Returns 0, or an error that is not a job's (a bad URL). */
int fleet_worker_run(const fleet_worker_opts *o, pl_err *err);

/* ---- submit ---- */

typedef struct fleet_run_req {
	const char *ws;               /* workspace (made absolute) */
	const char *config;           /* config file or NULL */
	char *const *sets;            /* --set assignments, PIPELINE_SET's first */
	int n_sets;
	int shards;                   /* prepare parts; <= 1 = one prepare job */
} fleet_run_req;

/* Puts the stage graph of req on the queue in layers. *out gets
 * {"submission", "jobs": [{"id", "layer", "name", "status", "new"}]}. */
int fleet_submit_run(fleet_conn *f, const fleet_run_req *req, json_t **out, pl_err *err);

typedef struct fleet_predict_req {
	const char *package;
	const char *out_dir;          /* NULL = results only in the records */
	char *const *inputs;          /* paths (files; directories are expanded) and URLs */
	int n_inputs;
	int batch;                    /* inputs per job (>= 1) */
} fleet_predict_req;

int fleet_submit_predict(fleet_conn *f, const fleet_predict_req *req, json_t **out,
			 pl_err *err);

/* Waits until no job of submission sub is queued or running (or *stop:
 * PL_EINTR). *code gets 0 when all are done, else the PL_E* code of the
 * first failed job in layer order (PL_EFAIL for dead or cancelled), and
 * err its reason; cmd/ maps it to the exit code `pipeline run` gives. */
int fleet_wait(fleet_conn *f, const char *sub, const volatile sig_atomic_t *stop,
	       int *code, pl_err *err);

/* ---- jobs ---- */

/* {"submissions": [{"id", "kind", "what", "created", "layers": [{"layer",
 * "name", "total", "queued", "running", "done", "failed", "dead",
 * "cancelled"}]}], "workers": [{"name", "job", "state", "heartbeat_age_s"}]} */
int fleet_status(fleet_conn *f, json_t **out, pl_err *err);

/* Records (without spec and result) of jobs in state (NULL = all) or of
 * submission sub (NULL = all), in submission and layer order. */
int fleet_list(fleet_conn *f, const char *state, const char *sub, json_t **out, pl_err *err);

/* The whole record of job id; PL_EUSAGE when there is none. */
int fleet_show(fleet_conn *f, const char *id, json_t **out, pl_err *err);

/* Requeues job id (when failed, dead or cancelled), or with id NULL every
 * job in state (failed or dead). *n gets how many. */
int fleet_requeue(fleet_conn *f, const char *id, const char *state, int *n, pl_err *err);

/* Cancels job id, or every queued or running job of submission sub. */
int fleet_cancel(fleet_conn *f, const char *id, const char *sub, int *n, pl_err *err);

/* Removes the records of finished jobs (and of submissions left empty), or
 * with all every key under the prefix. *n gets how many keys went. */
int fleet_flush(fleet_conn *f, int all, long *n, pl_err *err);

#endif
