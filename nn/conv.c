/* Convolution layers. Two paths: on CPUs with AVX-512 or AVX2 + FMA,
 * stride-1 convolutions pad a chunk of images once and the GEMM reads the
 * unrolled input in place from it, 16 output pixels of one row per vector
 * (rows rounded up to 16 columns), with bias, ReLU and max pooling fused
 * into the pass over the result; elsewhere im2col + nn_sgemm (OpenBLAS).
 * The input gradient of a stride-1 convolution is the convolution of the
 * output gradient with the flipped kernel, so no col2im is needed. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "nn_impl.h"
#include "simd.h"

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
static inline void row_span(const geom *g, const float *plane, int kh, int kw, int y,
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
	int k = g->k, oh = g->oh, ow = g->ow, K = g->in.c * k * k;
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

/* Whether layer ly can run on the padded-rows path (decided once, when
 * the net is planned: ly->fast). */
int nn_conv_fast(const nn_layer *ly)
{
	return ly->stride == 1 && nn_sgemm_panel() == 32;
}

/* Sizes of the padded-rows path for geometry g and b images. */
typedef struct rows { int owp, pw, ph, v; } rows;

static rows rows_of(const geom *g, int b)
{
	rows r;
	r.owp = (g->ow + 15) / 16 * 16;
	r.pw = r.owp + g->k - 1;
	r.ph = g->oh + g->k - 1;
	r.v = b * g->oh * (r.owp / 16);
	return r;
}

/* Copies images i0..i0+b of in ([C][n][H][W]) into dst [C][b][ph][pw]
 * with g->pad zeros before each row and column and zeros after. */
static void pad_chunk(const float *in, int n, const geom *g, int i0, int b, float *dst)
{
	rows r = rows_of(g, b);
	size_t hw = (size_t)g->in.h * g->in.w, plane = (size_t)r.ph * r.pw;
	memset(dst, 0, (size_t)g->in.c * b * plane * sizeof(float));
	for (int c = 0; c < g->in.c; c++)
		for (int i = 0; i < b; i++) {
			const float *src = in + ((size_t)c * n + i0 + i) * hw;
			float *d = dst + ((size_t)c * b + i) * plane + (size_t)g->pad * r.pw + g->pad;
			for (int y = 0; y < g->in.h; y++)
				memcpy(d + (size_t)y * r.pw, src + (size_t)y * g->in.w, (size_t)g->in.w * sizeof(float));
		}
}

/* tile [m][b*oh*owp] = packed A * convolution columns of images i0..i0+b,
 * the columns read in place from the padded chunk. */
static void conv_tile(nn_worker *w, const geom *g, const float *in, int n, int i0, int b,
                      const float *ap, int m)
{
	rows r = rows_of(g, b);
	int k = g->k, per_row = r.owp / 16;
	size_t cstride = (size_t)b * r.ph * r.pw;
	pad_chunk(in, n, g, i0, b, w->pad);
	for (int v = 0; v < r.v; v++) {
		int u = v % per_row, y = v / per_row % g->oh, i = v / per_row / g->oh;
		w->pieces[v] = w->pad + ((size_t)i * r.ph + y) * r.pw + 16 * u;
	}
	for (int c = 0, kk = 0; c < g->in.c; c++)
		for (int kh = 0; kh < k; kh++)
			for (int kw = 0; kw < k; kw++)
				w->koff[kk++] = (int)(c * cstride + (size_t)kh * r.pw + kw);
	nn_sgemm_pieces(m, r.v * 16, g->in.c * k * k, ap, w->pieces, w->koff, 0, w->tile, r.v * 16);
}

/* Writes the tile of a chunk to out ([m][n][oh][ow]) adding bias (may be
 * NULL) and applying ReLU when relu. */
static void tile_store(const float *tile, const geom *g, int m, int b, int n, int i0,
                       const float *bias, int relu, float *out)
{
	rows r = rows_of(g, b);
	size_t ohw = (size_t)g->oh * g->ow, ld = (size_t)r.v * 16;
	for (int c = 0; c < m; c++) {
		float bc = bias ? bias[c] : 0.0f;
		for (int i = 0; i < b; i++)
			for (int y = 0; y < g->oh; y++) {
				const float *t = tile + c * ld + ((size_t)i * g->oh + y) * r.owp;
				float *o = out + ((size_t)c * n + i0 + i) * ohw + (size_t)y * g->ow;
				for (int x = 0; x < g->ow; x++) {
					float v = t[x] + bc;
					o[x] = relu && v < 0.0f ? 0.0f : v;
				}
			}
	}
}

