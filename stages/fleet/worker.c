/* The fleet worker: one loop over explicit states (idle: claim or read a
 * job; running: the job, its lease renewed by a heartbeat thread; then
 * idle again or exit), a drain on SIGTERM that lets the job finish within
 * grace_seconds or hands it back, and reconnection with backoff. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../io/fs.h"
#include "../../io/log.h"
#include "fleet_priv.h"

#define BLOCK_MS 1000              /* longest wait for a job in one read; bounds the loop */
#define TICK_S 0.1                 /* the heartbeat thread's clock */
#define HEARTBEATS_PER_LEASE 3     /* a lease is renewed this often within its length */

typedef enum worker_state { W_IDLE, W_RUNNING, W_EXIT } worker_state;

typedef struct worker {
	const fleet_worker_opts *o;
	char name[300];
	queue q;                      /* the loop's connection */
	queue hbq;                    /* the heartbeat thread's own */
	pthread_t hb;
	pthread_mutex_t mu;           /* guards job_id, sid, state */
	char job_id[96], sid[64];
	worker_state state;
	volatile sig_atomic_t job_stop;   /* the running job's stop flag (engine ctx.stop) */
	volatile sig_atomic_t lost;       /* its lease went to another worker, or it was cancelled */
	volatile sig_atomic_t hb_quit;
	volatile sig_atomic_t draining;   /* the stop signal came while a job ran */
	long jobs_run;
	double last_work;
	char tmp_dir[PATH_MAX];
	struct pkg_cache *packages;
	char stream[192];
} worker;

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static const char *state_name(worker_state s)
{
	return s == W_RUNNING ? "running" : s == W_IDLE ? "idle" : "stopping";
}

/* Registers the worker (name -> its job and heartbeat) in PREFIX:workers. */
static void announce(worker *w, queue *q, const char *job, worker_state st)
{
	char key[192], host[256] = "", now[32];
	redisReply *r = NULL;
	pl_err err = { 0 };
	json_t *v;
	char *text;

	gethostname(host, sizeof(host) - 1);
	queue_now(now);
	v = json_pack("{s:s,s:s,s:s,s:i,s:f}", "job", job, "state", state_name(st), "host", host,
		      "pid", (int)getpid(), "heartbeat", atof(now));
	text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	queue_key(q, key, sizeof(key), "workers");
	if (text && queue_cmdl(q, &r, &err, "HSET", key, w->name, text, QEND) < 0)
		log_debug("%s", err.msg);
	freeReplyObject(r);
	free(text);
	json_decref(v);
}

/* Renews the running job's lease; a lease lost or a job cancelled stops it. */
static void renew(worker *w, const char *id, const char *sid, const char *progress)
{
	char now[32];
	const char *args[5] = { id, sid, w->name, now, progress };
	redisReply *r = NULL;
	pl_err err = { 0 };

	queue_now(now);
	if (queue_eval(&w->hbq, QS_HEARTBEAT, 5, args, &r, &err) < 0) {
		log_warn("heartbeat of job %s: %s", id, err.msg);
		return;
	}
	if (strcmp(queue_str(r), "ok")) {
		log_warn("job %s: %s; stopping it", id, !strcmp(queue_str(r), "lost") ?
			 "its lease went to another worker" : "cancelled");
		w->lost = 1;
		w->job_stop = 1;
	}
	freeReplyObject(r);
}

/* The heartbeat thread: renews the lease every lease/3, keeps the worker's
 * entry fresh, and after a stop signal gives the job grace_s before
 * stopping it (it is then handed back). */
static void *heartbeat_main(void *arg)
{
	worker *w = arg;
	double interval = fmax(w->o->limits.lease_s / HEARTBEATS_PER_LEASE, TICK_S), last = 0,
	       stop_at = 0;
	char shown[96] = "-";   /* the job the last announcement named: a change is told at once */

	while (!w->hb_quit) {
		char id[96], sid[64];
		worker_state st;
		sleep_s(TICK_S);
		pthread_mutex_lock(&w->mu);
		snprintf(id, sizeof(id), "%s", w->job_id);
		snprintf(sid, sizeof(sid), "%s", w->sid);
		st = w->state;
		pthread_mutex_unlock(&w->mu);
		if (*w->o->stop && !stop_at) {
			stop_at = log_now();
			if (st == W_RUNNING) {
				w->draining = 1;
				log_info("stopping: job %s gets up to %.0f s to finish, else it is handed back",
					 id, w->o->limits.grace_s);
			}
		}
		if (stop_at && st == W_RUNNING && !w->job_stop &&
		    log_now() - stop_at >= w->o->limits.grace_s) {
			log_info("grace time over: stopping job %s to hand it back", id);
			w->job_stop = 1;
		}
		if (log_now() - last < interval && !strcmp(shown, id))
			continue;
		if (log_now() - last >= interval && st == W_RUNNING && id[0])
			renew(w, id, sid, "running");
		last = log_now();
		snprintf(shown, sizeof(shown), "%s", id);
		announce(w, &w->hbq, st == W_RUNNING ? id : "", st);
	}
	return NULL;
}

