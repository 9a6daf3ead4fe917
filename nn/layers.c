/* Forward and backward passes of the layers on one worker's share of the
 * batch. Activations are channel-major for the share, [C][n][H][W], so a
 * convolution over a chunk of images is one GEMM without transposes. */
#include <math.h>
#include <string.h>
#include "nn_impl.h"

#define BN_EPS NN_BN_EPS
#define BN_MOMENTUM 0.1

/* Waits until every worker reaches this point (no-op with one thread). */
void nn_sync(struct nn_net *net)
{
	if (net->threads > 1)
		pthread_barrier_wait(&net->sync);
}

/* Sum of x[0..n) in 16 interleaved partial sums (vectorisable, and in a
 * fixed order, so the result does not depend on the compiler's choices). */
float nn_sum(const float *x, size_t n)
{
	float lane[16] = { 0 };
	size_t j = 0;
	for (; j + 16 <= n; j += 16)
		for (int t = 0; t < 16; t++)
			lane[t] += x[j + t];
	for (; j < n; j++)
		lane[j % 16] += x[j];
	float s = 0.0f;
	for (int t = 0; t < 16; t++)
		s += lane[t];
	return s;
}

/* *sa = sum of a[j], *sab = sum of a[j] * b[j] (b NULL: a[j] squared), in
 * double over 8 interleaved lanes: vectorisable and in a fixed order. */
static void sums2(const float *a, const float *b, size_t n, double *sa, double *sab)
{
	double la[8] = { 0 }, lab[8] = { 0 };
	size_t j = 0;
	if (!b)
		b = a;
	for (; j + 8 <= n; j += 8)
		for (int t = 0; t < 8; t++) {
			la[t] += a[j + t];
			lab[t] += (double)a[j + t] * b[j + t];
		}
	for (; j < n; j++) {
		la[j % 8] += a[j];
		lab[j % 8] += (double)a[j] * b[j];
	}
	*sa = *sab = 0.0;
	for (int t = 0; t < 8; t++) {
		*sa += la[t];
		*sab += lab[t];
	}
}

/* Max and average pooling, per plane; max pooling keeps the arg-max. */
static void pool_forward(nn_worker *w, int l, const float *in, float *out)
{
	const nn_layer *ly = &w->net->layers[l];
	int k = ly->k, st = ly->stride, oh = ly->out.h, ow = ly->out.w, iw = ly->in.w;
	size_t planes = (size_t)w->n * ly->in.c, ihw = (size_t)ly->in.h * iw;
	float inv = 1.0f / (float)(k * k);
	int32_t *am = w->argmax[l];
	for (size_t p = 0; p < planes; p++) {
		const float *src = in + p * ihw;
		float *dst = out + p * oh * ow;
		for (int y = 0; y < oh; y++)
			for (int x = 0; x < ow; x++) {
				int base = y * st * iw + x * st, best = base;
				float m = src[base], s = 0.0f;
				for (int dy = 0; dy < k; dy++)
					for (int dx = 0; dx < k; dx++) {
						int j = base + dy * iw + dx;
						s += src[j];
						if (src[j] > m) {
							m = src[j];
							best = j;
						}
					}
				if (ly->kind == L_MAXPOOL) {
					dst[y * ow + x] = m;
					am[p * oh * ow + y * ow + x] = best;
				} else {
					dst[y * ow + x] = s * inv;
				}
			}
	}
}

static void pool_backward(nn_worker *w, int l, const float *dy, float *dx)
{
	const nn_layer *ly = &w->net->layers[l];
	int k = ly->k, st = ly->stride, oh = ly->out.h, ow = ly->out.w, iw = ly->in.w;
	size_t planes = (size_t)w->n * ly->in.c, ihw = (size_t)ly->in.h * iw;
	float inv = 1.0f / (float)(k * k);
	const int32_t *am = w->argmax[l];
	memset(dx, 0, planes * ihw * sizeof(float));
	for (size_t p = 0; p < planes; p++) {
		const float *g = dy + p * oh * ow;
		float *d = dx + p * ihw;
		for (int y = 0; y < oh; y++)
			for (int x = 0; x < ow; x++) {
				if (ly->kind == L_MAXPOOL) {
					d[am[p * oh * ow + y * ow + x]] += g[y * ow + x];
					continue;
				}
				float v = g[y * ow + x] * inv;
				int base = y * st * iw + x * st;
				for (int a = 0; a < k; a++)
					for (int b = 0; b < k; b++)
						d[base + a * iw + b] += v;
			}
	}
}

