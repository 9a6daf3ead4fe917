/* The network: construction, per-thread scratch, the worker pool, and the
 * training / inference passes. Each worker runs the whole net on a fixed
 * share of the batch; per-thread gradients are summed in thread order, so a
 * given seed and thread count always give the same weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn_impl.h"

/* Target size of a conv layer's scratch per chunk of images (in L2). */
#define CHUNK_BYTES (512 * 1024)

void nn_opt_default(nn_opt *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->kind = NN_SGD;
	opt->lr = 0.01f;
	opt->momentum = 0.9f;
	opt->beta1 = 0.9f;
	opt->beta2 = 0.999f;
	opt->eps = 1e-8f;
	opt->schedule = NN_LR_CONST;
	opt->step_epochs = 1;
	opt->step_gamma = 0.1f;
	opt->epochs = 10;
}

static size_t shape_size(nn_shape s)
{
	return (size_t)s.c * s.h * s.w;
}

/* Images per GEMM of a conv layer: as many as keep its per-chunk scratch
 * (unrolled input, or padded input and results) near CHUNK_BYTES. */
static int conv_chunk(const nn_layer *ly)
{
	size_t kk = (size_t)ly->in.c * ly->k * ly->k, ohw = (size_t)ly->out.h * ly->out.w;
	size_t per_img = kk * ohw;
	if (ly->fast) {
		size_t owp = (size_t)(ly->out.w + 15) / 16 * 16, ph = (size_t)ly->out.h + ly->k - 1;
		per_img = (size_t)ly->in.c * ph * (owp + ly->k - 1) +
		          (size_t)((ly->n_out + 31) / 32 * 32 * 2) * ly->out.h * owp;
	}
	size_t c = CHUNK_BYTES / (per_img * sizeof(float));
	return c < 1 ? 1 : c > 16 ? 16 : (int)c;
}

/* Sets per-layer flags: in-place ReLU, which layers need an input
 * gradient, He-or-Glorot, conv chunk sizes. */
static void plan_layers(nn_net *net)
{
	net->first_param = net->n_layers;
	for (int l = 0; l < net->n_layers; l++) {
		nn_layer *ly = &net->layers[l];
		int has_params = ly->kind == L_CONV || ly->kind == L_DENSE || ly->kind == L_BN;
		if (has_params && net->first_param == net->n_layers)
			net->first_param = l;
		ly->need_dx = l > net->first_param;
		ly->inplace = ly->kind == L_RELU;
		for (int j = l + 1; j < net->n_layers; j++) {
			int k = net->layers[j].kind;
			if (k == L_RELU)
				ly->relu_after = 1;
			if (k == L_RELU || k == L_CONV || k == L_DENSE)
				break;
		}
		if (ly->kind == L_DENSE)
			ly->fast = nn_sgemm_panel() == 32;
		if (ly->kind == L_CONV) {
			ly->fast = nn_conv_fast(ly);
			ly->chunk = conv_chunk(ly);
			if (ly->fast && l + 1 < net->n_layers && net->layers[l + 1].kind == L_RELU) {
				ly->fuse = 1;
				net->layers[l + 1].fused = 1;
				if (l + 2 < net->n_layers && net->layers[l + 2].kind == L_MAXPOOL) {
					ly->fuse = 2;
					net->layers[l + 2].fused = 1;
				}
			}
		}
	}
}

static void init_weights(nn_net *net, uint64_t seed)
{
	uint64_t rng = seed;
	memset(net->params, 0, net->n_params * sizeof(float));
	for (int l = 0; l < net->n_layers; l++) {
		nn_layer *ly = &net->layers[l];
		float *wt = net->params + ly->w_off;
		if (ly->kind == L_BN) {
			for (size_t i = 0; i < ly->n_w; i++)
				wt[i] = 1.0f;
			for (int c = 0; c < ly->in.c; c++)
				net->stats[ly->s_off + ly->in.c + c] = 1.0f;
			continue;
		}
		if (ly->kind != L_CONV && ly->kind != L_DENSE)
			continue;
		double fan_in = (double)ly->n_w / ly->n_out;
		double fan_out = ly->kind == L_CONV ? (double)ly->n_out * ly->k * ly->k : ly->n_out;
		if (ly->relu_after) {
			float sd = (float)sqrt(2.0 / fan_in);
			for (size_t i = 0; i < ly->n_w; i++)
				wt[i] = sd * nn_rng_normal(&rng);
		} else {
			double lim = sqrt(6.0 / (fan_in + fan_out));
			for (size_t i = 0; i < ly->n_w; i++)
				wt[i] = (float)((2.0 * nn_rng_uniform(&rng) - 1.0) * lim);
		}
	}
}