/* The 2x2, stride-2 case of tile_pool for one plane (t: rows of owp
 * floats): 16 outputs per step from four even/odd de-interleaved vectors;
 * ties keep the first in scan order, as the generic loop does. */
__attribute__((target("avx512f")))
static void pool2_plane(const float *t, int owp, int ow, int poh, int pow_, float bias,
                        float *out, int32_t *am)
{
	const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
	const __m512i lane2 = _mm512_slli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
	                                                         3, 2, 1, 0), 1);
	const __m512 b = _mm512_set1_ps(bias), zero = _mm512_setzero_ps();
	for (int py = 0; py < poh; py++) {
		const float *r0 = t + (size_t)2 * py * owp, *r1 = r0 + owp;
		for (int px = 0; px < pow_; px += 16) {
			__m512 a0 = _mm512_loadu_ps(r0 + 2 * px), a1 = _mm512_loadu_ps(r0 + 2 * px + 16);
			__m512 c0 = _mm512_loadu_ps(r1 + 2 * px), c1 = _mm512_loadu_ps(r1 + 2 * px + 16);
			__m512 best = _mm512_permutex2var_ps(a0, even, a1), v;
			__m512i idx = _mm512_add_epi32(_mm512_set1_epi32(2 * py * ow + 2 * px), lane2);
			__mmask16 gt;
			v = _mm512_permutex2var_ps(a0, odd, a1);
			gt = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
			best = _mm512_mask_blend_ps(gt, best, v);
			__m512i bi = _mm512_mask_blend_epi32(gt, idx, _mm512_add_epi32(idx, _mm512_set1_epi32(1)));
			v = _mm512_permutex2var_ps(c0, even, c1);
			gt = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
			best = _mm512_mask_blend_ps(gt, best, v);
			bi = _mm512_mask_blend_epi32(gt, bi, _mm512_add_epi32(idx, _mm512_set1_epi32(ow)));
			v = _mm512_permutex2var_ps(c0, odd, c1);
			gt = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
			best = _mm512_mask_blend_ps(gt, best, v);
			bi = _mm512_mask_blend_epi32(gt, bi, _mm512_add_epi32(idx, _mm512_set1_epi32(ow + 1)));
			int left = pow_ - px;
			__mmask16 m = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
			_mm512_mask_storeu_ps(out + (size_t)py * pow_ + px, m, _mm512_max_ps(_mm512_add_ps(best, b), zero));
			_mm512_mask_storeu_epi32(am + (size_t)py * pow_ + px, m, bi);
		}
	}
}

/* Bias, ReLU and max pooling of a chunk's tile straight into the pooling
 * layer's output, keeping the arg-max (index in the conv output plane). */
static void tile_pool(nn_worker *w, int l, const geom *g, int b, int i0)
{
	const nn_layer *ly = &w->net->layers[l], *pl = &w->net->layers[l + 2];
	const float *bias = w->net->params + ly->b_off;
	rows r = rows_of(g, b);
	int pk = pl->k, ps = pl->stride, poh = pl->out.h, pow_ = pl->out.w, n = w->n;
	size_t ld = (size_t)r.v * 16, phw = (size_t)poh * pow_;
	float *out = w->act[l + 3];
	int32_t *am = w->argmax[l + 2];
	for (int c = 0; c < ly->n_out; c++)
		for (int i = 0; i < b; i++) {
			const float *t = w->tile + c * ld + (size_t)i * g->oh * r.owp;
			size_t o = ((size_t)c * n + i0 + i) * phw;
			if (pk == 2 && ps == 2 && nn_simd_level() == 2) {
				pool2_plane(t, r.owp, g->ow, poh, pow_, bias[c], out + o, am + o);
				continue;
			}
			for (int py = 0; py < poh; py++)
				for (int px = 0; px < pow_; px++) {
					int y0 = py * ps, x0 = px * ps, best = y0 * g->ow + x0;
					float m = t[(size_t)y0 * r.owp + x0];
					for (int dy = 0; dy < pk; dy++)
						for (int dx = 0; dx < pk; dx++) {
							float v = t[(size_t)(y0 + dy) * r.owp + x0 + dx];
							if (v > m) {
								m = v;
								best = (y0 + dy) * g->ow + x0 + dx;
							}
						}
					m += bias[c];
					out[o + (size_t)py * pow_ + px] = m > 0.0f ? m : 0.0f;
					am[o + (size_t)py * pow_ + px] = best;
				}
		}
}

