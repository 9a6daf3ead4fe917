/* Dense (fully connected) layers. The input is the channel-major
 * activation [C][n][H][W] of the share, seen as features c*H*W + p. On
 * CPUs with AVX-512 or AVX2 + FMA the weights are read in place, never
 * repacked: the forward pass broadcasts from weight rows, the input
 * gradient reads 16-feature pieces of them, the weight gradient reads
 * 16-pixel pieces of the activations. Elsewhere everything goes through
 * nn_sgemm on a gathered [features][n] copy of the input. */
#include <string.h>
#include "nn_impl.h"
#include "simd.h"

static int n_in(const nn_layer *ly)
{
	return ly->in.c * ly->in.h * ly->in.w;
}

/* The input as [features][n]; with spatial extent the channel-major
 * activations are gathered into that order first. */
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

/* Packs the input as B panels of 32 samples for nn_sgemm_rows: panel q,
 * row k holds feature k of samples 32q..32q+31 (zero past n); channel
 * planes are moved in 16x16 transposed blocks. */
__attribute__((target("avx512f")))
static void pack_input(const float *in, int n, const nn_layer *ly, float *bp)
{
	int nin = n_in(ly), hw = ly->in.h * ly->in.w, np = (n + 31) / 32;
	for (int c = 0; c < (hw == 1 ? 0 : ly->in.c); c++)
		for (int i0 = 0; i0 < np * 32; i0 += 16)
			for (int p0 = 0; p0 < hw; p0 += 16) {
				__m512 blk[16];
				int vi = n - i0, vp = hw - p0 < 16 ? hw - p0 : 16;
				__mmask16 pm = (__mmask16)((1u << vp) - 1);
				for (int j = 0; j < 16; j++)
					blk[j] = j < vi ? _mm512_maskz_loadu_ps(pm, in + ((size_t)c * n + i0 + j) * hw + p0)
					                : _mm512_setzero_ps();
				nn_transpose16(blk);
				float *d = bp + ((size_t)(i0 / 32) * nin + (size_t)c * hw + p0) * 32 + i0 % 32;
				for (int t = 0; t < vp; t++)
					_mm512_storeu_ps(d + (size_t)t * 32, blk[t]);
			}
	for (int q = 0; hw == 1 && q < np; q++)
		for (int k = 0; k < nin; k++) {
			int cnt = n - 32 * q < 32 ? n - 32 * q : 32;
			float *d = bp + ((size_t)q * nin + k) * 32;
			memcpy(d, in + (size_t)k * n + 32 * q, (size_t)cnt * sizeof(float));
			memset(d + cnt, 0, (size_t)(32 - cnt) * sizeof(float));
		}
}

/* pack_input without AVX-512: the same layout, element by element. */
static void pack_input_scalar(const float *in, int n, const nn_layer *ly, float *bp)
{
	int nin = n_in(ly), hw = ly->in.h * ly->in.w, np = (n + 31) / 32;
	for (int q = 0; q < np; q++)
		for (int k = 0; k < nin; k++) {
			int c = k / hw, p = k % hw;
			float *d = bp + ((size_t)q * nin + k) * 32;
			for (int j = 0; j < 32; j++) {
				int i = 32 * q + j;
				d[j] = i < n ? in[((size_t)c * n + i) * hw + p] : 0.0f;
			}
		}
}

/* out [n_out][n] = W * x + bias, broadcasting from the weight rows. */
static void forward_fast(nn_worker *w, const nn_layer *ly, const float *in, float *out)
{
	const float *wt = w->net->params + ly->w_off;
	int n = w->n, nin = n_in(ly);
	if (nn_simd_level() == 2)
		pack_input(in, n, ly, w->col);
	else
		pack_input_scalar(in, n, ly, w->col);
	for (int o = 0; o < ly->n_out; o++)
		w->arows[o] = wt + (size_t)o * nin;
	for (int v = 0; v < nin / 16; v++)
		w->voff[v] = 16 * v;
	memset(out, 0, (size_t)ly->n_out * n * sizeof(float));
	nn_sgemm_rows(ly->n_out, n, nin / 16, w->arows, w->voff, w->col, out, n);
}

/* dx = W^T dy, computed as dx^T [n][nin] = dy^T * W with W read in
 * 16-feature pieces, then laid out channel-major. */