/* Zeroed, 64-byte aligned (whole cache lines for the GEMM panels). Built
 * on calloc, which leaves large blocks to the kernel's zero pages instead of
 * writing them: a net made for inference never touches its training
 * buffers, so a forked predict process does not pay for them. The block
 * calloc returned is kept just before the aligned pointer, for xfree. */
static void *xcalloc(size_t n, size_t size, int *fail)
{
	size_t bytes = (n ? n : 1) * size;
	char *raw = calloc(1, bytes + 64 + 8);    /* 8: room for the pointer kept */
	if (!raw) {
		*fail = 1;
		return NULL;
	}
	char *p = (char *)(((uintptr_t)raw + 8 + 63) & ~(uintptr_t)63);
	((void **)p)[-1] = raw;
	return p;
}

static void xfree(void *p)
{
	if (p)
		free(((void **)p)[-1]);
}

/* Allocates one worker's scratch for share_max samples. */
static int worker_alloc(nn_net *net, nn_worker *w)
{
	size_t sm = (size_t)net->share_max, max_act = shape_size(net->in), gat = 1, wmax = 1;
	nn_conv_scratch cs = { 1, 1, 1, 1, 1, 1, 1 };
	int fail = 0;
	w->act[0] = xcalloc(sm * shape_size(net->in), sizeof(float), &fail);
	for (int l = 0; l < net->n_layers; l++) {
		nn_layer *ly = &net->layers[l];
		size_t out = shape_size(ly->out);
		if (out > max_act)
			max_act = out;
		if (ly->fuse == 2)   /* the conv output is never stored */
			w->act[l + 1] = NULL;
		else
			w->act[l + 1] = ly->inplace ? w->act[l] : xcalloc(sm * out, sizeof(float), &fail);
		if (ly->kind == L_MAXPOOL)
			w->argmax[l] = xcalloc(sm * out, sizeof(int32_t), &fail);
		if (ly->kind == L_BN || ly->kind == L_DROPOUT)
			w->aux[l] = xcalloc(sm * out, sizeof(float), &fail);
		if (ly->kind == L_BN)
			w->part[l] = xcalloc(6 * (size_t)ly->in.c, sizeof(double), &fail);
		if (ly->kind == L_CONV || ly->kind == L_DENSE) {
			nn_conv_scratch c = ly->kind == L_CONV ? nn_conv_scratch_of(ly)
			                                       : nn_dense_scratch_of(ly, net->share_max);
			cs.col = c.col > cs.col ? c.col : cs.col;
			cs.pad = c.pad > cs.pad ? c.pad : cs.pad;
			cs.tile = c.tile > cs.tile ? c.tile : cs.tile;
			cs.wpack = c.wpack > cs.wpack ? c.wpack : cs.wpack;
			cs.pieces = c.pieces > cs.pieces ? c.pieces : cs.pieces;
			cs.kk = c.kk > cs.kk ? c.kk : cs.kk;
			cs.dchunk = c.dchunk > cs.dchunk ? c.dchunk : cs.dchunk;
		}
		if ((ly->kind == L_CONV || ly->kind == L_DENSE) && ly->n_w > wmax)
			wmax = ly->n_w;
		if (ly->kind == L_DENSE && (ly->fast || ly->in.h * ly->in.w > 1) && sm * shape_size(ly->in) > gat)
			gat = sm * shape_size(ly->in);
	}
	w->gbuf[0] = xcalloc(sm * max_act, sizeof(float), &fail);
	w->gbuf[1] = xcalloc(sm * max_act, sizeof(float), &fail);
	w->col = xcalloc(cs.col, sizeof(float), &fail);
	w->pad = xcalloc(cs.pad, sizeof(float), &fail);
	w->tile = xcalloc(cs.tile, sizeof(float), &fail);
	w->wpack = xcalloc(cs.wpack, sizeof(float), &fail);
	w->dwt = xcalloc(wmax, sizeof(float), &fail);
	w->voff = xcalloc(cs.pieces, sizeof(int), &fail);
	w->arows = xcalloc(cs.kk, sizeof(float *), &fail);
	w->pieces = xcalloc(cs.pieces, sizeof(float *), &fail);
	w->koff = xcalloc(cs.kk, sizeof(int), &fail);
	w->dchunk = xcalloc(cs.dchunk, sizeof(float), &fail);
	w->apack = xcalloc(nn_sgemm_apack_floats(), sizeof(float), &fail);
	w->wflip = xcalloc(wmax, sizeof(float), &fail);
	w->gather = xcalloc(gat, sizeof(float), &fail);
	w->grad = xcalloc(net->n_params, sizeof(float), &fail);
	return fail ? -1 : 0;
}

