/* The counters of `pipeline serve` and their Prometheus text form. Not
 * locked: the server holds its lock around every call. */
#ifndef PL_SERVE_STATS_H
#define PL_SERVE_STATS_H

#include <stddef.h>

/* What a request asked for: the endpoint label of its metrics. */
typedef enum {
	ROUTE_PREDICT,      /* POST / or /predict: the image as the body */
	ROUTE_V1_STATUS,    /* GET /v1/models/NAME */
	ROUTE_V1_PREDICT,   /* POST /v1/models/NAME:predict */
	ROUTE_V2_HEALTH,    /* GET /v2/health/live|ready, /v2/models/NAME/ready */
	ROUTE_V2_METADATA,  /* GET /v2, /v2/models/NAME */
	ROUTE_V2_INFER,     /* POST /v2/models/NAME/infer */
	ROUTE_METRICS,      /* GET /metrics */
	ROUTE_OTHER,        /* anything else (404, 405) */
	N_ROUTES
} serve_route;

#define STATS_N_CODES 10          /* status codes counted one by one, the rest as "other" */
#define STATS_N_LATENCY 14        /* latency buckets, +Inf included */
#define STATS_N_BATCH 10          /* batch-size buckets, +Inf included */

typedef struct serve_stats {
	unsigned long long requests[N_ROUTES][STATS_N_CODES + 1];
	unsigned long long latency[STATS_N_LATENCY];   /* per bucket, not cumulative */
	double latency_sum;
	unsigned long long batch[STATS_N_BATCH];
	unsigned long long batches, samples;
	int in_flight;          /* requests received and not yet answered */
	int receiving;          /* prediction requests whose body is still arriving */
	int queued_requests;    /* waiting for the network */
	int queued_samples;
} serve_stats;

/* Counts one answered request of route with status code, seconds after it arrived. */
void stats_request(serve_stats *m, serve_route route, int code, double seconds);

/* Counts one network batch of n samples. */
void stats_batch(serve_stats *m, int n);

/* The Prometheus text exposition of m, malloc'd (caller frees); NULL when
 * out of memory. */
char *stats_text(const serve_stats *m, size_t *len);

#endif