/* Packs dy^T of images i0..i0+b for the weight gradient: panels of 32
 * output channels, one row per pixel of the row-padded layout (zero in
 * the padding columns), built from 16x16 transposed blocks. */
__attribute__((target("avx512f")))
static void pack_dy_t(const float *dy, int n, const nn_layer *ly, const rows *r, int i0, int b, float *bp)
{
	int oh = ly->out.h, ow = ly->out.w, m = ly->n_out, np = r->v * 16;
	size_t ohw = (size_t)oh * ow, cs = (size_t)n * ohw;
	for (int co0 = 0; co0 < (m + 31) / 32 * 32; co0 += 16) {
		float *d = bp + (size_t)(co0 / 32) * np * 32 + co0 % 32;
		int valid = m - co0 < 0 ? 0 : m - co0 > 16 ? 16 : m - co0;
		for (int row = 0; row < b * oh; row++) {
			const float *src = dy + (size_t)i0 * ohw + (size_t)row * ow;
			for (int x0 = 0; x0 < r->owp; x0 += 16, d += 16 * 32) {
				__m512 blk[16];
				int left = ow - x0;
				__mmask16 xm = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
				for (int j = 0; j < 16; j++)
					blk[j] = j < valid ? _mm512_maskz_loadu_ps(xm, src + (size_t)(co0 + j) * cs + x0)
					                   : _mm512_setzero_ps();
				nn_transpose16(blk);
				for (int x = 0; x < 16; x++)
					_mm512_storeu_ps(d + (size_t)x * 32, blk[x]);
			}
		}
	}
}

/* pack_dy_t without AVX-512: the same layout, one channel at a time. */
static void pack_dy_t_scalar(const float *dy, int n, const nn_layer *ly, const rows *r, int i0, int b,
                             float *bp)
{
	int oh = ly->out.h, ow = ly->out.w, m = ly->n_out, np = r->v * 16;
	size_t ohw = (size_t)oh * ow;
	for (int co = 0; co < (m + 31) / 32 * 32; co++) {
		float *d = bp + (size_t)(co / 32) * np * 32 + co % 32;
		const float *src = dy + ((size_t)co * n + i0) * ohw;
		for (int row = 0; row < b * oh; row++, src += ow)
			for (int x = 0; x < r->owp; x++, d += 32)
				*d = co < m && x < ow ? src[x] : 0.0f;
	}
}

/* dW^T [kk][co] += im2col(in) * dy^T for images i0..i0+b of the share,
 * (in), reading the unrolled input in place from the padded chunk; their
 * output gradient is images di0..di0+b of dy, which holds dn images. */
static void conv_dw_fast(nn_worker *w, const nn_layer *ly, const float *in, const float *dy,
                         int dn, int di0, int i0, int b)
{
	geom g = layer_geom(ly);
	rows r = rows_of(&g, b);
	int k = ly->k, per_row = r.owp / 16;
	size_t cstride = (size_t)b * r.ph * r.pw;
	pad_chunk(in, w->n, &g, i0, b, w->pad);
	if (nn_simd_level() == 2)
		pack_dy_t(dy, dn, ly, &r, di0, b, w->col);
	else
		pack_dy_t_scalar(dy, dn, ly, &r, di0, b, w->col);
	for (int v = 0; v < r.v; v++) {
		int u = v % per_row, y = v / per_row % g.oh, i = v / per_row / g.oh;
		w->voff[v] = (int)(((size_t)i * r.ph + y) * r.pw + 16 * u);
	}
	for (int c = 0, kk = 0; c < ly->in.c; c++)
		for (int kh = 0; kh < k; kh++)
			for (int kw = 0; kw < k; kw++)
				w->arows[kk++] = w->pad + c * cstride + (size_t)kh * r.pw + kw;
	nn_sgemm_rows(ly->in.c * k * k, ly->n_out, r.v, w->arows, w->voff, w->col, w->dwt, ly->n_out);
}

