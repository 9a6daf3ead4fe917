/* What the HTTP side (http.c) and the batching loop (batch.c) of `pipeline
 * serve` share: the server, its states, and the jobs that go from one to
 * the other. Private to stages/serve. */
#ifndef PL_SERVE_SERVER_H
#define PL_SERVE_SERVER_H

#include <pthread.h>
#include <signal.h>

#include <jansson.h>

#include "http.h"
#include "stats.h"
#include "request.h"

typedef enum {
	SERVER_SERVING,    /* accepting connections */
	SERVER_DRAINING,   /* no longer accepting; answering what is in flight */
	SERVER_STOPPED
} server_state;

typedef enum {
	JOB_READING,       /* the body is arriving */
	JOB_TOO_LARGE,     /* over max_body: the rest is discarded, then 413 */
	JOB_QUEUED,        /* decoded, waiting for (or in) a network batch; connection suspended */
	JOB_ANSWERED,      /* reply set and connection resumed: to be sent */
	JOB_SENT           /* a response was queued */
} job_state;

/* One request, from its first byte to its answer (libmicrohttpd's
 * per-request context). */
typedef struct job {
	job_state state;
	serve_route route;
	const char *url;           /* libmicrohttpd's, valid until the request completes */
	int post;                  /* the route takes a body */
	int receiving;             /* counted in stats.receiving until its body is in */
	struct MHD_Connection *conn;
	double arrived;            /* monotonic seconds: its first byte */
	double queued_at;          /* when it joined the queue */
	char *body;                /* the request body as it arrives */
	size_t len, cap;
	serve_request req;         /* decoded instances (JOB_QUEUED) */
	int code;                  /* HTTP status of the reply */
	char *reply;               /* its body (malloc'd JSON) */
	size_t reply_len;
	struct job *next;          /* in the queue */
} job;

typedef struct server {
	serve_pkg *pkg;
	serve_opts o;
	serve_shape shape;
	struct MHD_Daemon *daemon;
	server_state state;
	pthread_mutex_t lock;      /* guards everything below, and metrics */
	pthread_cond_t wake;       /* a job was queued */
	job *head, *tail;          /* the queue, oldest first */
	serve_stats stats;
} server;

double server_now(void);

/* Sets the job's reply with code to obj (stolen; NULL: out of memory)
 * dumped as one line of JSON with the jansson flags. */
void job_reply(job *j, int code, json_t *obj, size_t flags);

/* Sets the job's reply to {"error": msg} with code. */
void job_fail(job *j, int code, const char *msg);

/* Queues a decoded job (the caller holds no lock); 503 when the queue is
 * full. Returns 0 when queued (the connection is then suspended). */
int job_enqueue(server *s, job *j);

/* The batching loop: runs batches until the server is stopped and drained
 * (*stop starts the drain). Called with the lock not held. */
void server_loop(server *s, volatile sig_atomic_t *stop);

#endif
