/* Forward and backward passes of the layers on one worker's share of the
 * batch. Activations are channel-major for the share, [C][n][H][W], so a
 * convolution over a chunk of images is one GEMM without transposes. */
#include <math.h>
#include <stddef.h>
#include <string.h>
#include "nn_impl.h"

#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1

/* Waits until every worker reaches this point (no-op with one thread). */
void nn_sync(struct nn_net *net)
{
	if (net->threads > 1)
		pthread_barrier_wait(&net->sync);
}

/* Geometry of a convolution as a GEMM: input planes, kernel, output size. */
typedef struct geom { nn_shape in; int k, stride, pad, oh, ow; } geom;

static geom layer_geom(const nn_layer *ly)
{
	return (geom){ ly->in, ly->k, ly->stride, ly->pad, ly->out.h, ly->out.w };
}

/* The input gradient of a stride-1 convolution is itself a convolution:
 * of the output gradient, padded by k-1-pad, with the flipped kernel. */
static geom dx_geom(const nn_layer *ly)
{
	return (geom){ { ly->n_out, ly->out.h, ly->out.w }, ly->k, 1, ly->k - 1 - ly->pad,
	               ly->in.h, ly->in.w };
}

/* For kernel offset (kh, kw) and output row y: *src such that output
 * column x reads src[x * stride], valid for x in [*lo, *hi). */
static void row_span(const geom *g, const float *plane, int kh, int kw, int y,
                     const float **src, int *lo, int *hi)
{
	int st = g->stride, iy = y * st - g->pad + kh;
	*src = plane + (ptrdiff_t)iy * g->in.w + kw - g->pad;
	if (iy < 0 || iy >= g->in.h) {
		*lo = *hi = 0;
		return;
	}
	*lo = g->pad - kw > 0 ? (g->pad - kw + st - 1) / st : 0;
	*hi = (g->in.w + g->pad - kw + st - 1) / st;
	if (*hi > g->ow)
		*hi = g->ow;
	if (*lo > *hi)
		*lo = *hi;
}

/* d[t] = value of output column x0+t, t < len (zero outside [lo, hi)). */
static inline void put_run(float *d, const float *src, int st, int x0, int len, int lo, int hi)
{
	int a = lo - x0, b = hi - x0;
	a = a < 0 ? 0 : a > len ? len : a;
	b = b < a ? a : b > len ? len : b;
	for (int t = 0; t < a; t++)
		d[t] = 0.0f;
	if (st == 1)
		memcpy(d + a, src + x0 + a, (size_t)(b - a) * sizeof(float));
	else
		for (int t = a; t < b; t++)
			d[t] = src[(size_t)(x0 + t) * st];
	for (int t = b; t < len; t++)
		d[t] = 0.0f;
}

/* Unrolls images i0..i0+b of in ([C][n][H][W]) into col [C*k*k][b*oh*ow]. */
static void im2col(const float *in, int n, const geom *g, int i0, int b, float *col)
{
	int k = g->k, oh = g->oh, ow = g->ow;
	size_t hw = (size_t)g->in.h * g->in.w, ncol = (size_t)b * oh * ow;
	for (int c = 0; c < g->in.c; c++)
		for (int kh = 0; kh < k; kh++)
			for (int kw = 0; kw < k; kw++) {
				float *row = col + ((size_t)(c * k + kh) * k + kw) * ncol;
				for (int i = 0; i < b; i++) {
					const float *plane = in + ((size_t)c * n + i0 + i) * hw, *src;
					for (int y = 0, lo, hi; y < oh; y++) {
						row_span(g, plane, kh, kw, y, &src, &lo, &hi);
						put_run(row + ((size_t)i * oh + y) * ow, src, g->stride, 0, ow, lo, hi);
					}
				}
			}
}

/* im2col straight into the packed-B layout of nn_sgemm_pb: column p of
 * the [C*k*k][b*oh*ow] matrix goes to panel p / nr. */
