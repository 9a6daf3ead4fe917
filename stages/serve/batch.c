/* The batching loop of `pipeline serve`: requests queued by the HTTP side
 * are grouped into network batches of up to max_batch samples, waiting at
 * most max_delay_ms for more, run, and answered. One loop, one thread; it
 * also drives the server's states (serving, draining, stopped). */
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include "mhd.h"

#include "../../io/img.h"
#include "../../io/log.h"

#define TICK_MS 50   /* longest sleep of an idle loop: how soon a stop request is seen */

/* Where the network's output for one queued sample goes. */
typedef struct slot { job *j; int index; } slot;

typedef struct batch {
	server *s;
	slot *slots;       /* one per queued sample, in queue order */
	int n_slots, cap_slots, next;
	float *probs;      /* n_slots x n_classes */
} batch;

double server_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void job_reply(job *j, int code, json_t *obj, size_t flags)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | flags) : NULL;
	size_t len = text ? strlen(text) : 0;
	char *line = text ? realloc(text, len + 2) : NULL;

	json_decref(obj);
	free(j->reply);
	if (!line) {
		free(text);
		j->reply = strdup("{\"error\":\"out of memory\"}\n");
		j->reply_len = j->reply ? strlen(j->reply) : 0;
		j->code = 500;
		return;
	}
	memcpy(line + len, "\n", 2);
	j->reply = line;
	j->reply_len = len + 1;
	j->code = code;
}

void job_fail(job *j, int code, const char *msg)
{
	job_reply(j, code, json_pack("{s:s}", "error", msg), 0);
}