static void conv_forward_fast(nn_worker *w, int l)
{
	const nn_layer *ly = &w->net->layers[l];
	const float *wt = w->net->params + ly->w_off, *bias = w->net->params + ly->b_off;
	int K = ly->in.c * ly->k * ly->k;
	geom g = layer_geom(ly);
	nn_sgemm_pack_a(0, ly->n_out, K, wt, K, w->wpack);
	for (int i0 = 0; i0 < w->n; i0 += ly->chunk) {
		int b = w->n - i0 < ly->chunk ? w->n - i0 : ly->chunk;
		conv_tile(w, &g, w->act[l], w->n, i0, b, w->wpack, ly->n_out);
		if (ly->fuse == 2)
			tile_pool(w, l, &g, b, i0);
		else
			tile_store(w->tile, &g, ly->n_out, b, w->n, i0, bias, ly->fuse == 1, w->act[l + 1]);
	}
}

/* Runs conv layer l forward; with ly->fuse also the ReLU (1) or ReLU and
 * max pooling (2) after it, writing the last fused layer's output. */
void nn_conv_forward(nn_worker *w, int l)
{
	const nn_layer *ly = &w->net->layers[l];
	if (ly->fast) {
		conv_forward_fast(w, l);
		return;
	}
	const float *wt = w->net->params + ly->w_off, *bias = w->net->params + ly->b_off;
	float *out = w->act[l + 1];
	int n = w->n;
	size_t ohw = (size_t)ly->out.h * ly->out.w;
	geom g = layer_geom(ly);
	for (int i0 = 0; i0 < n; i0 += ly->chunk) {
		int b = n - i0 < ly->chunk ? n - i0 : ly->chunk;
		conv_gemm(w, &g, w->act[l], n, i0, b, wt, ly->n_out, out + i0 * ohw, (int)(n * ohw));
	}
	for (int c = 0; c < ly->n_out; c++) {
		float *row = out + (size_t)c * n * ohw, bc = bias[c];
		for (size_t j = 0; j < n * ohw; j++)
			row[j] += bc;
	}
}

static void unpool_chunk(nn_worker *w, int l, const float *dy, int i0, int b, float *dst, float *db);

/* Backward on the padded-rows path. With the pooling fused (fuse 2), dy
 * is the gradient of the pooled output and each chunk's conv output
 * gradient is rebuilt from it in w->dchunk, where it stays in cache. */
static void conv_backward_fast(nn_worker *w, int l, const float *dy, float *dx)
{
	const nn_layer *ly = &w->net->layers[l];
	float *db = w->grad + ly->b_off, *dw = w->grad + ly->w_off;
	int n = w->n, kk = ly->in.c * ly->k * ly->k, kd = ly->n_out * ly->k * ly->k;
	size_t ohw = (size_t)ly->out.h * ly->out.w;
	geom gd = dx_geom(ly);
	for (int c = 0; c < ly->n_out && ly->fuse != 2; c++)
		db[c] += nn_sum(dy + (size_t)c * n * ohw, n * ohw);
	if (ly->need_dx) {
		flip_kernel(ly, w->net->params + ly->w_off, w->wflip);
		nn_sgemm_pack_a(0, ly->in.c, kd, w->wflip, kd, w->wpack);
	}
	memset(w->dwt, 0, (size_t)kk * ly->n_out * sizeof(float));
	for (int i0 = 0; i0 < n; i0 += ly->chunk) {
		int b = n - i0 < ly->chunk ? n - i0 : ly->chunk, dn = n, di0 = i0;
		const float *g = dy;
		if (ly->fuse == 2) {
			unpool_chunk(w, l + 2, dy, i0, b, w->dchunk, db);
			g = w->dchunk;
			dn = b;
			di0 = 0;
		}
		conv_dw_fast(w, ly, w->act[l], g, dn, di0, i0, b);
		if (ly->need_dx) {
			conv_tile(w, &gd, g, dn, di0, b, w->wpack, ly->in.c);
			tile_store(w->tile, &gd, ly->in.c, b, n, i0, NULL, 0, dx);
		}
	}
	for (int co = 0; co < ly->n_out; co++)
		for (int j = 0; j < kk; j++)
			dw[(size_t)co * kk + j] += w->dwt[(size_t)j * ly->n_out + co];
}

/* Runs conv layer l backward: dy is the gradient of its output, or with
 * the ReLU and pooling fused (fuse 2) of the pooling's output. */
