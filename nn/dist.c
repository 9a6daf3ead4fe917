/* Data-parallel training over processes: which shares of a batch this
 * process runs, and the gathering of every share's partial sums so that
 * they are added in share order, as one process with a thread per share
 * adds them (nn.h, nn_dist), or their plain sum over the processes when
 * the order need not be fixed. Without processes the same accessors read
 * the workers' own sums. */
#include <stdlib.h>
#include <string.h>
#include "nn_impl.h"

/* Floats per share of the gradient block: the gradient, then the share's
 * loss and hits as two doubles (8-byte aligned). */
static size_t grad_stride(const nn_net *net)
{
	return (net->n_params + 1) / 2 * 2 + 4;
}

/* The largest 2*C of the BN layers: the partial sums gathered at once. */
static size_t bn_max(const nn_net *net)
{
	size_t m = 2;
	for (int l = 0; l < net->n_layers; l++)
		if (net->layers[l].kind == L_BN && 2 * (size_t)net->layers[l].in.c > m)
			m = 2 * (size_t)net->layers[l].in.c;
	return m;
}

int nn_set_dist(nn_net *net, const nn_dist *dist, nn_err *err)
{
	if (!dist->allgather || !dist->bcast || dist->n_shares < net->threads ||
	    dist->n_shares % net->threads || dist->share0 % net->threads || dist->share0 < 0 ||
	    dist->share0 >= dist->n_shares || dist->n_shares > net->max_batch)
		return nn_errorf(err, NN_EUSAGE, "cannot run shares %d..%d of %d with %d threads and "
		                 "batch %d (need equal thread counts, at most one share per sample)",
		                 dist->share0, dist->share0 + net->threads - 1, dist->n_shares,
		                 net->threads, net->max_batch);
	nn_dist_release(net);
	net->gstride = grad_stride(net);
	net->pmax = bn_max(net);
	net->gsend = calloc((size_t)net->threads * net->gstride, sizeof(float));
	net->grecv = calloc((size_t)dist->n_shares * net->gstride, sizeof(float));
	net->psend = calloc((size_t)net->threads * net->pmax, sizeof(double));
	net->precv = calloc((size_t)dist->n_shares * net->pmax, sizeof(double));
	if (!net->gsend || !net->grecv || !net->psend || !net->precv) {
		nn_dist_release(net);
		return nn_errorf(err, NN_ENOMEM, "out of memory for the gradients of %d shares",
		                 dist->n_shares);
	}
	net->dist = *dist;
	net->has_dist = 1;
	net->share0 = dist->share0;
	net->n_shares = dist->n_shares;
	return 0;
}

void nn_dist_release(nn_net *net)
{
	free(net->gsend);
	free(net->grecv);
	free(net->psend);
	free(net->precv);
	net->gsend = net->grecv = NULL;
	net->psend = net->precv = NULL;
	memset(&net->dist, 0, sizeof(net->dist));
	net->has_dist = 0;
	net->share0 = 0;
	net->n_shares = net->threads;
}

const float *nn_share_grad(const nn_net *net, int s)
{
	if (net->has_dist && net->dist.allreduce)
		return net->gsend;
	return net->has_dist ? net->grecv + (size_t)s * net->gstride : net->workers[s].grad;
}

int nn_grad_blocks(const nn_net *net)
{
	return net->has_dist && net->dist.allreduce ? 1 : net->n_shares;
}

const double *nn_share_part(const nn_net *net, int l, int s, int off)
{
	return net->has_dist ? net->precv + (size_t)s * net->pmax : net->workers[s].part[l] + off;
}

static void gather(nn_net *net, const void *send, void *recv, size_t bytes)
{
	if (!net->dist_failed && net->dist.allgather(net->dist.ctx, send, recv, bytes) != 0)
		net->dist_failed = 1;
}

/* Without a fixed order: each worker adds this process's shares for its
 * range of the parameters, worker 0 adds the losses and hits (as floats,
 * the type the sum runs in) and sums the block over the processes. */
static void reduce_grads(nn_worker *w)
{
	nn_net *net = w->net;
	size_t a = net->n_params * (size_t)w->tid / (size_t)net->threads;
	size_t b = net->n_params * (size_t)(w->tid + 1) / (size_t)net->threads;
	float *block = net->gsend;
	memcpy(block + a, net->workers[0].grad + a, (b - a) * sizeof(float));
	for (int t = 1; t < net->threads; t++)
		for (size_t i = a; i < b; i++)
			block[i] += net->workers[t].grad[i];
	nn_sync(net);
	if (w->tid != 0)
		return;
	double loss = 0.0;
	int hits = 0;
	for (int t = 0; t < net->threads; t++) {
		loss += net->workers[t].loss;
		hits += net->workers[t].correct;
	}
	block[net->gstride - 4] = (float)loss;
	block[net->gstride - 3] = (float)hits;
	if (!net->dist_failed && net->dist.allreduce(net->dist.ctx, block, net->gstride) != 0)
		net->dist_failed = 1;
}

