/* The HTTP side of `pipeline serve`, on libmicrohttpd's own polling
 * thread: routing, bodies and their limits, the answers that need no
 * network (health, metadata, metrics), and the handing of prediction
 * requests to the batching loop (batch.c), their connections suspended
 * until the answer is ready. */
#include "server.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include "mhd.h"

#include "../../io/log.h"
#include "../../io/version.h"

#define JSON_TYPE "application/json"

/* Where a request goes: its route, or the error code that answers it. */
typedef struct target {
	serve_route route;
	int post;            /* the route takes a body (POST) */
	int code;            /* 0, or 404 / 405 with msg */
	char msg[256];
	const char *path;    /* GET: which answer (the url) */
} target;

/* Routes "/v1/models/NAME..." and "/v2/models/NAME..." by what follows the
 * model's name. */
static void find_model_route(const server *s, const char *rest, int v2, target *t)
{
	const char *name = serve_name(s->pkg);
	size_t n = strlen(name);
	size_t len = strcspn(rest, v2 ? "/" : ":");

	if (len != n || strncmp(rest, name, n)) {
		t->code = 404;
		snprintf(t->msg, sizeof(t->msg), "unknown model '%.*s' (this server serves '%s')",
			 (int)(len > 100 ? 100 : len), rest, name);
		return;
	}
	rest += n;
	if (!*rest)
		t->route = v2 ? ROUTE_V2_METADATA : ROUTE_V1_STATUS;
	else if (v2 && !strcmp(rest, "/ready"))
		t->route = ROUTE_V2_HEALTH;
	else if (v2 && !strcmp(rest, "/infer"))
		t->route = ROUTE_V2_INFER, t->post = 1;
	else if (!v2 && !strcmp(rest, ":predict"))
		t->route = ROUTE_V1_PREDICT, t->post = 1;
	else
		t->code = 404;
}

static void find_route(const server *s, const char *url, const char *method, target *t)
{
	memset(t, 0, sizeof(*t));
	t->route = ROUTE_OTHER;
	t->path = url;
	if (!strcmp(url, "/") || !strcmp(url, "/predict"))
		t->route = ROUTE_PREDICT, t->post = 1;
	else if (!strcmp(url, "/metrics"))
		t->route = ROUTE_METRICS;
	else if (!strcmp(url, "/v2/health/live") || !strcmp(url, "/v2/health/ready"))
		t->route = ROUTE_V2_HEALTH;
	else if (!strcmp(url, "/v2"))
		t->route = ROUTE_V2_METADATA;
	else if (!strncmp(url, "/v1/models/", 11))
		find_model_route(s, url + 11, 0, t);
	else if (!strncmp(url, "/v2/models/", 11))
		find_model_route(s, url + 11, 1, t);
	else
		t->code = 404;
	if (t->code == 404 && !t->msg[0])
		snprintf(t->msg, sizeof(t->msg), "no endpoint '%.200s'", url);
	if (!t->code && strcmp(method, t->post ? "POST" : "GET") &&
	    !(!t->post && !strcmp(method, "HEAD"))) {
		t->code = 405;
		snprintf(t->msg, sizeof(t->msg), "'%.200s' takes %s, not %.20s", url,
			 t->post ? "POST" : "GET", method);
	}
}

static int is_draining(server *s)
{
	int draining;

	pthread_mutex_lock(&s->lock);
	draining = s->state != SERVER_SERVING;
	pthread_mutex_unlock(&s->lock);
	return draining;
}

/* Sends body (taken over, malloc'd) with code. */
static enum MHD_Result respond(server *s, job *j, int code, char *body, size_t len,
			       const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (code == 405)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, j->route == ROUTE_PREDICT ||
					j->route == ROUTE_V1_PREDICT || j->route == ROUTE_V2_INFER ?
					"POST" : "GET, HEAD");
	if (is_draining(s) || code == 413)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(j->conn, (unsigned)code, r);
	MHD_destroy_response(r);
	j->code = code;
	j->state = JOB_SENT;
	return ret;
}

/* Sends the job's reply. */
static enum MHD_Result send_reply(server *s, job *j)
{
	char *body = j->reply;
	size_t len = j->reply_len;

	j->reply = NULL;
	if (!body)
		return MHD_NO;
	return respond(s, j, j->code, body, len, JSON_TYPE);
}

static enum MHD_Result send_error(server *s, job *j, int code, const char *msg)
{
	job_fail(j, code, msg);
	return send_reply(s, j);
}