void nn_conv_backward(nn_worker *w, int l, const float *dy, float *dx)
{
	const nn_layer *ly = &w->net->layers[l];
	if (ly->fast) {
		conv_backward_fast(w, l, dy, dx);
		return;
	}
	const float *wt = w->net->params + ly->w_off, *in = w->act[l];
	float *db = w->grad + ly->b_off;
	int n = w->n, kk = ly->in.c * ly->k * ly->k;
	size_t ohw = (size_t)ly->out.h * ly->out.w, ihw = (size_t)ly->in.h * ly->in.w;
	geom g = layer_geom(ly), gd = dx_geom(ly);
	for (int c = 0; c < ly->n_out; c++)
		db[c] += nn_sum(dy + (size_t)c * n * ohw, n * ohw);
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
		} else {
			nn_sgemm(1, 0, kk, (int)(b * ohw), ly->n_out, 1.0f, wt, kk, dy + i0 * ohw,
			         (int)(n * ohw), 0.0f, w->col, (int)(b * ohw));
			col2im(w->col, n, &g, i0, b, dx);
		}
	}
}

/* One plane of nn_pool_relu_backward with non-overlapping windows (the
 * arg-maxes of a plane are distinct, so a scatter has no conflicts);
 * returns the plane's sum of passed gradients in fixed lane order. */
__attribute__((target("avx512f")))
static float unpool_plane(const float *out, const float *dy, const int32_t *am, size_t ohw, float *dx)
{
	__m512 acc = _mm512_setzero_ps();
	size_t j = 0;
	for (; j < ohw; j += 16) {
		__mmask16 m = ohw - j >= 16 ? 0xffff : (__mmask16)((1u << (ohw - j)) - 1);
		__m512 o = _mm512_maskz_loadu_ps(m, out + j), g = _mm512_maskz_loadu_ps(m, dy + j);
		__m512i idx = _mm512_maskz_loadu_epi32(m, am + j);
		m = _mm512_mask_cmp_ps_mask(m, o, _mm512_setzero_ps(), _CMP_GT_OQ);
		_mm512_mask_i32scatter_ps(dx, m, idx, g, 4);
		acc = _mm512_mask_add_ps(acc, m, acc, g);
	}
	float lane[16], s = 0.0f;
	_mm512_storeu_ps(lane, acc);
	for (int t = 0; t < 16; t++)
		s += lane[t];
	return s;
}

/* The 2x2, stride-2 case for one plane: writes all of dx (no clearing
 * needed) by routing each passed gradient to its window position with
 * masks and re-interleaving even and odd columns; returns the plane's sum
 * of passed gradients in fixed lane order. */
__attribute__((target("avx512f")))
static float unpool2_plane(const float *out, const float *dy, const int32_t *am, int oh, int ow,
                           int poh, int pow_, float *dx)
{
	const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
	const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
	const __m512i lane2 = _mm512_slli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
	                                                         3, 2, 1, 0), 1);
	const __m512 zero = _mm512_setzero_ps();
	__m512 acc = zero;
	for (int py = 0; py < poh; py++) {
		float *r0 = dx + (size_t)2 * py * ow, *r1 = r0 + ow;
		for (int px = 0; 2 * px < ow; px += 16) {
			int left = pow_ - px;
			__mmask16 m = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
			size_t j = (size_t)py * pow_ + px;
			m = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, out + j), zero, _CMP_GT_OQ);
			__m512 g = _mm512_maskz_loadu_ps(m, dy + j);
			acc = _mm512_add_ps(acc, g);
			__m512i pos = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, am + j),
			                               _mm512_add_epi32(_mm512_set1_epi32(2 * py * ow + 2 * px), lane2));
			__m512 e0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(pos, _mm512_set1_epi32(0)), g);
			__m512 o0 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(pos, _mm512_set1_epi32(1)), g);
			__m512 e1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(pos, _mm512_set1_epi32(ow)), g);
			__m512 o1 = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(pos, _mm512_set1_epi32(ow + 1)), g);
			int w0 = ow - 2 * px, w1 = w0 - 16;
			__mmask16 s0 = w0 >= 16 ? 0xffff : (__mmask16)((1u << w0) - 1);
			__mmask16 s1 = w1 >= 16 ? 0xffff : w1 <= 0 ? 0 : (__mmask16)((1u << w1) - 1);
			_mm512_mask_storeu_ps(r0 + 2 * px, s0, _mm512_permutex2var_ps(e0, lo, o0));
			_mm512_mask_storeu_ps(r0 + 2 * px + 16, s1, _mm512_permutex2var_ps(e0, hi, o0));
			_mm512_mask_storeu_ps(r1 + 2 * px, s0, _mm512_permutex2var_ps(e1, lo, o1));
			_mm512_mask_storeu_ps(r1 + 2 * px + 16, s1, _mm512_permutex2var_ps(e1, hi, o1));
		}
	}
	if (oh > 2 * poh)
		memset(dx + (size_t)2 * poh * ow, 0, (size_t)(oh - 2 * poh) * ow * sizeof(float));
	float lane[16], s = 0.0f;
	_mm512_storeu_ps(lane, acc);
	for (int t = 0; t < 16; t++)
		s += lane[t];
	return s;
}