static void set_state(worker *w, worker_state st, const char *id, const char *sid)
{
	pthread_mutex_lock(&w->mu);
	w->state = st;
	snprintf(w->job_id, sizeof(w->job_id), "%s", id);
	snprintf(w->sid, sizeof(w->sid), "%s", sid);
	pthread_mutex_unlock(&w->mu);
}

/* How many times entry sid has been delivered. */
static long deliveries(worker *w, const char *sid)
{
	redisReply *r = NULL;
	pl_err err = { 0 };
	long n = 1;

	if (queue_cmdl(&w->q, &r, &err, "XPENDING", w->stream, QUEUE_GROUP, sid, sid, "1", QEND) == 0 &&
	    r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 4)
		n = (long)r->element[0]->element[3]->integer;
	freeReplyObject(r);
	return n;
}

/* Takes the first entry of a stream reply's entry list: its id and job. */
static int take_entry(const redisReply *entries, char *sid, size_t sn, char *id, size_t idn)
{
	const redisReply *e, *fields;

	if (!entries || entries->type != REDIS_REPLY_ARRAY || entries->elements < 1)
		return 0;
	e = entries->element[0];
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
		return 0;
	fields = e->element[1];
	snprintf(sid, sn, "%s", queue_str(e->element[0]));
	for (size_t i = 0; fields->type == REDIS_REPLY_ARRAY && i + 1 < fields->elements; i += 2)
		if (!strcmp(queue_str(fields->element[i]), "job"))
			snprintf(id, idn, "%s", queue_str(fields->element[i + 1]));
	return id[0] != 0;
}

/* The next job: one whose worker stopped renewing its lease (XAUTOCLAIM),
 * else a new one (XREADGROUP, waiting up to BLOCK_MS). Returns 1 with sid,
 * id and *n (its deliveries), 0 when there is none, or an error. */
static int next_job(worker *w, char *sid, char *id, long *n, pl_err *err)
{
	char idle_ms[32], block[32];
	redisReply *r = NULL;
	int rc, got = 0;

	sid[0] = id[0] = 0;
	snprintf(idle_ms, sizeof(idle_ms), "%.0f", w->o->limits.lease_s * 1000);
	rc = queue_cmdl(&w->q, &r, err, "XAUTOCLAIM", w->stream, QUEUE_GROUP, w->name, idle_ms,
			"0-0", "COUNT", "1", QEND);
	if (rc == 0 && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
	    (got = take_entry(r->element[1], sid, 64, id, 96)))
		*n = deliveries(w, sid);
	freeReplyObject(r);
	if (rc < 0 || got)
		return rc < 0 ? rc : 1;
	snprintf(block, sizeof(block), "%d", BLOCK_MS);
	rc = queue_cmdl(&w->q, &r, err, "XREADGROUP", "GROUP", QUEUE_GROUP, w->name, "COUNT", "1",
			"BLOCK", block, "STREAMS", w->stream, ">", QEND);
	if (rc == 0 && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->elements == 2 && (got = take_entry(r->element[0]->element[1], sid, 64, id, 96)))
		*n = 1;
	freeReplyObject(r);
	return rc < 0 ? rc : got;
}

/* The outcome of a job's return code for FINISH. */
static const char *outcome_of(const worker *w, int rc)
{
	if (rc == 0)
		return "done";
	if (rc == -PL_ETEMP)
		return "retry";
	if (rc == -PL_EINTR && w->draining && !w->lost)
		return "handback";
	return "failed";
}

