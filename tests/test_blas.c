/* Tests of nn's GEMM seam (nn/blas.c) against a naive double-precision
 * product: every edge of the blocking (M, N, K around the tile sizes and
 * the KC / MC / NC blocks), both transposes, alpha and beta, padded leading
 * dimensions, on each kernel level the CPU has; and the fixed order of the
 * sums that makes a row's or column's result independent of the others. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "../nn/nn_impl.h"

static const char *level_name[] = { "openblas", "avx2", "avx512" };

static float rand_float(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 8) % 2001) / 1000.0f - 1.0f;
}

static float *rand_matrix(size_t n, unsigned seed)
{
	float *x = malloc(n * sizeof(float));
	for (size_t i = 0; x && i < n; i++)
		x[i] = rand_float(&seed);
	return x;
}

/* op(X)[i][j] of a row-major X with leading dimension ld. */
static double at(const float *x, int ld, int trans, int i, int j)
{
	return trans ? x[(size_t)j * ld + i] : x[(size_t)i * ld + j];
}

/* The largest error of c against alpha * op(A) op(B) + beta * c0, each in
 * units of that element's own magnitude (sum of |terms|). */
static double gemm_error(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, const float *c0, const float *c,
                         int ldc)
{
	double worst = 0.0;
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			double sum = 0.0, mag = 0.0;
			for (int p = 0; p < k; p++) {
				double t = at(a, lda, ta, i, p) * at(b, ldb, tb, p, j);
				sum += t;
				mag += fabs(t);
			}
			double want = alpha * sum, old = c0[(size_t)i * ldc + j];
			mag = fabs(alpha) * mag;
			if (beta != 0.0f) {
				want += beta * old;
				mag += fabs(beta * old);
			}
			double err = fabs(c[(size_t)i * ldc + j] - want) / (mag + 1e-30);
			if (!(err <= worst))
				worst = isnan(err) ? INFINITY : err;
		}
	return worst;
}

/* One nn_sgemm checked against the reference, with padded leading
 * dimensions whose padding must stay untouched; beta 0 must ignore a C of
 * NaNs. Returns the error (INFINITY when padding was written). */
static double check_one(int ta, int tb, int m, int n, int k, float alpha, float beta, unsigned seed)
{
	int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
	size_t na = (size_t)(ta ? k : m) * lda, nb = (size_t)(tb ? n : k) * ldb, nc = (size_t)m * ldc;
	float *a = rand_matrix(na, seed), *b = rand_matrix(nb, seed + 1), *c = rand_matrix(nc, seed + 2);
	float *c0 = malloc(nc * sizeof(float));
	double err = INFINITY;
	if (!a || !b || !c || !c0)
		goto out;
	for (size_t i = 0; beta == 0.0f && i < nc; i++)
		c[i] = NAN;
	for (int i = 0; i < m; i++)
		c[(size_t)i * ldc + n] = c[(size_t)i * ldc + n + 1] = 7.0f;
	memcpy(c0, c, nc * sizeof(float));
	nn_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	err = gemm_error(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, c, ldc);
	for (int i = 0; i < m; i++)
		if (c[(size_t)i * ldc + n] != 7.0f || c[(size_t)i * ldc + n + 1] != 7.0f)
			err = INFINITY;
out:
	free(a);
	free(b);
	free(c);
	free(c0);
	return err;
}

/* Every combination of sizes around the tiles (6x16 on AVX2, 8x32 on
 * AVX-512), the in-place-A limit (64 columns) and the k block (320). */
static void test_sgemm_edges(void)
{
	static const int ms[] = { 1, 5, 6, 7, 8, 9, 13, 24 };
	static const int ns[] = { 1, 15, 16, 17, 31, 32, 33, 64, 65, 97 };
	static const int ks[] = { 1, 7, 8, 9, 17, 320, 333 };
	unsigned seed = 1;
	for (int t = 0; t < 4; t++)
		for (size_t im = 0; im < sizeof(ms) / sizeof(ms[0]); im++)
			for (size_t in = 0; in < sizeof(ns) / sizeof(ns[0]); in++)
				for (size_t ik = 0; ik < sizeof(ks) / sizeof(ks[0]); ik++) {
					int m = ms[im], n = ns[in], k = ks[ik], ta = t & 1, tb = t >> 1;
					float beta = (seed % 3) == 0 ? 0.0f : (seed % 3) == 1 ? 1.0f : -0.5f;
					float alpha = (seed % 2) ? 1.0f : 0.75f;
					double err = check_one(ta, tb, m, n, k, alpha, beta, seed++);
					CHECK(err < 1e-5, "%s: %c%c %dx%dx%d alpha %g beta %g: error %g",
					      level_name[nn_simd_level()], ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k,
					      (double)alpha, (double)beta, err);
				}
}

