/* The ranks of a training job over MPI. nn adds every share's partial sums
 * in share order; this file gives it the gather (io/mpi) and keeps the
 * ranks in step: one configuration, one start, one set of weights. */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/log.h"
#include "../io/mpi.h"
#include "../io/sha.h"
#include "../io/sys.h"

static struct {
	int rank, size, on, go_sent, go;
	int exact;               /* train.exact: gradients gathered and added in share order */
	size_t share_bytes;      /* one share's gradient block */
	dist_stats stats;
} job = { .size = 1 };

int dist_rank(void) { return job.rank; }
int dist_size(void) { return job.size; }

int dist_setup(cfg *c, pl_err *err)
{
	char set[64];
	long threads = cfg_int(c, "train", "threads");

	job.rank = mpi_rank();
	job.size = mpi_size();
	job.on = 1;
	job.exact = cfg_bool(c, "train", "exact");
	if (threads % job.size)
		return pl_errorf(err, PL_EUSAGE, "train.threads = %ld does not divide over %d ranks: "
				 "it is the job's total, every rank runs the same share of it",
				 threads, job.size);
	if (threads == 0) {   /* each rank's CPUs; dist_agree refuses ranks that differ */
		snprintf(set, sizeof(set), "train.threads=%ld", (long)sys_cpu_count() * job.size);
		if (cfg_set(c, set, "the MPI ranks", err) < 0)
			return pl_errprefix(err, "%d ranks of %d threads: ", job.size, sys_cpu_count());
	}
	if (job.rank != 0) {
		log_setup(log_get_format(), -1);
		log_set_rank(job.rank);
	}
	return 0;
}

int dist_go(int *go, pl_err *err)
{
	int32_t word = *go;

	if (job.go_sent) {
		*go = job.go;
		return 0;
	}
	job.go_sent = 1;
	if (mpi_bcast(&word, sizeof(word), err) < 0)
		return -err->code;
	*go = job.go = word;
	return 0;
}

static void hash_key(sha256_ctx *ctx, const cfg_key *key, const char *value)
{
	sha256_update(ctx, key->section, strlen(key->section) + 1);
	sha256_update(ctx, key->key, strlen(key->key) + 1);
	sha256_update(ctx, value, strlen(value) + 1);
}

int dist_agree(const cfg *c, pl_err *err)
{
	char mine[SHA256_HEX], *all = malloc((size_t)job.size * SHA256_HEX);
	sha256_ctx sha;
	int rc;

	if (!all)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	if ((rc = sha256_init(&sha, err)) < 0)
		goto out;
	size_t n_keys;
	const cfg_key *keys = cfg_schema(c, &n_keys);
	for (size_t i = 0; i < n_keys; i++)
		hash_key(&sha, &keys[i], cfg_str(c, keys[i].section, keys[i].key));
	sha256_final(&sha, mine);
	if ((rc = mpi_allgather(mine, all, SHA256_HEX, err)) < 0)
		goto out;
	for (int r = 1; r < job.size; r++)
		if (memcmp(all, all + (size_t)r * SHA256_HEX, SHA256_HEX) != 0) {
			rc = pl_errorf(err, PL_EUSAGE, "rank %d has another configuration than rank 0 "
				       "(config %.12s, not %.12s): give every rank the same file, "
				       "--set overrides and train.threads", r, all + (size_t)r * SHA256_HEX, all);
			goto out;
		}
	log_info("%d ranks agree on the configuration (%.12s)", job.size, mine);
out:
	free(all);
	return rc;
}

static int gather_hook(void *ctx, const void *local, void *all, size_t bytes)
{
	int threads = *(const int *)ctx;
	double t0 = log_now();
	int rc = mpi_allgather(local, all, bytes * (size_t)threads, NULL);

	if (bytes == job.share_bytes) {
		job.stats.steps++;
		job.stats.grad_seconds += log_now() - t0;
	} else {
		job.stats.other_gathers++;
		job.stats.other_seconds += log_now() - t0;
	}
	return rc;
}

static int reduce_hook(void *ctx, float *buf, size_t n)
{
	double t0 = log_now();
	int rc = mpi_allreduce_sum(buf, n, NULL);

	(void)ctx;
	job.stats.steps++;
	job.stats.grad_seconds += log_now() - t0;
	return rc;
}

static int bcast_hook(void *ctx, void *buf, size_t bytes)
{
	(void)ctx;
	return mpi_bcast(buf, bytes, NULL);
}

int dist_attach(nn_net *net, pl_err *err)
{
	static int threads;
	nn_err e = { 0 };
	nn_dist d = { 0 };

	threads = nn_threads(net);
	d.share0 = job.rank * threads;
	d.n_shares = job.size * threads;
	d.allgather = gather_hook;
	d.bcast = bcast_hook;
	d.allreduce = job.exact ? NULL : reduce_hook;
	d.ctx = &threads;
	if (nn_set_dist(net, &d, &e) < 0 || nn_dist_bcast_state(net, &e) < 0)
		return pl_errorf(err, e.code ? e.code : PL_EFAIL, "%s", e.msg);
	job.share_bytes = ((nn_n_params(net) + 1) / 2 * 2 + 4) * sizeof(float);
	job.stats.step_bytes = job.share_bytes * (size_t)(job.exact ? d.n_shares : 1);
	job.stats.exact = job.exact;
	job.stats.param_bytes = nn_n_params(net) * sizeof(float);
	return 0;
}

int dist_bcast(void *buf, size_t bytes, pl_err *err)
{
	return mpi_bcast(buf, bytes, err);
}

int dist_check_weights(const nn_net *net, int epoch, pl_err *err)
{
	char mine[SHA256_HEX], *all = malloc((size_t)job.size * SHA256_HEX);
	size_t n_stats;
	const float *stats = nn_stats(net, &n_stats);
	sha256_ctx sha;
	int rc;

	if (!all)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	if ((rc = sha256_init(&sha, err)) < 0)
		goto out;
	sha256_update(&sha, nn_params(net), nn_n_params(net) * sizeof(float));
	sha256_update(&sha, stats, n_stats * sizeof(float));
	sha256_final(&sha, mine);
	if ((rc = mpi_allgather(mine, all, SHA256_HEX, err)) < 0)
		goto out;
	for (int r = 1; r < job.size; r++)
		if (memcmp(all, all + (size_t)r * SHA256_HEX, SHA256_HEX) != 0) {
			rc = pl_errorf(err, PL_EFAIL, "the weights of rank %d differ from rank 0's after "
				       "epoch %d (%.12s, not %.12s): the ranks do not run the same "
				       "binary, CPU kernels or data", r, epoch + 1,
				       all + (size_t)r * SHA256_HEX, all);
			goto out;
		}
out:
	free(all);
	return rc;
}

dist_stats dist_traffic(void)
{
	return job.stats;
}