static void im2col_pack(const float *in, int n, const geom *g, int i0, int b, float *dst, int nr)
{
	int k = g->k, oh = g->oh, ow = g->ow, K = g->in.c * k * k, P = b * oh * ow;
	size_t hw = (size_t)g->in.h * g->in.w, pstride = (size_t)K * nr;
	for (int c = 0; c < g->in.c; c++)
		for (int kh = 0; kh < k; kh++)
			for (int kw = 0; kw < k; kw++) {
				float *base = dst + (size_t)((c * k + kh) * k + kw) * nr;
				int p = 0;
				for (int i = 0; i < b; i++) {
					const float *plane = in + ((size_t)c * n + i0 + i) * hw, *src;
					for (int y = 0, lo, hi; y < oh; y++) {
						row_span(g, plane, kh, kw, y, &src, &lo, &hi);
						for (int x = 0; x < ow;) {
							int r = p % nr, len = ow - x < nr - r ? ow - x : nr - r;
							put_run(base + (size_t)(p / nr) * pstride + r, src, g->stride, x, len, lo, hi);
							x += len;
							p += len;
						}
					}
				}
				for (; p % nr; p++)
					base[(size_t)(p / nr) * pstride + p % nr] = 0.0f;
			}
	(void)P;
}

/* The transpose, [b*oh*ow][C*k*k], packed for nn_sgemm_pb: row kk of the
 * im2col matrix becomes column kk % nr of panel kk / nr. */
static void im2col_pack_t(const float *in, int n, const geom *g, int i0, int b, float *dst, int nr)
{
	int k = g->k, oh = g->oh, ow = g->ow, K = g->in.c * k * k, P = b * oh * ow;
	size_t hw = (size_t)g->in.h * g->in.w, pstride = (size_t)P * nr;
	float run[1024];
	for (int kk = 0; kk < (K + nr - 1) / nr * nr; kk++) {
		float *d = dst + (size_t)(kk / nr) * pstride + kk % nr;
		if (kk >= K) {
			for (int p = 0; p < P; p++)
				d[(size_t)p * nr] = 0.0f;
			continue;
		}
		int c = kk / (k * k), kh = kk / k % k, kw = kk % k;
		for (int i = 0; i < b; i++) {
			const float *plane = in + ((size_t)c * n + i0 + i) * hw, *src;
			for (int y = 0, lo, hi; y < oh; y++) {
				row_span(g, plane, kh, kw, y, &src, &lo, &hi);
				for (int x0 = 0; x0 < ow; x0 += 1024) {
					int len = ow - x0 < 1024 ? ow - x0 : 1024;
					put_run(run, src, g->stride, x0, len, lo, hi);
					for (int t = 0; t < len; t++, d += nr)
						*d = run[t];
				}
			}
		}
	}
}

/* Adds col [C*k*k][b*oh*ow] back into images i0..i0+b of din (the inverse
 * scatter of im2col); din must be zeroed by the caller. */
static void col2im(const float *col, int n, const geom *g, int i0, int b, float *din)
{
	int k = g->k, st = g->stride, oh = g->oh, ow = g->ow;
	size_t hw = (size_t)g->in.h * g->in.w, ncol = (size_t)b * oh * ow;
	for (int c = 0; c < g->in.c; c++)
		for (int kh = 0; kh < k; kh++)
			for (int kw = 0; kw < k; kw++) {
				const float *row = col + ((size_t)(c * k + kh) * k + kw) * ncol;
				for (int i = 0; i < b; i++) {
					float *plane = din + ((size_t)c * n + i0 + i) * hw;
					for (int y = 0, lo, hi; y < oh; y++) {
						const float *src;
						row_span(g, plane, kh, kw, y, &src, &lo, &hi);
						float *dst = (float *)src;
						const float *v = row + ((size_t)i * oh + y) * ow;
						for (int x = lo; x < hi; x++)
							dst[(size_t)x * st] += v[x];
					}
				}
			}
}

/* C[m x b*oh*ow] (row stride ldc) = A[m x C*k*k] * im2col(images i0..i0+b
 * of in): the convolution of a chunk as one GEMM. */
static void conv_gemm(nn_worker *w, const geom *g, const float *in, int n, int i0, int b,
                      const float *a, int m, float *c, int ldc)
{
	int K = g->in.c * g->k * g->k, cols = b * g->oh * g->ow, nr = nn_sgemm_panel();
	if (nr) {
		im2col_pack(in, n, g, i0, b, w->col, nr);
		nn_sgemm_pb(0, m, cols, K, 1.0f, a, K, w->col, 0.0f, c, ldc, w->apack);
	} else {
		im2col(in, n, g, i0, b, w->col);
		nn_sgemm(0, 0, m, cols, K, 1.0f, a, K, w->col, cols, 0.0f, c, ldc);
	}
}

