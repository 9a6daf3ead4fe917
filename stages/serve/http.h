/* `pipeline serve`: a package kept loaded behind HTTP (libmicrohttpd):
 * the raw-body contract of the of-watchdog, TF Serving / KServe v1, the
 * Open Inference Protocol v2 and Prometheus metrics, with dynamic
 * batching of the requests that arrive together. */
#ifndef PL_SERVE_HTTP_H
#define PL_SERVE_HTTP_H

#include <signal.h>
#include <stddef.h>

#include "../../io/err.h"
#include "serve.h"

/* The limits of the server, each a [serve] key. */
typedef struct serve_opts {
	const char *host;       /* address to listen on */
	int port;               /* 0: any free port */
	int max_batch;          /* samples per network batch */
	int max_delay_ms;       /* longest wait for more requests to fill a batch */
	size_t max_body;        /* bytes; a larger body gets 413 */
	int max_queue;          /* samples waiting for the network; beyond, 503 */
	int timeout_s;          /* idle connection timeout, longest wait in the queue, and drain */
	int max_connections;    /* open connections at once */
	long max_pixels;        /* largest image accepted, width x height */
} serve_opts;

/* Called once the server listens, with the port it listens on. */
typedef void serve_ready_fn(void *ctx, int port);

/* Serves pkg until *stop turns nonzero (a SIGTERM handler sets it), then
 * stops accepting connections, answers the requests in flight and
 * returns 0. Errors (PL_EUSAGE: cannot listen on host:port) are returned
 * before serving starts. */
int serve_http_run(serve_pkg *pkg, const serve_opts *o, volatile sig_atomic_t *stop,
		   serve_ready_fn *ready, void *ctx, pl_err *err);

#endif