static void worker_release(nn_net *net, nn_worker *w)
{
	xfree(w->act[0]);
	for (int l = 0; l < net->n_layers; l++) {
		if (!net->layers[l].inplace)
			xfree(w->act[l + 1]);
		xfree(w->argmax[l]);
		xfree(w->aux[l]);
		xfree(w->part[l]);
	}
	xfree(w->gbuf[0]);
	xfree(w->gbuf[1]);
	xfree(w->col);
	xfree(w->pad);
	xfree(w->tile);
	xfree(w->wpack);
	xfree(w->dwt);
	xfree(w->voff);
	xfree((void *)w->arows);
	xfree((void *)w->pieces);
	xfree(w->koff);
	xfree(w->dchunk);
	xfree(w->apack);
	xfree(w->wflip);
	xfree(w->gather);
	xfree(w->grad);
}

static void *worker_main(void *arg)
{
	nn_worker *w = arg;
	nn_net *net = w->net;
	for (;;) {
		pthread_barrier_wait(&net->start);
		if (net->quit)
			break;
		net->job(w);
		pthread_barrier_wait(&net->sync);
	}
	return NULL;
}

/* Runs job on every worker (the caller is worker 0) and waits for all. */
static void run_job(nn_net *net, void (*job)(nn_worker *))
{
	net->job = job;
	if (net->threads > 1)
		pthread_barrier_wait(&net->start);
	job(&net->workers[0]);
	nn_sync(net);
}

static int start_pool(nn_net *net, nn_err *err)
{
	if (net->threads == 1)
		return 0;
	if (pthread_barrier_init(&net->start, NULL, (unsigned)net->threads) != 0 ||
	    pthread_barrier_init(&net->sync, NULL, (unsigned)net->threads) != 0)
		return nn_errorf(err, NN_ENOMEM, "cannot create thread barriers");
	net->pool_up = 1;
	for (int t = 1; t < net->threads; t++)
		if (pthread_create(&net->workers[t].thread, NULL, worker_main, &net->workers[t]) != 0) {
			net->threads = t;   /* join those started; nn_net_free stops them */
			return nn_errorf(err, NN_ENOMEM, "cannot start worker thread %d", t);
		}
	return 0;
}

nn_net *nn_net_new(const char *arch, nn_shape in, int n_classes, uint64_t seed,
                   int threads, int max_batch, nn_err *err)
{
	return nn_net_build(arch, in, n_classes, seed, threads, max_batch, 1, 0, err);
}

int nn_arch_check(const char *arch, nn_shape in, int n_classes, nn_err *err)
{
	nn_net *net = calloc(1, sizeof(*net));
	if (!net)
		return nn_errorf(err, NN_ENOMEM, "out of memory");
	net->in = in;
	net->n_classes = n_classes;
	int rc = nn_parse_arch(net, arch, err);
	nn_net_free(net);
	return rc;
}