static void conv_forward(nn_worker *w, const nn_layer *ly, const float *in, float *out)
{
	const float *wt = w->net->params + ly->w_off, *bias = w->net->params + ly->b_off;
	int n = w->n;
	size_t ohw = (size_t)ly->out.h * ly->out.w;
	geom g = layer_geom(ly);
	for (int i0 = 0; i0 < n; i0 += ly->chunk) {
		int b = n - i0 < ly->chunk ? n - i0 : ly->chunk;
		conv_gemm(w, &g, in, n, i0, b, wt, ly->n_out, out + i0 * ohw, (int)(n * ohw));
	}
	for (int c = 0; c < ly->n_out; c++) {
		float *row = out + (size_t)c * n * ohw, bc = bias[c];
		for (size_t j = 0; j < n * ohw; j++)
			row[j] += bc;
	}
}

/* W'[ci][co][k-1-kh][k-1-kw] = W[co][ci][kh][kw]: the kernel of dx_geom. */
static void flip_kernel(const nn_layer *ly, const float *wt, float *flip)
{
	int k = ly->k, kk = k * k, ci_n = ly->in.c;
	for (int co = 0; co < ly->n_out; co++)
		for (int ci = 0; ci < ci_n; ci++)
			for (int j = 0; j < kk; j++)
				flip[((size_t)ci * ly->n_out + co) * kk + (kk - 1 - j)] = wt[((size_t)co * ci_n + ci) * kk + j];
}

/* dW += dy * im2col(in)^T for images i0..i0+b. */
static void conv_dw(nn_worker *w, const nn_layer *ly, const float *in, const float *dy, int i0, int b)
{
	float *dw = w->grad + ly->w_off;
	int n = w->n, K = ly->in.c * ly->k * ly->k, nr = nn_sgemm_panel();
	size_t ohw = (size_t)ly->out.h * ly->out.w;
	int cols = (int)(b * ohw), ldy = (int)(n * ohw);
	geom g = layer_geom(ly);
	if (nr) {
		im2col_pack_t(in, n, &g, i0, b, w->col, nr);
		nn_sgemm_pb(0, ly->n_out, K, cols, 1.0f, dy + i0 * ohw, ldy, w->col, 1.0f, dw, K, w->apack);
	} else {
		im2col(in, n, &g, i0, b, w->col);
		nn_sgemm(0, 1, ly->n_out, K, cols, 1.0f, dy + i0 * ohw, ldy, w->col, cols, 1.0f, dw, K);
	}
}

static void conv_backward(nn_worker *w, const nn_layer *ly, const float *in,
                          const float *dy, float *dx)
{
	const float *wt = w->net->params + ly->w_off;
	float *db = w->grad + ly->b_off;
	int n = w->n, kk = ly->in.c * ly->k * ly->k;
	size_t ohw = (size_t)ly->out.h * ly->out.w, ihw = (size_t)ly->in.h * ly->in.w;
	geom g = layer_geom(ly), gd = dx_geom(ly);
	for (int c = 0; c < ly->n_out; c++) {
		const float *row = dy + (size_t)c * n * ohw;
		float s = 0.0f;
		for (size_t j = 0; j < n * ohw; j++)
			s += row[j];
		db[c] += s;
	}
	if (ly->need_dx && ly->stride == 1)
		flip_kernel(ly, wt, w->wflip);
	else if (ly->need_dx)
		memset(dx, 0, (size_t)n * ly->in.c * ihw * sizeof(float));
	for (int i0 = 0; i0 < n; i0 += ly->chunk) {
		int b = n - i0 < ly->chunk ? n - i0 : ly->chunk;
		conv_dw(w, ly, in, dy, i0, b);
		if (!ly->need_dx)
			continue;
		if (ly->stride == 1) {
			conv_gemm(w, &gd, dy, n, i0, b, w->wflip, ly->in.c, dx + i0 * ihw, (int)(n * ihw));
			continue;
		}
		nn_sgemm(1, 0, kk, (int)(b * ohw), ly->n_out, 1.0f, wt, kk, dy + i0 * ohw, (int)(n * ohw),
		         0.0f, w->col, (int)(b * ohw));
		col2im(w->col, n, &g, i0, b, dx);
	}
}

/* Dense layers see their input as [features][n]; with spatial extent the
 * channel-major activations are gathered into that order first. */