void nn_dist_gather_grads(nn_worker *w)
{
	nn_net *net = w->net;
	nn_sync(net);
	if (!net->has_dist)
		return;
	if (net->dist.allreduce) {
		reduce_grads(w);
	} else if (w->tid == 0) {
		for (int t = 0; t < net->threads; t++) {
			float *block = net->gsend + (size_t)t * net->gstride;
			double tail[2] = { net->workers[t].loss, net->workers[t].correct };
			memcpy(block, net->workers[t].grad, net->n_params * sizeof(float));
			memcpy(block + net->gstride - 4, tail, sizeof(tail));   /* 4 floats hold 2 doubles */
		}
		gather(net, net->gsend, net->grecv, net->gstride * sizeof(float));
	}
	nn_sync(net);
}

void nn_dist_gather_parts(nn_worker *w, int l, int off, int len)
{
	nn_net *net = w->net;
	nn_sync(net);
	if (!net->has_dist)
		return;
	if (w->tid == 0) {
		for (int t = 0; t < net->threads; t++)
			memcpy(net->psend + (size_t)t * net->pmax, net->workers[t].part[l] + off,
			       (size_t)len * sizeof(double));
		gather(net, net->psend, net->precv, net->pmax * sizeof(double));
	}
	nn_sync(net);
}

/* Sums the shares' losses and hits in share order; after an inference
 * pass (gather_eval) the processes' shares are gathered first. */
static void sum_losses(nn_net *net, int after_eval, double *loss, int *hits)
{
	*loss = 0.0;
	*hits = 0;
	if (!net->has_dist) {
		for (int t = 0; t < net->threads; t++) {
			*loss += net->workers[t].loss;
			*hits += net->workers[t].correct;
		}
		return;
	}
	if (!after_eval && net->dist.allreduce) {
		*loss = net->gsend[net->gstride - 4];
		*hits = (int)net->gsend[net->gstride - 3];
		return;
	}
	for (int s = 0; s < net->n_shares; s++) {
		double v[2];
		if (after_eval)
			memcpy(v, net->precv + (size_t)s * net->pmax, sizeof(v));
		else
			memcpy(v, nn_share_grad(net, s) + net->gstride - 4, sizeof(v));
		*loss += v[0];
		*hits += (int)v[1];
	}
}

int nn_dist_step_loss(nn_net *net, double *loss, int *hits)
{
	sum_losses(net, 0, loss, hits);
	return net->dist_failed ? -1 : 0;
}

int nn_dist_gather_eval(nn_net *net, double *loss, int *hits)
{
	if (net->has_dist) {
		for (int t = 0; t < net->threads; t++) {
			net->psend[(size_t)t * net->pmax] = net->workers[t].loss;
			net->psend[(size_t)t * net->pmax + 1] = net->workers[t].correct;
		}
		gather(net, net->psend, net->precv, net->pmax * sizeof(double));
	}
	sum_losses(net, 1, loss, hits);
	return net->dist_failed ? -1 : 0;
}

static int bcast(nn_net *net, void *buf, size_t bytes)
{
	return net->dist.bcast(net->dist.ctx, buf, bytes) != 0 ? -1 : 0;
}

int nn_dist_bcast_state(nn_net *net, nn_err *err)
{
	uint64_t words[2] = { net->opt_t, net->drop_rng };
	if (!net->has_dist)
		return 0;
	if (!net->has_opt) {
		net->opt_m = calloc(net->n_params ? net->n_params : 1, sizeof(float));
		net->opt_v = calloc(net->n_params ? net->n_params : 1, sizeof(float));
		if (!net->opt_m || !net->opt_v)
			return nn_errorf(err, NN_ENOMEM, "out of memory for optimiser state");
		net->has_opt = 1;
	}
	if (bcast(net, net->params, net->n_params * sizeof(float)) < 0 ||
	    bcast(net, net->stats, net->n_stats * sizeof(float)) < 0 ||
	    bcast(net, net->opt_m, net->n_params * sizeof(float)) < 0 ||
	    bcast(net, net->opt_v, net->n_params * sizeof(float)) < 0 ||
	    bcast(net, words, sizeof(words)) < 0)
		return nn_errorf(err, NN_EIO, "cannot copy the weights of process 0 to the others");
	net->opt_t = words[0];
	net->drop_rng = words[1];
	return 0;
}

const float *nn_params(const nn_net *net) { return net->params; }

const float *nn_stats(const nn_net *net, size_t *n_stats)
{
	*n_stats = net->n_stats;
	return net->stats;
}