static void dx_fast(nn_worker *w, const nn_layer *ly, const float *dy, float *dx)
{
	const float *wt = w->net->params + ly->w_off;
	int n = w->n, nin = n_in(ly), hw = ly->in.h * ly->in.w;
	nn_sgemm_pack_a(1, n, ly->n_out, dy, n, w->wpack);
	for (int j = 0; j < nin / 16; j++)
		w->pieces[j] = wt + 16 * j;
	for (int k = 0; k < ly->n_out; k++)
		w->koff[k] = k * nin;
	nn_sgemm_pieces(n, nin, ly->n_out, w->wpack, w->pieces, w->koff, 0, w->gather, nin);
	for (int i = 0; i < n; i++)
		for (int c = 0; c < ly->in.c; c++) {
			const float *src = w->gather + (size_t)i * nin + (size_t)c * hw;
			if (hw == 1)
				dx[(size_t)c * n + i] = *src;
			else
				memcpy(dx + ((size_t)c * n + i) * hw, src, (size_t)hw * sizeof(float));
		}
}

/* dW += dy * x^T with x read in 16-pixel pieces of its channel planes. */
static void dw_fast(nn_worker *w, const nn_layer *ly, const float *in, const float *dy)
{
	int n = w->n, nin = n_in(ly), hw = ly->in.h * ly->in.w;
	nn_sgemm_pack_a(0, ly->n_out, n, dy, n, w->wpack);
	for (int j = 0; j < nin / 16; j++)
		w->pieces[j] = in + (size_t)(16 * j / hw) * n * hw + 16 * j % hw;
	for (int i = 0; i < n; i++)
		w->koff[i] = i * hw;
	nn_sgemm_pieces(ly->n_out, nin, n, w->wpack, w->pieces, w->koff, 1, w->grad + ly->w_off, nin);
}

void nn_dense_forward(nn_worker *w, int l)
{
	const nn_layer *ly = &w->net->layers[l];
	const float *wt = w->net->params + ly->w_off, *bias = w->net->params + ly->b_off;
	const float *in = w->act[l];
	float *out = w->act[l + 1];
	int n = w->n, nin = n_in(ly);
	if (ly->fast && nin % 16 == 0) {
		forward_fast(w, ly, in, out);
	} else {
		const float *x = dense_input(w, ly, in);
		nn_sgemm(0, 0, ly->n_out, n, nin, 1.0f, wt, nin, x, n, 0.0f, out, n);
	}
	for (int o = 0; o < ly->n_out; o++)
		for (int i = 0; i < n; i++)
			out[(size_t)o * n + i] += bias[o];
}

void nn_dense_backward(nn_worker *w, int l, const float *dy, float *dx)
{
	const nn_layer *ly = &w->net->layers[l];
	const float *wt = w->net->params + ly->w_off, *in = w->act[l];
	float *dw = w->grad + ly->w_off, *db = w->grad + ly->b_off;
	int n = w->n, nin = n_in(ly), hw = ly->in.h * ly->in.w;
	for (int o = 0; o < ly->n_out; o++)
		db[o] += nn_sum(dy + (size_t)o * n, (size_t)n);
	if (ly->fast && hw % 16 == 0) {
		dw_fast(w, ly, in, dy);
	} else {
		const float *x = dense_input(w, ly, in);
		nn_sgemm(0, 1, ly->n_out, nin, n, 1.0f, dy, n, x, n, 1.0f, dw, nin);
	}
	if (!ly->need_dx)
		return;
	if (ly->fast && nin % 16 == 0) {
		dx_fast(w, ly, dy, dx);
		return;
	}
	float *g = hw == 1 ? dx : w->gather;
	nn_sgemm(1, 0, nin, n, ly->n_out, 1.0f, wt, nin, dy, n, 0.0f, g, n);
	for (int c = 0; c < ly->in.c && hw > 1; c++)
		for (int i = 0; i < n; i++)
			for (int p = 0; p < hw; p++)
				dx[((size_t)c * n + i) * hw + p] = g[((size_t)c * hw + p) * n + i];
}

/* Scratch a dense layer needs per worker for shares of up to sm samples. */
nn_conv_scratch nn_dense_scratch_of(const nn_layer *ly, int sm)
{
	nn_conv_scratch s = { 0, 0, 0, 0, 0, 0, 0 };
	size_t nin = (size_t)n_in(ly), m = (size_t)sm;
	if (!ly->fast)
		return s;
	s.col = nin * ((m + 31) / 32 * 32);
	size_t a1 = nn_sgemm_apacked_floats(sm, ly->n_out), a2 = nn_sgemm_apacked_floats(ly->n_out, sm);
	s.wpack = a1 > a2 ? a1 : a2;
	s.pieces = nin / 16 > (size_t)ly->n_out ? nin / 16 : (size_t)ly->n_out;
	s.kk = (size_t)(ly->n_out > sm ? ly->n_out : sm);
	return s;
}