static int finish(worker *w, const char *id, const char *sid, int rc, const pl_err *jerr,
		  const job_result *res, double elapsed, long attempts)
{
	char now[32], el[32], code[16], ttl[32], due[32], max[16];
	char *metrics = json_dumps(res->metrics ? res->metrics : json_object(), JSON_COMPACT);
	const char *outcome = outcome_of(w, rc);
	double delay = fmin(w->o->limits.retry_s * pow(2, (double)(attempts > 0 ? attempts - 1 : 0)),
			    w->o->limits.retry_max_s);
	const char *args[14] = { id, sid, w->name, outcome, now, el, res->output ? res->output : "",
				 rc ? jerr->msg : "", metrics ? metrics : "{}", code, ttl, due, max,
				 res->result ? res->result : "" };
	redisReply *r = NULL;
	pl_err err = { 0 };
	int frc;

	queue_now(now);
	snprintf(el, sizeof(el), "%.3f", elapsed);
	snprintf(code, sizeof(code), "%d", rc < 0 ? -rc : 0);
	snprintf(ttl, sizeof(ttl), "%ld", w->o->limits.result_ttl_s);
	snprintf(due, sizeof(due), "%.0f", (queue_time() + delay) * 1000);
	snprintf(max, sizeof(max), "%d", w->o->limits.max_deliveries);
	frc = queue_eval(&w->q, QS_FINISH, 14, args, &r, &err);
	if (frc < 0)
		log_error("job %s: cannot record its end: %s", id, err.msg);
	else if (!strcmp(queue_str(r), "lost"))
		log_warn("job %s: another worker holds it now; its result is left to that one", id);
	else if (rc == 0)
		log_info("job %s: done in %.1f s", id, elapsed);
	else
		log_warn("job %s: %s: %s", id, queue_str(r), jerr->msg);
	freeReplyObject(r);
	free(metrics);
	return frc;
}

/* Field name of an HGETALL reply, "" when missing. */
static const char *field(const redisReply *r, const char *name)
{
	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
		if (!strcmp(queue_str(r->element[i]), name))
			return queue_str(r->element[i + 1]);
	return "";
}

/* Runs job id (delivered n times as entry sid) if START says so. */
static int run_job(worker *w, const char *sid, const char *id, long n, pl_err *err)
{
	char now[32], dn[32], max[16], ttl[32], key[256];
	const char *args[7] = { id, sid, w->name, dn, max, now, ttl };
	redisReply *r = NULL, *rec = NULL;
	job_result res = { 0 };
	pl_err jerr = { 0 };
	json_t *spec;
	double t0;
	int rc;

	queue_now(now);
	snprintf(dn, sizeof(dn), "%ld", n);
	snprintf(max, sizeof(max), "%d", w->o->limits.max_deliveries);
	snprintf(ttl, sizeof(ttl), "%ld", w->o->limits.result_ttl_s);
	if ((rc = queue_eval(&w->q, QS_START, 7, args, &r, err)) < 0)
		return rc;
	if (!strcmp(queue_str(r), "dead"))
		log_error("job %s is dead: delivered %ld times, its worker died each time", id, n - 1);
	if (strcmp(queue_str(r), "run")) {
		freeReplyObject(r);
		return 0;
	}
	freeReplyObject(r);
	queue_key(&w->q, key, sizeof(key), "job:");
	strncat(key, id, sizeof(key) - strlen(key) - 1);
	if ((rc = queue_cmdl(&w->q, &rec, err, "HGETALL", key, QEND)) < 0)
		return rc;
	spec = json_loads(field(rec, "spec"), 0, NULL);
	w->job_stop = w->lost = 0;
	set_state(w, W_RUNNING, id, sid);
	log_info("job %s (%s): running, delivery %ld", id, field(rec, "label"), n);
	t0 = log_now();
	job_env env = { id, w->tmp_dir, &w->job_stop, w->packages };
	rc = spec ? job_run(&env, field(rec, "kind"), spec, &res, &jerr) :
	     pl_errorf(&jerr, PL_EUSAGE, "job %s: its spec is not JSON", id);
	w->jobs_run++;
	rc = finish(w, id, sid, rc, &jerr, &res, log_now() - t0, atol(field(rec, "attempts")));
	set_state(w, W_IDLE, "", "");
	job_result_release(&res);
	json_decref(spec);
	freeReplyObject(rec);
	w->last_work = log_now();
	return rc == -PL_EINTR ? rc : 0;
}