static json_t *model_metadata(const server *s)
{
	json_t *classes = json_array();

	for (int c = 0; c < serve_n_classes(s->pkg); c++)
		json_array_append_new(classes, json_string(serve_class(s->pkg, c)));
	return json_pack("{s:s,s:[s],s:s,s:[{s:s,s:s,s:[i,i,i,i]}],"
			 "s:[{s:s,s:s,s:[i,i]},{s:s,s:s,s:[i]}],s:{s:o}}",
			 "name", serve_name(s->pkg), "versions", serve_version(s->pkg),
			 "platform", "pipeline",
			 "inputs", "name", "input", "datatype", "FP32", "shape", -1, s->shape.c,
			 s->shape.h, s->shape.w,
			 "outputs", "name", "probabilities", "datatype", "FP32", "shape", -1,
			 serve_n_classes(s->pkg), "name", "label", "datatype", "BYTES", "shape", -1,
			 "parameters", "classes", classes);
}

/* The answer of a GET route: health, status, metadata. */
static json_t *get_answer(server *s, const char *url, int *code)
{
	int ready = !is_draining(s);

	*code = 200;
	if (!strcmp(url, "/v2/health/live"))
		return json_pack("{s:b}", "live", 1);
	if (!strcmp(url, "/v2/health/ready") || !strncmp(url, "/v2/models/", 11)) {
		if (!ready)
			*code = 503;
		if (!strcmp(url, "/v2/health/ready"))
			return json_pack("{s:b}", "ready", ready);
		if (strstr(url + 11, "/ready"))
			return json_pack("{s:s,s:b}", "name", serve_name(s->pkg), "ready", ready);
		*code = 200;
		return model_metadata(s);
	}
	if (!strcmp(url, "/v2"))
		return json_pack("{s:s,s:s,s:[]}", "name", "pipeline", "version", PL_VERSION,
				 "extensions");
	return json_pack("{s:[{s:s,s:s,s:{s:s,s:s}}]}", "model_version_status", "version",
			 serve_version(s->pkg), "state", "AVAILABLE", "status", "error_code", "OK",
			 "error_message", "");
}

static enum MHD_Result answer_get(server *s, job *j, const char *url)
{
	int code = 200;
	char *text;
	size_t len;

	if (j->route == ROUTE_METRICS) {
		pthread_mutex_lock(&s->lock);
		text = stats_text(&s->stats, &len);
		pthread_mutex_unlock(&s->lock);
		if (!text)
			return send_error(s, j, 500, "out of memory");
		return respond(s, j, 200, text, len, "text/plain; version=0.0.4; charset=utf-8");
	}
	job_reply(j, 200, get_answer(s, url, &code), 0);
	if (j->code == 200)
		j->code = code;
	return send_reply(s, j);
}

/* The first call for a request: routes it, and refuses an unknown route or
 * a declared body over the limit before the body is read. */
static enum MHD_Result start_job(server *s, struct MHD_Connection *conn, const char *url,
				 const char *method, void **ctx)
{
	job *j = calloc(1, sizeof(*j));
	const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_CONTENT_LENGTH);
	target t;
	char msg[160];

	if (!j)
		return MHD_NO;
	j->conn = conn;
	j->arrived = server_now();
	*ctx = j;
	pthread_mutex_lock(&s->lock);
	s->stats.in_flight++;
	pthread_mutex_unlock(&s->lock);
	find_route(s, url, method, &t);
	j->route = t.route;
	j->url = url;
	j->post = t.post;
	if (t.code)
		return send_error(s, j, t.code, t.msg);
	if (length && strtoull(length, NULL, 10) > s->o.max_body) {
		snprintf(msg, sizeof(msg), "the body is %s bytes, over [serve] max_body_mb (%zu bytes)",
			 length, s->o.max_body);
		return send_error(s, j, 413, msg);
	}
	pthread_mutex_lock(&s->lock);
	s->stats.receiving++;
	pthread_mutex_unlock(&s->lock);
	j->receiving = 1;
	return MHD_YES;
}

/* The body of a prediction request is in (or it ended without one). */
static void received(server *s, job *j)
{
	if (!j->receiving)
		return;
	pthread_mutex_lock(&s->lock);
	s->stats.receiving--;
	pthread_mutex_unlock(&s->lock);
	j->receiving = 0;
}

/* Appends a piece of the body, or marks the job too large. */
static void take_body(server *s, job *j, const char *data, size_t n)
{
	if (j->state == JOB_TOO_LARGE || j->len + n > s->o.max_body) {
		j->state = JOB_TOO_LARGE;
		return;
	}
	if (j->len + n > j->cap) {
		size_t cap = j->cap ? j->cap : 16384;
		while (cap < j->len + n)
			cap *= 2;
		char *bigger = realloc(j->body, cap);
		if (!bigger) {
			j->state = JOB_TOO_LARGE;
			return;
		}
		j->body = bigger;
		j->cap = cap;
	}
	memcpy(j->body + j->len, data, n);
	j->len += n;
}

/* The whole body is in: decodes it and queues the job, or answers the error. */
static enum MHD_Result finish_body(server *s, job *j)
{
	pl_err err = { 0 };
	char msg[160];
	int rc = 0;