nn_net *nn_net_build(const char *arch, nn_shape in, int n_classes, uint64_t seed,
                     int threads, int max_batch, int init, size_t max_params, nn_err *err)
{
	nn_net *net = calloc(1, sizeof(*net));
	if (!net) {
		nn_errorf(err, NN_ENOMEM, "out of memory");
		return NULL;
	}
	if (in.c < 1 || in.h < 1 || in.w < 1 || in.c > NN_MAX_SIDE || in.h > NN_MAX_SIDE ||
	    in.w > NN_MAX_SIDE || (size_t)in.c * in.h * in.w > NN_MAX_ACT || n_classes < 2 ||
	    n_classes > NN_MAX_SIDE || max_batch < 1 || max_batch > NN_MAX_SIDE || threads < 1) {
		nn_errorf(err, NN_EUSAGE, "bad network input %dx%dx%d, %d classes, batch %d, threads %d "
		          "(need sizes 1..%d, 2..%d classes, 1 or more threads)", in.c, in.h, in.w,
		          n_classes, max_batch, threads, NN_MAX_SIDE, NN_MAX_SIDE);
		goto fail;
	}
	net->in = in;
	net->n_classes = n_classes;
	if (nn_parse_arch(net, arch, err) != 0)
		goto fail;
	plan_layers(net);
	if (max_params && net->n_params > max_params) {
		nn_errorf(err, NN_EDATA, "network '%s' has %zu weights, more than the %zu stored",
		          net->arch, net->n_params, max_params);
		goto fail;
	}
	threads = threads > NN_MAX_THREADS ? NN_MAX_THREADS : threads;
	net->threads = threads < max_batch ? threads : max_batch;
	net->max_batch = max_batch;
	net->share_max = (max_batch + net->threads - 1) / net->threads;
	net->n_shares = net->threads;
	net->drop_rng = seed ^ 0x5bd1e995d00d5eedULL;
	nn_opt_default(&net->opt);
	net->params = calloc(net->n_params ? net->n_params : 1, sizeof(float));
	net->stats = calloc(net->n_stats ? net->n_stats : 1, sizeof(float));
	net->workers = calloc((size_t)net->threads, sizeof(nn_worker));
	if (!net->params || !net->stats || !net->workers)
		goto nomem;
	for (int t = 0; t < net->threads; t++) {
		net->workers[t].net = net;
		net->workers[t].tid = t;
		if (worker_alloc(net, &net->workers[t]) != 0)
			goto nomem;
	}
	if (init)
		init_weights(net, seed);
	nn_blas_init();
	if (start_pool(net, err) != 0)
		goto fail;
	return net;
nomem:
	nn_errorf(err, NN_ENOMEM, "out of memory for network '%s' with batch %d", net->arch, max_batch);
fail:
	nn_net_free(net);
	return NULL;
}

void nn_net_free(nn_net *net)
{
	if (!net)
		return;
	if (net->pool_up) {
		net->quit = 1;
		pthread_barrier_wait(&net->start);
		for (int t = 1; t < net->threads; t++)
			pthread_join(net->workers[t].thread, NULL);
		pthread_barrier_destroy(&net->start);
		pthread_barrier_destroy(&net->sync);
	}
	nn_dist_release(net);
	if (net->workers)
		for (int t = 0; t < net->threads; t++)
			worker_release(net, &net->workers[t]);
	free(net->workers);
	free(net->params);
	free(net->stats);
	free(net->opt_m);
	free(net->opt_v);
	free(net->arch);
	free(net);
}

/* Copies the worker's share of net->x (NCHW) into act[0] ([C][n][H][W]). */
static void load_input(nn_worker *w)
{
	nn_shape s = w->net->in;
	size_t hw = (size_t)s.h * s.w;
	for (int i = 0; i < w->n; i++)
		for (int c = 0; c < s.c; c++)
			memcpy(w->act[0] + ((size_t)c * w->n + i) * hw,
			       w->net->x + ((size_t)(w->i0 + i) * s.c + c) * hw, hw * sizeof(float));
}

/* Softmax of the logits; adds the weighted loss and hits of the share to
 * the worker's,
 * writes probabilities when net->probs, and the loss gradient into g
 * (when g is not NULL). */