/* One turn of the idle state: exit conditions, due retries, the next job. */
static worker_state idle_step(worker *w, pl_err *err)
{
	char sid[64], id[96], now_ms[32];
	const char *args[1] = { now_ms };
	redisReply *r = NULL;
	long n = 1;
	int rc;

	if (*w->o->stop || w->draining)
		return W_EXIT;
	if (w->o->max_jobs > 0 && w->jobs_run >= w->o->max_jobs) {
		log_info("ran %ld jobs (--max-jobs): exiting", w->jobs_run);
		return W_EXIT;
	}
	if (w->o->idle_exit_s > 0 && log_now() - w->last_work >= w->o->idle_exit_s) {
		log_info("no work for %.0f s (--idle-exit): exiting", w->o->idle_exit_s);
		return W_EXIT;
	}
	snprintf(now_ms, sizeof(now_ms), "%.0f", queue_time() * 1000);
	if ((rc = queue_eval(&w->q, QS_PROMOTE, 1, args, &r, err)) == 0)
		rc = next_job(w, sid, id, &n, err);
	freeReplyObject(r);
	if (rc == -PL_EIO && strstr(err->msg, "NOGROUP"))
		rc = queue_ensure_group(&w->q, err);   /* the queue was flushed under us */
	if (rc > 0)
		rc = run_job(w, sid, id, n, err);
	if (rc == -PL_EINTR)
		return W_EXIT;
	if (rc < 0) {
		log_warn("%s", err->msg);
		sleep_s(TICK_S);
	}
	return W_IDLE;
}

static int worker_open(worker *w, const fleet_worker_opts *o, pl_err *err)
{
	char host[256] = "";
	const char *tmp = getenv("TMPDIR");
	int rc;

	w->o = o;
	gethostname(host, sizeof(host) - 1);
	if (o->name && *o->name)
		snprintf(w->name, sizeof(w->name), "%s", o->name);
	else
		snprintf(w->name, sizeof(w->name), "%s:%d", host, (int)getpid());
	if ((rc = fs_path(w->tmp_dir, sizeof(w->tmp_dir), err, "%s/pipeline-worker-XXXXXX",
			  tmp && *tmp ? tmp : "/tmp")) < 0)
		return rc;
	if (!mkdtemp(w->tmp_dir))
		return pl_errorf(err, PL_EIO, "cannot make a scratch directory '%s': %s", w->tmp_dir,
				 strerror(errno));
	if (!(w->packages = job_cache_new()))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	if ((rc = queue_open(&w->q, &o->url, &o->limits, 1, o->stop, err)) < 0 ||
	    (rc = queue_open(&w->hbq, &o->url, &o->limits, 1, &w->hb_quit, err)) < 0)
		return rc;
	queue_key(&w->q, w->stream, sizeof(w->stream), "stream");
	return queue_ensure_group(&w->q, err);
}

int fleet_worker_run(const fleet_worker_opts *o, pl_err *err)
{
	worker w;
	int rc, started = 0;

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	rc = worker_open(&w, o, err);
	if (rc == 0 && pthread_create(&w.hb, NULL, heartbeat_main, &w) != 0)
		rc = pl_errorf(err, PL_EFAIL, "cannot start the heartbeat thread");
	started = rc == 0;
	if (rc == 0)
		log_info("worker %s: taking jobs from redis://%s:%d/%d (prefix %s, lease %.0f s)", w.name,
			 o->url.host, o->url.port, o->url.db, o->limits.prefix, o->limits.lease_s);
	w.last_work = log_now();
	for (worker_state st = rc == 0 ? W_IDLE : W_EXIT; st != W_EXIT; )
		st = idle_step(&w, err);
	if (rc == -PL_EINTR)
		rc = 0;   /* stopped while connecting: nothing was taken */
	if (started) {
		char key[192];
		redisReply *r = NULL;
		pl_err e = { 0 };
		w.hb_quit = 1;
		pthread_join(w.hb, NULL);
		queue_key(&w.q, key, sizeof(key), "workers");
		if (queue_cmdl(&w.q, &r, &e, "HDEL", key, w.name, QEND) == 0)
			freeReplyObject(r);
		log_info("worker %s: stopped after %ld jobs", w.name, w.jobs_run);
	}
	queue_close(&w.q);
	queue_close(&w.hbq);
	job_cache_free(w.packages);
	if (w.tmp_dir[0] && fs_is_dir(w.tmp_dir))
		fs_rmtree(w.tmp_dir, NULL);
	pthread_mutex_destroy(&w.mu);
	return rc;
}