	received(s, j);
	if (j->state == JOB_TOO_LARGE) {
		snprintf(msg, sizeof(msg), "the body is over [serve] max_body_mb (%zu bytes)",
			 s->o.max_body);
		return send_error(s, j, 413, msg);
	}
	if (j->route == ROUTE_PREDICT) {
		if (!j->len)
			return send_error(s, j, 400, "no image in the body (send a PNG, JPEG or BMP)");
		if (!(j->req.inst = calloc(1, sizeof(*j->req.inst))))
			return send_error(s, j, 500, "out of memory");
		j->req.n = 1;
		j->req.inst[0] = (serve_instance){ SERVE_IN_IMAGE, (unsigned char *)j->body, j->len, NULL };
		j->body = NULL;
	} else if (j->route == ROUTE_V1_PREDICT) {
		rc = serve_request_v1(j->body ? j->body : "", j->len, s->shape, s->o.max_queue, &j->req, &err);
	} else {
		rc = serve_request_v2(j->body ? j->body : "", j->len, s->shape, s->o.max_queue, &j->req, &err);
	}
	free(j->body);
	j->body = NULL;
	if (rc < 0)
		return send_error(s, j, rc == -PL_ENOMEM ? 500 : 400, err.msg);
	/* suspended before the loop can answer it: the answer resumes it */
	MHD_suspend_connection(j->conn);
	if (job_enqueue(s, j) < 0) {
		MHD_resume_connection(j->conn);
		j->state = JOB_ANSWERED;
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **ctx)
{
	server *s = cls;
	job *j = *ctx;

	(void)version;
	if (!j)
		return start_job(s, conn, url, method, ctx);
	switch (j->state) {
	case JOB_READING:
	case JOB_TOO_LARGE:
		if (*data_size) {
			take_body(s, j, data, *data_size);
			*data_size = 0;
			return MHD_YES;
		}
		return j->post ? finish_body(s, j) : answer_get(s, j, j->url);
	case JOB_ANSWERED:
		return send_reply(s, j);
	default:
		*data_size = 0;
		return MHD_YES;
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
			 enum MHD_RequestTerminationCode why)
{
	server *s = cls;
	job *j = *ctx;

	(void)conn;
	(void)why;
	if (!j)
		return;
	pthread_mutex_lock(&s->lock);
	if (j->receiving)
		s->stats.receiving--;   /* the client left before its body was in */
	if (j->state == JOB_SENT)
		stats_request(&s->stats, j->route, j->code, server_now() - j->arrived);
	s->stats.in_flight--;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	serve_request_release(&j->req);
	free(j->body);
	free(j->reply);
	free(j);
	*ctx = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("http: %s", line);
}

/* Starts libmicrohttpd's thread listening on host:port (its thread does not
 * take the stop signals: the loop watches for them). */
static int start_daemon(server *s, pl_err *err)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char port[16];
	sigset_t stops, old;
	int rc;

	if ((rc = mhd_load(err)) < 0)
		return rc;
	snprintf(port, sizeof(port), "%d", s->o.port);
	if ((rc = getaddrinfo(s->o.host, port, &hints, &ai)) != 0)
		return pl_errorf(err, PL_EUSAGE, "cannot listen on '%s': %s", s->o.host, gai_strerror(rc));
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stops, &old);
	s->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
				     MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				     0, NULL, NULL, on_request, s,
				     MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.timeout_s,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
				     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
				     MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	freeaddrinfo(ai);
	if (!s->daemon)
		return pl_errorf(err, PL_EUSAGE, "cannot listen on %s port %d (in use, or not an "
				 "address of this machine)", s->o.host, s->o.port);
	return 0;
}

int serve_http_run(serve_pkg *pkg, const serve_opts *o, volatile sig_atomic_t *stop,
		   serve_ready_fn *ready, void *ctx, pl_err *err)
{
	server s = { .pkg = pkg, .o = *o };
	const union MHD_DaemonInfo *info;
	int rc;

	s.shape = (serve_shape){ serve_n_channels(pkg), serve_side(pkg), serve_side(pkg) };
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.wake, NULL);
	if ((rc = start_daemon(&s, err)) == 0) {
		info = MHD_get_daemon_info(s.daemon, MHD_DAEMON_INFO_BIND_PORT);
		log_info("serving %s %s on http://%s:%d (%d thread(s), batches of up to %d, %d ms)",
			 serve_name(pkg), serve_version(pkg), o->host, info ? info->port : o->port,
			 serve_threads(pkg), o->max_batch, o->max_delay_ms);
		if (ready)
			ready(ctx, info ? info->port : o->port);
		server_loop(&s, stop);
		MHD_stop_daemon(s.daemon);
		log_info("stopped after %llu batch(es) of %llu sample(s)", s.stats.batches,
			 s.stats.samples);
	}
	pthread_cond_destroy(&s.wake);
	pthread_mutex_destroy(&s.lock);
	return rc;
}