int job_enqueue(server *s, job *j)
{
	int n = j->req.n, rc = 0;
	char msg[160];

	pthread_mutex_lock(&s->lock);
	if (s->stats.queued_samples + n > s->o.max_queue) {
		snprintf(msg, sizeof(msg), "the queue is full (%d samples waiting, [serve] max_queue "
			 "%d): retry later", s->stats.queued_samples, s->o.max_queue);
		rc = -1;
	} else {
		j->state = JOB_QUEUED;
		j->queued_at = server_now();
		j->next = NULL;
		if (s->tail)
			s->tail->next = j;
		else
			s->head = j;
		s->tail = j;
		s->stats.queued_requests++;
		s->stats.queued_samples += n;
		pthread_cond_signal(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		job_fail(j, 503, msg);
	return rc;
}

/* Hands the reply to the HTTP side. */
static void job_answer(job *j)
{
	j->state = JOB_ANSWERED;
	MHD_resume_connection(j->conn);
}

/* Takes from the queue the oldest jobs that fit in one batch (at least
 * one); jobs that waited over timeout_s are answered 503 instead. Called
 * with the lock held. */
static job *take_batch(server *s, double now)
{
	job *first = NULL, **link = &first;
	int samples = 0;

	while (s->head && (samples == 0 || samples + s->head->req.n <= s->o.max_batch)) {
		job *j = s->head;
		if (!(s->head = j->next))
			s->tail = NULL;
		s->stats.queued_requests--;
		s->stats.queued_samples -= j->req.n;
		if (now - j->queued_at > s->o.timeout_s) {
			job_fail(j, 503, "the request waited in the queue longer than [serve] timeout_s");
			job_answer(j);
			continue;
		}
		samples += j->req.n;
		j->next = NULL;
		*link = j;
		link = &j->next;
	}
	return first;
}

static void emit(void *ctx, const char *name, const float *probs)
{
	batch *b = ctx;
	int k = serve_n_classes(b->s->pkg);

	(void)name;
	memcpy(b->probs + (size_t)b->next++ * k, probs, (size_t)k * sizeof(float));
}

static int add_slot(batch *b, job *j, int index)
{
	if (b->n_slots == b->cap_slots) {
		int cap = b->cap_slots ? 2 * b->cap_slots : 64;
		slot *bigger = realloc(b->slots, (size_t)cap * sizeof(*bigger));
		if (!bigger)
			return -1;
		b->slots = bigger;
		b->cap_slots = cap;
	}
	b->slots[b->n_slots++] = (slot){ j, index };
	return 0;
}

/* Queues one instance in the network's queue; on error sets the job's 4xx
 * reply. */
static int queue_instance(server *s, job *j, int i)
{
	serve_instance *in = &j->req.inst[i];
	img_limits lim;
	char name[32];
	img im = { 0 };
	pl_err err = { 0 };
	int rc;

	/* decoded as predict decodes (the same scale for a JPEG), within the
	 * server's own pixel limit */
	serve_decode_limits(s->pkg, &lim);
	lim.max_pixels = s->o.max_pixels;
	/* the raw body is named as predict names stdin, so that the replies are equal */
	snprintf(name, sizeof(name), j->route == ROUTE_PREDICT ? "stdin" : "instance %d", i);
	if (in->kind == SERVE_IN_TENSOR)
		rc = serve_queue_tensor(s->pkg, in->values, name, &err);
	else if ((rc = img_decode_mem(in->bytes, in->len, name, &lim, &im, &err)) == 0)
		rc = serve_queue_image(s->pkg, &im, name, &err);
	img_release(&im);
	if (rc < 0)
		job_fail(j, rc == -PL_ENOMEM ? 500 : 400, err.msg);
	return rc;
}

/* The v2 reply: probabilities as an FP32 output, labels as BYTES. */
static json_t *v2_reply(const server *s, const job *j, const float *probs)
{
	int k = serve_n_classes(s->pkg), n = j->req.n;
	json_t *data = json_array(), *labels = json_array(), *reply;

	for (int i = 0; i < n; i++) {
		for (int c = 0; c < k; c++)
			json_array_append_new(data, json_real(probs[(size_t)i * k + c]));
		json_array_append_new(labels, json_string(serve_class(s->pkg, serve_best(s->pkg,
						probs + (size_t)i * k))));
	}
	reply = json_pack("{s:s,s:s}", "model_name", serve_name(s->pkg), "model_version",
			  serve_version(s->pkg));
	if (j->req.id)
		json_object_set_new(reply, "id", json_string(j->req.id));
	json_object_set_new(reply, "outputs", json_pack("[{s:s,s:s,s:[i,i],s:o},{s:s,s:s,s:[i],s:o}]",
		"name", "probabilities", "datatype", "FP32", "shape", n, k, "data", data,
		"name", "label", "datatype", "BYTES", "shape", n, "data", labels));
	return reply;
}

/* The reply of a job whose instances all went through the network. */
static void job_predicted(const server *s, job *j, const float *probs)
{
	int k = serve_n_classes(s->pkg);
	json_t *list;

	if (j->route == ROUTE_PREDICT) {
		job_reply(j, 200, serve_result_json(s->pkg, "stdin", probs), JSON_REAL_PRECISION(6));
		return;
	}
	if (j->route == ROUTE_V2_INFER) {
		job_reply(j, 200, v2_reply(s, j, probs), JSON_REAL_PRECISION(9));
		return;
	}
	list = json_array();
	for (int i = 0; i < j->req.n; i++)
		json_array_append_new(list, serve_result_json(s->pkg, NULL, probs + (size_t)i * k));
	job_reply(j, 200, json_pack("{s:o}", "predictions", list), JSON_REAL_PRECISION(6));
}

/* Runs the jobs through the network as one batch and answers each. */
static void run_batch(server *s, batch *b, job *jobs)
{
	int k = serve_n_classes(s->pkg), rc = 0;
	pl_err err = { 0 };
	float *probs;

	b->n_slots = b->next = 0;
	for (job *j = jobs; j; j = j->next)
		for (int i = 0; i < j->req.n && j->code == 0; i++)
			if (add_slot(b, j, i) < 0)
				job_fail(j, 500, "out of memory");
			else if (queue_instance(s, j, i) < 0)
				b->n_slots--;
	probs = realloc(b->probs, ((size_t)b->n_slots + 1) * k * sizeof(float));
	if (probs)
		b->probs = probs;
	rc = !probs ? pl_errorf(&err, PL_ENOMEM, "out of memory") :
	     serve_run(s->pkg, emit, b, &err);
	pthread_mutex_lock(&s->lock);
	if (b->n_slots > 0)   /* only requests that failed to decode: no network batch */
		stats_batch(&s->stats, b->n_slots);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < b->n_slots; i++) {
		job *j = b->slots[i].j;
		if (rc < 0 && j->code == 0)
			job_fail(j, 500, err.msg);
		else if (j->code == 0 && b->slots[i].index == j->req.n - 1)
			job_predicted(s, j, b->probs + (size_t)(i - j->req.n + 1) * k);
	}
	for (job *j = jobs, *next; j; j = next) {
		next = j->next;
		job_answer(j);
	}
}

/* Stops accepting connections; the ones open keep being answered. */
static void begin_drain(server *s)
{
	MHD_socket fd = MHD_quiesce_daemon(s->daemon);

	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	s->state = SERVER_DRAINING;
	log_info("stopping: draining %d request(s) in flight", s->stats.in_flight);
}

/* Sleeps on the queue until seconds from now at most. */
static void wait_for(server *s, double seconds)
{
	struct timespec until;
	double ms = seconds * 1e3 < TICK_MS ? seconds * 1e3 : TICK_MS;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(ms * 1e6);
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&s->wake, &s->lock, &until);
}

void server_loop(server *s, volatile sig_atomic_t *stop)
{
	batch b = { .s = s };
	double drain_until = 0;

	pthread_mutex_lock(&s->lock);
	while (s->state != SERVER_STOPPED) {
		double now = server_now(), due;
		if (*stop && s->state == SERVER_SERVING) {
			pthread_mutex_unlock(&s->lock);
			begin_drain(s);
			pthread_mutex_lock(&s->lock);
			drain_until = now + s->o.timeout_s;
		}
		if (s->state == SERVER_DRAINING && !s->head &&
		    (s->stats.in_flight == 0 || now >= drain_until)) {
			s->state = SERVER_STOPPED;
			break;
		}
		/* a batch runs when full, when no other request is arriving to join it,
		 * when its oldest request has waited max_delay_ms, or at once while draining */
		due = !s->head ? now + 1 : s->stats.queued_samples >= s->o.max_batch ||
		      s->stats.receiving == 0 || s->state == SERVER_DRAINING ? now :
		      s->head->queued_at + s->o.max_delay_ms * 1e-3;
		if (due > now) {
			wait_for(s, due - now);
			continue;
		}
		job *jobs = take_batch(s, now);
		pthread_mutex_unlock(&s->lock);
		if (jobs)
			run_batch(s, &b, jobs);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	free(b.slots);
	free(b.probs);
}