static void softmax_loss(nn_worker *w, float *g)
{
	nn_net *net = w->net;
	int n = w->n, k = net->n_classes;
	const float *z = w->act[net->n_layers];
	for (int i = 0; i < n; i++) {
		float mx = z[i];
		int best = 0;
		for (int c = 1; c < k; c++)
			if (z[(size_t)c * n + i] > mx) {
				mx = z[(size_t)c * n + i];
				best = c;
			}
		double sum = 0.0;
		for (int c = 0; c < k; c++)
			sum += exp((double)(z[(size_t)c * n + i] - mx));
		float *pr = net->probs ? net->probs + (size_t)(w->i0 + i) * k : NULL;
		int y = net->labels ? net->labels[w->i0 + i] : -1;
		double wy = y < 0 ? 0.0 : net->class_weights ? net->class_weights[y] : 1.0;
		for (int c = 0; c < k; c++) {
			double p = exp((double)(z[(size_t)c * n + i] - mx)) / sum;
			if (pr)
				pr[c] = (float)p;
			if (g)
				g[(size_t)c * n + i] = (float)(wy * (p - (c == y)) / net->wsum);
		}
		if (y >= 0) {
			w->loss += wy * (log(sum) - (double)(z[(size_t)y * n + i] - mx));
			w->correct += best == y;
		}
	}
}

static void set_share(nn_worker *w)
{
	nn_net *net = w->net;
	long s = net->share0 + w->tid;
	w->i0 = (int)((long)net->n * s / net->n_shares);
	w->n = (int)((long)net->n * (s + 1) / net->n_shares) - w->i0;
}

/* Loads the worker's share and runs every layer forward (fused layers
 * run inside the convolution before them). */
static void forward(nn_worker *w)
{
	load_input(w);
	for (int l = 0; l < w->net->n_layers; l++)
		if (!w->net->layers[l].fused)
			nn_layer_forward(w, l);
}

/* Runs the share backward from the loss, adding to its gradient sum. */
static void backward(nn_worker *w)
{
	nn_net *net = w->net;
	int cur = 0;
	softmax_loss(w, w->gbuf[cur]);
	for (int l = net->n_layers - 1; l >= net->first_param; l--) {
		nn_layer *ly = &net->layers[l];
		float *dy = w->gbuf[cur], *dx = ly->inplace ? dy : w->gbuf[1 - cur];
		if (ly->fused && ly->kind == L_MAXPOOL) {
			nn_conv_backward(w, l - 2, dy, dx);
			l -= 2;   /* the ReLU and the conv ran together with the pooling */
		} else {
			nn_layer_backward(w, l, dy, dx);
		}
		if (!ly->inplace)
			cur = 1 - cur;
	}
}

/* One micro-batch of a step: the share's gradient and loss are summed
 * over the step's micro-batches; after the last, the shares' sums are
 * added in share order and the weights updated. */
static void job_train(nn_worker *w)
{
	nn_net *net = w->net;
	set_share(w);
	if (net->micro_k == 0) {
		memset(w->grad, 0, net->n_params * sizeof(float));
		w->loss = 0.0;
		w->correct = 0;
	}
	w->rng = net->drop_rng + 0x9e3779b97f4a7c15ULL * (uint64_t)(net->share0 + w->tid + 1);
	forward(w);
	backward(w);
	if (!net->micro_last)
		return;
	nn_dist_gather_grads(w);
	size_t a = net->n_params * (size_t)w->tid / (size_t)net->threads;
	size_t b = net->n_params * (size_t)(w->tid + 1) / (size_t)net->threads;
	nn_opt_update(net, a, b);
}

static void job_infer(nn_worker *w)
{
	set_share(w);
	w->loss = 0.0;
	w->correct = 0;
	forward(w);
	softmax_loss(w, NULL);
}

static int check_labels(nn_net *net, const int *labels, int n, const float *cw, nn_err *err)
{
	net->wsum = 0.0;
	for (int i = 0; labels && i < n; i++) {
		if (labels[i] < 0 || labels[i] >= net->n_classes)
			return nn_errorf(err, NN_EUSAGE, "label %d of sample %d is out of range 0..%d",
			                 labels[i], i, net->n_classes - 1);
		net->wsum += cw ? cw[labels[i]] : 1.0;
	}
	if (labels && n > 0 && !(net->wsum > 0.0))
		return nn_errorf(err, NN_EUSAGE, "the class weights of the batch sum to %g; they "
		                 "must be positive", net->wsum);
	return 0;
}

static int ensure_opt_state(nn_net *net, nn_err *err)
{
	if (net->has_opt)
		return 0;
	net->opt_m = calloc(net->n_params ? net->n_params : 1, sizeof(float));
	net->opt_v = calloc(net->n_params ? net->n_params : 1, sizeof(float));
	if (!net->opt_m || !net->opt_v)
		return nn_errorf(err, NN_ENOMEM, "out of memory for optimiser state");
	net->has_opt = 1;
	return 0;
}