static void gap_forward(nn_worker *w, const nn_layer *ly, const float *in, float *out)
{
	size_t planes = (size_t)w->n * ly->in.c, hw = (size_t)ly->in.h * ly->in.w;
	for (size_t p = 0; p < planes; p++) {
		float s = 0.0f;
		for (size_t j = 0; j < hw; j++)
			s += in[p * hw + j];
		out[p] = s / (float)hw;
	}
}

static void gap_backward(nn_worker *w, const nn_layer *ly, const float *dy, float *dx)
{
	size_t planes = (size_t)w->n * ly->in.c, hw = (size_t)ly->in.h * ly->in.w;
	for (size_t p = 0; p < planes; p++) {
		float v = dy[p] / (float)hw;
		for (size_t j = 0; j < hw; j++)
			dx[p * hw + j] = v;
	}
}

/* Batch normalisation in training mode: batch statistics over all workers'
 * shares (partial sums combined in thread order, so results are fixed for
 * a thread count); tid 0 updates the running statistics. */
static void bn_forward_train(nn_worker *w, int l, const float *in, float *out)
{
	struct nn_net *net = w->net;
	const nn_layer *ly = &net->layers[l];
	int C = ly->in.c;
	size_t len = (size_t)w->n * ly->in.h * ly->in.w;
	double *part = w->part[l], cnt = (double)net->n * ly->in.h * ly->in.w;
	for (int c = 0; c < C; c++)
		sums2(in + c * len, NULL, len, &part[2 * c], &part[2 * c + 1]);
	nn_dist_gather_parts(w, l, 0, 2 * C);
	const float *gamma = net->params + ly->w_off, *beta = net->params + ly->b_off;
	float *xhat = w->aux[l], *rmean = net->stats + ly->s_off, *rvar = rmean + C;
	for (int c = 0; c < C; c++) {
		double s = 0.0, q = 0.0;
		for (int t = 0; t < net->n_shares; t++) {
			const double *pt = nn_share_part(net, l, t, 0);
			s += pt[2 * c];
			q += pt[2 * c + 1];
		}
		double mean = s / cnt, var = q / cnt - mean * mean;
		if (var < 0.0)
			var = 0.0;
		float m = (float)mean, inv = (float)(1.0 / sqrt(var + BN_EPS));
		part[2 * C + 2 * c] = inv;   /* kept for backward */
		const float *x = in + c * len;
		float *xh = xhat + c * len, *y = out + c * len;
		for (size_t j = 0; j < len; j++) {
			xh[j] = (x[j] - m) * inv;
			y[j] = gamma[c] * xh[j] + beta[c];
		}
		if (w->tid == 0) {
			double unbiased = cnt > 1.0 ? var * cnt / (cnt - 1.0) : var;
			rmean[c] = (float)((1.0 - BN_MOMENTUM) * rmean[c] + BN_MOMENTUM * mean);
			rvar[c] = (float)((1.0 - BN_MOMENTUM) * rvar[c] + BN_MOMENTUM * unbiased);
		}
	}
}

static void bn_forward_eval(nn_worker *w, const nn_layer *ly, const float *in, float *out)
{
	struct nn_net *net = w->net;
	int C = ly->in.c;
	size_t len = (size_t)w->n * ly->in.h * ly->in.w;
	const float *gamma = net->params + ly->w_off, *beta = net->params + ly->b_off;
	const float *rmean = net->stats + ly->s_off, *rvar = rmean + C;
	for (int c = 0; c < C; c++) {
		float sc = gamma[c] / sqrtf(rvar[c] + (float)BN_EPS);
		float sh = beta[c] - rmean[c] * sc;
		for (size_t j = 0; j < len; j++)
			out[c * len + j] = in[c * len + j] * sc + sh;
	}
}