/* Sizes past the blocks: more rows than one packed A block (128 / 144),
 * more columns than one B block (2048), k split into near-equal blocks. */
static void test_sgemm_blocks(void)
{
	static const int shapes[][3] = {
		{ 145, 70, 40 }, { 129, 33, 650 }, { 290, 100, 30 }, { 7, 2100, 11 }, { 20, 2049, 321 },
		{ 64, 300, 288 }, { 150, 20, 700 },
	};
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
		for (int t = 0; t < 4; t++) {
			int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = t & 1, tb = t >> 1;
			double err = check_one(ta, tb, m, n, k, 1.0f, t == 3 ? 0.5f : 0.0f, (unsigned)(100 + s * 4 + t));
			CHECK(err < 1e-5, "%s: %c%c %dx%dx%d: error %g", level_name[nn_simd_level()],
			      ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, err);
		}
}

/* No k: C = beta * C; no rows or columns: nothing is touched. */
static void test_sgemm_empty(void)
{
	float a[4] = { 1, 2, 3, 4 }, b[4] = { 1, 2, 3, 4 }, c[4] = { 1, 2, 3, 4 };
	nn_sgemm(0, 0, 2, 2, 0, 1.0f, a, 2, b, 2, 0.5f, c, 2);
	CHECK(c[0] == 0.5f && c[3] == 2.0f, "k 0 scales C: %g %g", (double)c[0], (double)c[3]);
	nn_sgemm(0, 0, 2, 2, 0, 1.0f, a, 2, b, 2, 0.0f, c, 2);
	CHECK(c[0] == 0.0f && c[3] == 0.0f, "k 0, beta 0 clears C: %g %g", (double)c[0], (double)c[3]);
	c[0] = 9.0f;
	nn_sgemm(0, 0, 0, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
	nn_sgemm(0, 0, 2, 0, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
	CHECK(c[0] == 9.0f, "an empty product wrote C");
}

/* On nn's own kernels each element's sum runs in one fixed order: a row
 * block or a column block computed alone (another M, N, tiling, in-place
 * or packed A) gives the same bits as inside the whole product. */
static void test_sgemm_order(void)
{
	if (nn_simd_level() == 0)
		return;
	int m = 150, n = 300, k = 700;
	float *a = rand_matrix((size_t)m * k, 3), *b = rand_matrix((size_t)k * n, 4);
	float *c = calloc((size_t)m * n, sizeof(float)), *part = calloc((size_t)m * n, sizeof(float));
	if (!a || !b || !c || !part)
		goto out;
	nn_sgemm(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
	/* rows 7..7+11 alone */
	nn_sgemm(0, 0, 11, n, k, 1.0f, a + 7 * k, k, b, n, 0.0f, part, n);
	CHECK(!memcmp(part, c + 7 * n, (size_t)11 * n * sizeof(float)), "%s: rows alone differ",
	      level_name[nn_simd_level()]);
	/* columns 5..5+37 alone (in-place A below 64 columns) */
	nn_sgemm(0, 0, m, 37, k, 1.0f, a, k, b + 5, n, 0.0f, part, 37);
	int same = 1;
	for (int i = 0; i < m; i++)
		same &= !memcmp(part + (size_t)i * 37, c + (size_t)i * n + 5, 37 * sizeof(float));
	CHECK(same, "%s: columns alone differ", level_name[nn_simd_level()]);
out:
	free(a);
	free(b);
	free(c);
	free(part);
}

/* B [k x n] row-major as the NR-column panels of nn_sgemm_pb / rows. */
static float *panels_of(const float *b, int k, int n, int nr)
{
	int np = (n + nr - 1) / nr;
	float *bp = calloc((size_t)np * nr * k, sizeof(float));
	for (int p = 0; bp && p < k; p++)
		for (int j = 0; j < n; j++)
			bp[((size_t)(j / nr) * k + p) * nr + j % nr] = b[(size_t)p * n + j];
	return bp;
}

/* The entry points of the conv and dense layers (prepacked B, pieces of B
 * in place, rows of A in place) on edge sizes, against the reference. */
static void test_inplace_entries(void)
{
	int nr = nn_sgemm_panel();
	if (!nr)
		return;
	static const int shapes[][3] = { { 1, 1, 16 }, { 7, 17, 32 }, { 13, 33, 48 }, { 9, 50, 336 } };
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], nb = (n + 15) / 16;
		float *a = rand_matrix((size_t)m * k, 5), *b = rand_matrix((size_t)k * nb * 16, 6);
		float *c0 = rand_matrix((size_t)m * n, 7), *c = malloc((size_t)m * n * sizeof(float));
		float *bp = NULL, *apack = malloc(nn_sgemm_apack_floats() * sizeof(float));
		float *ap = malloc(nn_sgemm_apacked_floats(m, k) * sizeof(float));
		const float **pieces = malloc(sizeof(*pieces) * nb), **arows = malloc(sizeof(*arows) * m);
		int *koff = malloc(sizeof(int) * k), *voff = malloc(sizeof(int) * (k / 16));
		float *bd = malloc((size_t)k * n * sizeof(float));
		if (!a || !b || !c0 || !c || !apack || !ap || !pieces || !arows || !koff || !voff || !bd)
			goto next;
		for (int p = 0; p < k; p++)  /* B dense [k x n] from the padded rows */
			memcpy(bd + (size_t)p * n, b + (size_t)p * nb * 16, (size_t)n * sizeof(float));
		bp = panels_of(bd, k, n, nr);
		memcpy(c, c0, (size_t)m * n * sizeof(float));
		nn_sgemm_pb(0, m, n, k, 0.5f, a, k, bp, 1.0f, c, n, apack);
		double err = gemm_error(0, 0, m, n, k, 0.5f, a, k, bd, n, 1.0f, c0, c, n);
		CHECK(err < 1e-5, "%s: pb %dx%dx%d: error %g", level_name[nn_simd_level()], m, n, k, err);
		nn_sgemm_pack_a(0, m, k, a, k, ap);
		for (int j = 0; j < nb; j++)
			pieces[j] = b + 16 * j;
		for (int p = 0; p < k; p++)
			koff[p] = p * nb * 16;
		memcpy(c, c0, (size_t)m * n * sizeof(float));
		nn_sgemm_pieces(m, n, k, ap, pieces, koff, 1, c, n);
		err = gemm_error(0, 0, m, n, k, 1.0f, a, k, bd, n, 1.0f, c0, c, n);
		CHECK(err < 1e-5, "%s: pieces %dx%dx%d: error %g", level_name[nn_simd_level()], m, n, k, err);
		for (int i = 0; i < m; i++)
			arows[i] = a + (size_t)i * k;
		for (int v = 0; v < k / 16; v++)
			voff[v] = 16 * v;
		memcpy(c, c0, (size_t)m * n * sizeof(float));
		nn_sgemm_rows(m, n, k / 16, arows, voff, bp, c, n);
		err = gemm_error(0, 0, m, n, k, 1.0f, a, k, bd, n, 1.0f, c0, c, n);
		CHECK(err < 1e-5, "%s: rows %dx%dx%d: error %g", level_name[nn_simd_level()], m, n, k, err);
next:
		free(a);
		free(b);
		free(c0);
		free(c);
		free(bp);
		free(apack);
		free(ap);
		free(pieces);
		free(arows);
		free(koff);
		free(voff);
		free(bd);
	}
}

int main(void)
{
	nn_blas_init();
	for (int level = 0; level <= 2; level++) {
		nn_blas_level(level);
		if (nn_simd_level() < level)
			break;
		RUN(test_sgemm_edges);
		RUN(test_sgemm_blocks);
		RUN(test_sgemm_empty);
		RUN(test_sgemm_order);
		RUN(test_inplace_entries);
	}
	return check_report("test_blas");
}