int nn_train_accum(nn_net *net, const float *x, const int *labels, int n, int micro,
                   float lr, const float *class_weights, float *loss, int *n_correct,
                   nn_err *err)
{
	if (n < 1 || micro < 1 || micro > net->max_batch || !labels)
		return nn_errorf(err, NN_EUSAGE, "training step of %d samples in micro-batches of %d: "
		                 "need at least 1 sample, micro-batches of 1..%d (the net's max_batch) "
		                 "and labels", n, micro, net->max_batch);
	if (check_labels(net, labels, n, class_weights, err) != 0)
		return -NN_EUSAGE;
	if (ensure_opt_state(net, err) < 0)
		return -NN_ENOMEM;
	net->class_weights = class_weights;
	net->probs = NULL;
	net->train = 1;
	net->lr = lr;
	net->opt_t++;
	for (int i0 = 0, k = 0; i0 < n; i0 += micro, k++) {
		net->x = x + (size_t)i0 * shape_size(net->in);
		net->labels = labels + i0;
		net->n = n - i0 < micro ? n - i0 : micro;
		net->micro_k = k;
		net->micro_last = n - i0 <= micro;
		run_job(net, job_train);
		nn_rng_next(&net->drop_rng);
	}
	double sum;
	int hits;
	if (nn_dist_step_loss(net, &sum, &hits) < 0)
		return nn_errorf(err, NN_EIO, "cannot reduce the gradients of the other processes");
	if (loss)
		*loss = (float)(sum / net->wsum);
	if (n_correct)
		*n_correct = hits;
	return 0;
}

int nn_train_batch(nn_net *net, const float *x, const int *labels, int n,
                   float lr, const float *class_weights, float *loss, int *n_correct,
                   nn_err *err)
{
	if (n < 1 || n > net->max_batch || !labels)
		return nn_errorf(err, NN_EUSAGE, "training batch of %d samples: need 1..%d (the "
		                 "net's max_batch) and labels", n, net->max_batch);
	return nn_train_accum(net, x, labels, n, n, lr, class_weights, loss, n_correct, err);
}

int nn_eval_batch(nn_net *net, const float *x, const int *labels, int n,
                  const float *class_weights, float *loss, int *n_correct, float *probs,
                  nn_err *err)
{
	double sum = 0.0, wsum = 0.0;
	int hits = 0;
	if (n < 0)
		return nn_errorf(err, NN_EUSAGE, "negative sample count %d", n);
	for (int i0 = 0; i0 < n; i0 += net->max_batch) {
		int m = n - i0 < net->max_batch ? n - i0 : net->max_batch;
		if (check_labels(net, labels ? labels + i0 : NULL, m, class_weights, err) != 0)
			return -NN_EUSAGE;
		net->x = x + (size_t)i0 * shape_size(net->in);
		net->labels = labels ? labels + i0 : NULL;
		net->class_weights = class_weights;
		net->probs = probs ? probs + (size_t)i0 * net->n_classes : NULL;
		net->n = m;
		net->train = 0;
		run_job(net, job_infer);
		double part_loss;
		int part_hits;
		if (nn_dist_gather_eval(net, &part_loss, &part_hits) < 0)
			return nn_errorf(err, NN_EIO, "cannot gather the losses of the other processes");
		sum += part_loss;
		hits += part_hits;
		wsum += net->wsum;
	}
	if (loss)
		*loss = wsum > 0.0 ? (float)(sum / wsum) : 0.0f;
	if (n_correct)
		*n_correct = hits;
	return 0;
}

int nn_predict(nn_net *net, const float *x, int n, float *probs, nn_err *err)
{
	return nn_eval_batch(net, x, NULL, n, NULL, NULL, NULL, probs, err);
}

int nn_n_classes(const nn_net *net) { return net->n_classes; }
nn_shape nn_input_shape(const nn_net *net) { return net->in; }
const char *nn_arch(const nn_net *net) { return net->arch; }
size_t nn_n_params(const nn_net *net) { return net->n_params; }
int nn_threads(const nn_net *net) { return net->threads; }
int nn_max_batch(const nn_net *net) { return net->max_batch; }