static void bn_backward(nn_worker *w, int l, const float *dy, float *dx)
{
	struct nn_net *net = w->net;
	const nn_layer *ly = &net->layers[l];
	int C = ly->in.c;
	size_t len = (size_t)w->n * ly->in.h * ly->in.w;
	double *part = w->part[l], cnt = (double)net->n * ly->in.h * ly->in.w;
	const float *xhat = w->aux[l], *gamma = net->params + ly->w_off;
	for (int c = 0; c < C; c++) {
		double sd, sdx;
		sums2(dy + c * len, xhat + c * len, len, &sd, &sdx);
		part[4 * C + 2 * c] = sd;
		part[4 * C + 2 * c + 1] = sdx;
		w->grad[ly->w_off + c] += (float)sdx;
		w->grad[ly->b_off + c] += (float)sd;
	}
	if (!ly->need_dx) {
		nn_sync(net);
		return;
	}
	nn_dist_gather_parts(w, l, 4 * C, 2 * C);
	for (int c = 0; c < C; c++) {
		double sd = 0.0, sdx = 0.0;
		for (int t = 0; t < net->n_shares; t++) {
			const double *pt = nn_share_part(net, l, t, 4 * C);
			sd += pt[2 * c];
			sdx += pt[2 * c + 1];
		}
		float k = (float)(gamma[c] * part[2 * C + 2 * c] / cnt);
		float a = (float)sd, b = (float)sdx, fc = (float)cnt;
		for (size_t j = 0; j < len; j++)
			dx[c * len + j] = k * (fc * dy[c * len + j] - a - xhat[c * len + j] * b);
	}
}

static void dropout_forward(nn_worker *w, int l, const float *in, float *out)
{
	const nn_layer *ly = &w->net->layers[l];
	size_t len = (size_t)w->n * ly->in.c * ly->in.h * ly->in.w;
	float *mask = w->aux[l], keep = 1.0f / (1.0f - ly->drop_p);
	if (!w->net->train || ly->drop_p <= 0.0f) {
		memcpy(out, in, len * sizeof(float));
		return;
	}
	for (size_t j = 0; j < len; j++) {
		mask[j] = nn_rng_uniform(&w->rng) < ly->drop_p ? 0.0f : keep;
		out[j] = in[j] * mask[j];
	}
}

/* Runs layer l forward on the worker's share: act[l] -> act[l+1]. */
void nn_layer_forward(nn_worker *w, int l)
{
	const nn_layer *ly = &w->net->layers[l];
	const float *in = w->act[l];
	float *out = w->act[l + 1];
	size_t len = (size_t)w->n * ly->in.c * ly->in.h * ly->in.w;
	switch (ly->kind) {
	case L_CONV: nn_conv_forward(w, l); break;
	case L_DENSE: nn_dense_forward(w, l); break;
	case L_MAXPOOL:
	case L_AVGPOOL: pool_forward(w, l, in, out); break;
	case L_GAP: gap_forward(w, ly, in, out); break;
	case L_RELU:
		for (size_t j = 0; j < len; j++)
			out[j] = in[j] > 0.0f ? in[j] : 0.0f;
		break;
	case L_BN:
		if (w->net->train)
			bn_forward_train(w, l, in, out);
		else
			bn_forward_eval(w, ly, in, out);
		break;
	case L_DROPOUT: dropout_forward(w, l, in, out); break;
	}
}

/* Runs layer l backward: dy is the gradient of act[l+1]; dx (which may be
 * dy for in-place layers) gets the gradient of act[l] when need_dx;
 * parameter gradients are added to w->grad. */
void nn_layer_backward(nn_worker *w, int l, float *dy, float *dx)
{
	const nn_layer *ly = &w->net->layers[l];
	const float *out = w->act[l + 1];
	size_t len = (size_t)w->n * ly->in.c * ly->in.h * ly->in.w;
	switch (ly->kind) {
	case L_CONV: nn_conv_backward(w, l, dy, dx); break;
	case L_DENSE: nn_dense_backward(w, l, dy, dx); break;
	case L_MAXPOOL:
	case L_AVGPOOL: pool_backward(w, l, dy, dx); break;
	case L_GAP: gap_backward(w, ly, dy, dx); break;
	case L_RELU:
		for (size_t j = 0; j < len; j++)
			dx[j] = out[j] > 0.0f ? dy[j] : 0.0f;
		break;
	case L_BN: bn_backward(w, l, dy, dx); break;
	case L_DROPOUT:
		for (size_t j = 0; j < len; j++)
			dx[j] = ly->drop_p > 0.0f ? dy[j] * w->aux[l][j] : dy[j];
		break;
	}
}