/* Backward of max pool l (images i0..i0+b) whose ReLU input ran fused in
 * the conv before: dst ([C][b][H][W], the conv output gradient) gets dy at
 * each window's arg-max where the pooled value is positive; db (the conv's
 * bias gradient) gets the per-channel sums. */
static void unpool_chunk(nn_worker *w, int l, const float *dy, int i0, int b, float *dst, float *db)
{
	const nn_layer *ly = &w->net->layers[l];
	size_t ihw = (size_t)ly->in.h * ly->in.w, ohw = (size_t)ly->out.h * ly->out.w;
	const float *out = w->act[l + 1];
	const int32_t *am = w->argmax[l];
	int simd = nn_simd_level() == 2, pool2 = simd && ly->k == 2 && ly->stride == 2;
	if (!pool2)
		memset(dst, 0, (size_t)b * ly->in.c * ihw * sizeof(float));
	for (int c = 0; c < ly->in.c; c++) {
		float sum = 0.0f;
		for (int i = 0; i < b; i++) {
			size_t p = (size_t)c * w->n + i0 + i;
			float *d = dst + ((size_t)c * b + i) * ihw;
			if (pool2) {
				sum += unpool2_plane(out + p * ohw, dy + p * ohw, am + p * ohw, ly->in.h, ly->in.w,
				                     ly->out.h, ly->out.w, d);
				continue;
			}
			if (simd && ly->stride >= ly->k) {
				sum += unpool_plane(out + p * ohw, dy + p * ohw, am + p * ohw, ohw, d);
				continue;
			}
			for (size_t j = 0; j < ohw; j++)
				if (out[p * ohw + j] > 0.0f) {
					d[am[p * ohw + j]] += dy[p * ohw + j];
					sum += dy[p * ohw + j];
				}
		}
		db[c] += sum;
	}
}

/* Scratch floats layer ly needs per worker (for its chunk size). */
nn_conv_scratch nn_conv_scratch_of(const nn_layer *ly)
{
	nn_conv_scratch s = { 0, 0, 0, 0, 0, 0, 0 };
	size_t b = (size_t)ly->chunk, kk = (size_t)ly->in.c * ly->k * ly->k;
	size_t kd = (size_t)ly->n_out * ly->k * ly->k;
	size_t ohw = (size_t)ly->out.h * ly->out.w, ihw = (size_t)ly->in.h * ly->in.w;
	if (!ly->fast) {   /* im2col (packed in 32-column panels on AVX-512) */
		size_t fwd = kk * ((b * ohw + 31) / 32 * 32), dw = (kk + 31) / 32 * 32 * b * ohw;
		size_t dx = kd * ((b * ihw + 31) / 32 * 32);
		s.col = fwd > dw ? fwd : dw;
		s.col = s.col > dx ? s.col : dx;
		return s;
	}
	geom g = layer_geom(ly), gd = dx_geom(ly);
	rows r = rows_of(&g, ly->chunk), rd = rows_of(&gd, ly->chunk);
	s.col = (size_t)(ly->n_out + 31) / 32 * 32 * r.v * 16;   /* dy^T panels */
	size_t padf = (size_t)ly->in.c * b * r.ph * r.pw, padd = (size_t)ly->n_out * b * rd.ph * rd.pw;
	s.pad = padf > padd ? padf : padd;
	size_t tf = (size_t)ly->n_out * r.v * 16, td = (size_t)ly->in.c * rd.v * 16;
	s.tile = (tf > td ? tf : td) + 32;   /* pooling reads a vector past a row */
	size_t af = nn_sgemm_apacked_floats(ly->n_out, (int)kk);
	size_t ad = nn_sgemm_apacked_floats(ly->in.c, (int)kd);
	s.wpack = af > ad ? af : ad;
	s.pieces = (size_t)(r.v > rd.v ? r.v : rd.v);
	s.kk = kk > kd ? kk : kd;
	s.dchunk = ly->fuse == 2 ? (size_t)ly->n_out * b * ohw : 0;
	return s;
}