static const float *dense_input(nn_worker *w, const nn_layer *ly, const float *in)
{
	int n = w->n;
	size_t hw = (size_t)ly->in.h * ly->in.w;
	if (hw == 1)
		return in;
	for (int c = 0; c < ly->in.c; c++)
		for (int i = 0; i < n; i++)
			for (size_t p = 0; p < hw; p++)
				w->gather[((size_t)c * hw + p) * n + i] = in[((size_t)c * n + i) * hw + p];
	return w->gather;
}

static void dense_forward(nn_worker *w, const nn_layer *ly, const float *in, float *out)
{
	const float *wt = w->net->params + ly->w_off, *bias = w->net->params + ly->b_off;
	int n = w->n, nin = ly->in.c * ly->in.h * ly->in.w;
	const float *x = dense_input(w, ly, in);
	nn_sgemm(0, 0, ly->n_out, n, nin, 1.0f, wt, nin, x, n, 0.0f, out, n);
	for (int o = 0; o < ly->n_out; o++)
		for (int i = 0; i < n; i++)
			out[(size_t)o * n + i] += bias[o];
}

static void dense_backward(nn_worker *w, const nn_layer *ly, const float *in,
                           const float *dy, float *dx)
{
	const float *wt = w->net->params + ly->w_off;
	float *dw = w->grad + ly->w_off, *db = w->grad + ly->b_off;
	int n = w->n, nin = ly->in.c * ly->in.h * ly->in.w;
	size_t hw = (size_t)ly->in.h * ly->in.w;
	for (int o = 0; o < ly->n_out; o++) {
		float s = 0.0f;
		for (int i = 0; i < n; i++)
			s += dy[(size_t)o * n + i];
		db[o] += s;
	}
	const float *x = dense_input(w, ly, in);
	nn_sgemm(0, 1, ly->n_out, nin, n, 1.0f, dy, n, x, n, 1.0f, dw, nin);
	if (!ly->need_dx)
		return;
	if (hw == 1) {
		nn_sgemm(1, 0, nin, n, ly->n_out, 1.0f, wt, nin, dy, n, 0.0f, dx, n);
		return;
	}
	nn_sgemm(1, 0, nin, n, ly->n_out, 1.0f, wt, nin, dy, n, 0.0f, w->gather, n);
	for (int c = 0; c < ly->in.c; c++)
		for (int i = 0; i < n; i++)
			for (size_t p = 0; p < hw; p++)
				dx[((size_t)c * n + i) * hw + p] = w->gather[((size_t)c * hw + p) * n + i];
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
	for (int c = 0; c < C; c++) {
		const float *x = in + c * len;
		double s = 0.0, q = 0.0;
		for (size_t j = 0; j < len; j++) {
			s += x[j];
			q += (double)x[j] * x[j];
		}
		part[2 * c] = s;
		part[2 * c + 1] = q;
	}
	nn_sync(net);
	const float *gamma = net->params + ly->w_off, *beta = net->params + ly->b_off;
	float *xhat = w->aux[l], *rmean = net->stats + ly->s_off, *rvar = rmean + C;
	for (int c = 0; c < C; c++) {
		double s = 0.0, q = 0.0;
		for (int t = 0; t < net->threads; t++) {
			s += net->workers[t].part[l][2 * c];
			q += net->workers[t].part[l][2 * c + 1];
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
		double sd = 0.0, sdx = 0.0;
		for (size_t j = 0; j < len; j++) {
			sd += dy[c * len + j];
			sdx += (double)dy[c * len + j] * xhat[c * len + j];
		}
		part[4 * C + 2 * c] = sd;
		part[4 * C + 2 * c + 1] = sdx;
		w->grad[ly->w_off + c] += (float)sdx;
		w->grad[ly->b_off + c] += (float)sd;
	}
	nn_sync(net);
	if (!ly->need_dx)
		return;
	for (int c = 0; c < C; c++) {
		double sd = 0.0, sdx = 0.0;
		for (int t = 0; t < net->threads; t++) {
			sd += net->workers[t].part[l][4 * C + 2 * c];
			sdx += net->workers[t].part[l][4 * C + 2 * c + 1];
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
	case L_CONV: conv_forward(w, ly, in, out); break;
	case L_DENSE: dense_forward(w, ly, in, out); break;
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
	const float *in = w->act[l], *out = w->act[l + 1];
	size_t len = (size_t)w->n * ly->in.c * ly->in.h * ly->in.w;
	switch (ly->kind) {
	case L_CONV: conv_backward(w, ly, in, dy, dx); break;
	case L_DENSE: dense_backward(w, ly, in, dy, dx); break;
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
