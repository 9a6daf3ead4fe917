/* Prometheus metrics of `pipeline serve`: requests by endpoint and code, a
 * latency histogram, batch sizes, requests in flight and the queue. */
#include "stats.h"

#include "../../io/strbuf.h"

static const char *const route_names[N_ROUTES] = {
	"predict", "v1_status", "v1_predict", "v2_health", "v2_metadata", "v2_infer", "metrics", "other"
};
static const int codes[STATS_N_CODES] = { 200, 400, 404, 405, 408, 413, 415, 500, 503, 504 };
static const double latency_le[STATS_N_LATENCY - 1] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
static const int batch_le[STATS_N_BATCH - 1] = { 1, 2, 4, 8, 16, 32, 64, 128, 256 };

void stats_request(serve_stats *m, serve_route route, int code, double seconds)
{
	int c = 0, b = 0;

	while (c < STATS_N_CODES && codes[c] != code)
		c++;
	m->requests[route][c]++;
	while (b < STATS_N_LATENCY - 1 && seconds > latency_le[b])
		b++;
	m->latency[b]++;
	m->latency_sum += seconds;
}

void stats_batch(serve_stats *m, int n)
{
	int b = 0;

	while (b < STATS_N_BATCH - 1 && n > batch_le[b])
		b++;
	m->batch[b]++;
	m->batches++;
	m->samples += (unsigned long long)n;
}

static void put_requests(strbuf *t, const serve_stats *m)
{
	strbuf_appendf(t, "# HELP pipeline_serve_requests_total Requests answered, by endpoint and status code.\n"
	    "# TYPE pipeline_serve_requests_total counter\n");
	for (int r = 0; r < N_ROUTES; r++)
		for (int c = 0; c <= STATS_N_CODES; c++) {
			if (!m->requests[r][c])
				continue;
			if (c < STATS_N_CODES)
				strbuf_appendf(t, "pipeline_serve_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n",
				    route_names[r], codes[c], m->requests[r][c]);
			else
				strbuf_appendf(t, "pipeline_serve_requests_total{endpoint=\"%s\",code=\"other\"} %llu\n",
				    route_names[r], m->requests[r][c]);
		}
}

static void put_histograms(strbuf *t, const serve_stats *m)
{
	unsigned long long sum = 0;

	strbuf_appendf(t, "# HELP pipeline_serve_request_duration_seconds Time from a request's arrival to its answer.\n"
	    "# TYPE pipeline_serve_request_duration_seconds histogram\n");
	for (int b = 0; b < STATS_N_LATENCY; b++) {
		sum += m->latency[b];
		if (b < STATS_N_LATENCY - 1)
			strbuf_appendf(t, "pipeline_serve_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
			    latency_le[b], sum);
		else
			strbuf_appendf(t, "pipeline_serve_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", sum);
	}
	strbuf_appendf(t, "pipeline_serve_request_duration_seconds_sum %.6f\n"
	    "pipeline_serve_request_duration_seconds_count %llu\n", m->latency_sum, sum);
	sum = 0;
	strbuf_appendf(t, "# HELP pipeline_serve_batch_size Samples per network batch.\n"
	    "# TYPE pipeline_serve_batch_size histogram\n");
	for (int b = 0; b < STATS_N_BATCH; b++) {
		sum += m->batch[b];
		if (b < STATS_N_BATCH - 1)
			strbuf_appendf(t, "pipeline_serve_batch_size_bucket{le=\"%d\"} %llu\n", batch_le[b], sum);
		else
			strbuf_appendf(t, "pipeline_serve_batch_size_bucket{le=\"+Inf\"} %llu\n", sum);
	}
	strbuf_appendf(t, "pipeline_serve_batch_size_sum %llu\npipeline_serve_batch_size_count %llu\n",
	    m->samples, m->batches);
}

char *stats_text(const serve_stats *m, size_t *len)
{
	strbuf t;

	strbuf_init(&t);
	put_requests(&t, m);
	put_histograms(&t, m);
	strbuf_appendf(&t, "# HELP pipeline_serve_requests_in_flight Requests received and not yet answered.\n"
		       "# TYPE pipeline_serve_requests_in_flight gauge\n"
		       "pipeline_serve_requests_in_flight %d\n"
		       "# HELP pipeline_serve_requests_receiving Prediction requests whose body is arriving.\n"
		       "# TYPE pipeline_serve_requests_receiving gauge\n"
		       "pipeline_serve_requests_receiving %d\n"
		       "# HELP pipeline_serve_queue_depth Requests waiting for the network.\n"
		       "# TYPE pipeline_serve_queue_depth gauge\n"
		       "pipeline_serve_queue_depth %d\n"
		       "# HELP pipeline_serve_queued_samples Samples waiting for the network.\n"
		       "# TYPE pipeline_serve_queued_samples gauge\n"
		       "pipeline_serve_queued_samples %d\n", m->in_flight, m->receiving,
		       m->queued_requests, m->queued_samples);
	return strbuf_take(&t, len);
}
