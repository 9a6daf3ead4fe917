/* The single BLAS seam of nn: every matrix product goes through this file.
 * nn_sgemm is the general product: on CPUs with AVX2 or AVX-512 a packed
 * GEMM with a register-blocked kernel of its own (8x32 on AVX-512; the
 * distribution's OpenBLAS runs at about half the speed there), else
 * OpenBLAS, whose serial build keeps buffers without locks, so its calls
 * from the worker threads are serialised (blas_mu). The other entry points
 * serve the conv and dense layers on the same CPUs: B packed by the caller
 * (nn_sgemm_pb, nn_sgemm_pp), or an operand read in place through tables of
 * rows or 16-float pieces (nn_sgemm_rows, nn_sgemm_pieces), which saves the
 * copies of im2col and packing. All sum every element over k in one fixed
 * order whatever the other dimensions, so a sample's result does not
 * depend on the batch it came in. */
#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "nn_impl.h"

#define MR 8        /* rows of C per kernel call */
#define NR 32       /* columns of C per kernel call (two 16-float vectors) */
#define KC 320      /* most k per packed block: B micro-panel KC*NR in L1/L2 */
#define MC 128      /* rows of A packed at once (L2) */
#define NC 2048     /* columns of B packed at once */

/* 2: AVX-512 kernels, 1: AVX2+FMA kernels, 0: OpenBLAS only. */
static int level, best_level;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t pack_key;
/* The serial OpenBLAS is not safe to call from two threads at once (its
 * buffers are shared without locks): the workers take turns. */
static pthread_mutex_t blas_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct pack_buf { float *a, *b; } pack_buf;

static void pack_free(void *p)
{
	pack_buf *pb = p;
	free(pb->a);
	free(pb->b);
	free(pb);
}

static void init(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		best_level = 2;
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		best_level = 1;
	if (best_level && pthread_key_create(&pack_key, pack_free) != 0)
		best_level = 0;
	level = best_level;
}

/* nn runs its own threads, each on a share of the batch; BLAS must not
 * start threads of its own under them. */
void nn_blas_init(void)
{
	pthread_once(&init_once, init);
	openblas_set_num_threads(1);
}

void nn_blas_level(int max_level)
{
	pthread_once(&init_once, init);
	level = max_level < best_level ? max_level : best_level;
}

int nn_simd_level(void)
{
	pthread_once(&init_once, init);
	return level;
}

/* This thread's packing buffers (allocated on first use, freed at exit). */
static pack_buf *thread_pack(void)
{
	pack_buf *pb = pthread_getspecific(pack_key);
	if (pb)
		return pb;
	pb = calloc(1, sizeof(*pb));
	if (!pb)
		return NULL;
	pb->a = aligned_alloc(64, sizeof(float) * MC * KC);
	pb->b = aligned_alloc(64, sizeof(float) * KC * NC);
	if (!pb->a || !pb->b || pthread_setspecific(pack_key, pb) != 0) {
		pack_free(pb);
		return NULL;
	}
	return pb;
}

/* Packs rows m0..m0+mc, columns k0..k0+kc of op(A) into MR-row panels,
 * k-major inside a panel; rows past mc are zero. */
static void pack_a(const float *a, int lda, int trans, int m0, int mc, int k0, int kc, float *ap)
{
	for (int p = 0; p < mc; p += MR) {
		int rows = mc - p < MR ? mc - p : MR;
		float *dst = ap + (size_t)p * kc;
		if (trans) {
			for (int k = 0; k < kc; k++) {
				const float *src = a + (size_t)(k0 + k) * lda + m0 + p;
				for (int i = 0; i < MR; i++)
					dst[k * MR + i] = i < rows ? src[i] : 0.0f;
			}
			continue;
		}
		for (int i = 0; i < MR; i++) {
			const float *src = a + (size_t)(m0 + p + i) * lda + k0;
			for (int k = 0; k < kc; k++)
				dst[k * MR + i] = i < rows ? src[k] : 0.0f;
		}
	}
}

/* Packs rows k0..k0+kc, columns n0..n0+nc of op(B) into NR-column panels;
 * columns past nc are zero. */
static void pack_b(const float *b, int ldb, int trans, int k0, int kc, int n0, int nc, float *bp)
{
	for (int q = 0; q < nc; q += NR) {
		int cols = nc - q < NR ? nc - q : NR;
		float *dst = bp + (size_t)q * kc;
		if (!trans) {
			for (int k = 0; k < kc; k++) {
				const float *src = b + (size_t)(k0 + k) * ldb + n0 + q;
				memcpy(dst + k * NR, src, (size_t)cols * sizeof(float));
				if (cols < NR)
					memset(dst + k * NR + cols, 0, (size_t)(NR - cols) * sizeof(float));
			}
			continue;
		}
		for (int j = 0; j < NR; j++) {
			const float *src = b + (size_t)(n0 + q + j) * ldb + k0;
			for (int k = 0; k < kc; k++)
				dst[k * NR + j] = j < cols ? src[k] : 0.0f;
		}
	}
}

/* C[mr x nr] += alpha * Ap * Bp for one MR x NR tile (mr <= MR, nr <= NR). */
__attribute__((target("avx512f")))
static void kernel_8x32(int kc, const float *ap, const float *bp, float *c, int ldc,
                        int mr, int nr, float alpha)
{
	__m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
	       c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00,
	       c61 = c00, c70 = c00, c71 = c00;
	for (int k = 0; k < kc; k++) {
		__m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16), a;
#define ROW(i, x0, x1) a = _mm512_set1_ps(ap[i]); \
		x0 = _mm512_fmadd_ps(a, b0, x0); x1 = _mm512_fmadd_ps(a, b1, x1);
		ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31)
		ROW(4, c40, c41) ROW(5, c50, c51) ROW(6, c60, c61) ROW(7, c70, c71)
#undef ROW
		ap += MR;
		bp += NR;
	}
	__m512 acc[MR][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 },
	                      { c40, c41 }, { c50, c51 }, { c60, c61 }, { c70, c71 } };
	__m512 al = _mm512_set1_ps(alpha);
	__mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
	__mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
	for (int i = 0; i < mr; i++) {
		float *row = c + (size_t)i * ldc;
		__m512 v0 = _mm512_maskz_loadu_ps(m0, row), v1 = _mm512_maskz_loadu_ps(m1, row + 16);
		_mm512_mask_storeu_ps(row, m0, _mm512_fmadd_ps(al, acc[i][0], v0));
		_mm512_mask_storeu_ps(row + 16, m1, _mm512_fmadd_ps(al, acc[i][1], v1));
	}
}

/* C[mr x nr] += A * Bp where row i of A is read in place: element k =
 * 16 * v + x of it is ar[i][voff[v] + x]; Bp is one 32-column panel. */
__attribute__((target("avx512f")))
static void kernel_rows(const float *const *ar, int mr, const int *voff, int nv,
                        const float *bp, float *c, int ldc, int nr)
{
	const float *a0 = ar[0], *a1 = ar[1 < mr ? 1 : 0], *a2 = ar[2 < mr ? 2 : 0],
	            *a3 = ar[3 < mr ? 3 : 0], *a4 = ar[4 < mr ? 4 : 0], *a5 = ar[5 < mr ? 5 : 0],
	            *a6 = ar[6 < mr ? 6 : 0], *a7 = ar[7 < mr ? 7 : 0];
	__m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
	       c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00,
	       c61 = c00, c70 = c00, c71 = c00;
	for (int v = 0; v < nv; v++) {
		int off = voff[v];
		for (int x = off; x < off + 16; x++) {
			__m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16), a;
#define ROW(p, x0, x1) a = _mm512_set1_ps(p[x]); \
			x0 = _mm512_fmadd_ps(a, b0, x0); x1 = _mm512_fmadd_ps(a, b1, x1);
			ROW(a0, c00, c01) ROW(a1, c10, c11) ROW(a2, c20, c21) ROW(a3, c30, c31)
			ROW(a4, c40, c41) ROW(a5, c50, c51) ROW(a6, c60, c61) ROW(a7, c70, c71)
#undef ROW
			bp += NR;
		}
	}
	__m512 acc[MR][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 },
	                      { c40, c41 }, { c50, c51 }, { c60, c61 }, { c70, c71 } };
	__mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
	__mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
	for (int i = 0; i < mr; i++) {
		float *row = c + (size_t)i * ldc;
		__m512 v0 = _mm512_maskz_loadu_ps(m0, row), v1 = _mm512_maskz_loadu_ps(m1, row + 16);
		_mm512_mask_storeu_ps(row, m0, _mm512_add_ps(acc[i][0], v0));
		_mm512_mask_storeu_ps(row + 16, m1, _mm512_add_ps(acc[i][1], v1));
	}
}

/* C[mr x nr] = Ap * B (+ C when add) where B's two 16-column halves are
 * read in place: row k of them is s0 + koff[k] and s1 + koff[k]. */
__attribute__((target("avx512f")))
static void kernel_8x32_inplace(int kc, const float *ap, const float *s0, const float *s1,
                                const int *koff, int add, float *c, int ldc, int mr, int nr)
{
	__m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
	       c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00,
	       c61 = c00, c70 = c00, c71 = c00;
	for (int k = 0; k < kc; k++) {
		__m512 b0 = _mm512_loadu_ps(s0 + koff[k]), b1 = _mm512_loadu_ps(s1 + koff[k]), a;
#define ROW(i, x0, x1) a = _mm512_set1_ps(ap[i]); \
		x0 = _mm512_fmadd_ps(a, b0, x0); x1 = _mm512_fmadd_ps(a, b1, x1);
		ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31)
		ROW(4, c40, c41) ROW(5, c50, c51) ROW(6, c60, c61) ROW(7, c70, c71)
#undef ROW
		ap += MR;
	}
	__m512 acc[MR][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 },
	                      { c40, c41 }, { c50, c51 }, { c60, c61 }, { c70, c71 } };
	__mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
	__mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
	for (int i = 0; i < mr; i++) {
		float *row = c + (size_t)i * ldc;
		if (add) {
			acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_maskz_loadu_ps(m0, row));
			acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_maskz_loadu_ps(m1, row + 16));
		}
		_mm512_mask_storeu_ps(row, m0, acc[i][0]);
		_mm512_mask_storeu_ps(row + 16, m1, acc[i][1]);
	}
}

/* AVX2 + FMA versions of the three kernels: the same panels and tables,
 * three rows of C (12 accumulators of 8 floats) per pass. */
#define ACC3 __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, \
	c11 = c00, c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, a, b0, b1
/* Half a row pass: two B vectors (columns h*16 .. h*16+15) into three rows;
 * the A value is broadcast again per half, so 12 accumulators, 2 B and 1 A
 * fit the 16 registers. */
#define HALF3(q, p0, p1, p2, x0, x1, y0, y1, z0, z1) \
	b0 = _mm256_loadu_ps(q); b1 = _mm256_loadu_ps((q) + 8); \
	a = _mm256_broadcast_ss(p0); x0 = _mm256_fmadd_ps(a, b0, x0); x1 = _mm256_fmadd_ps(a, b1, x1); \
	a = _mm256_broadcast_ss(p1); y0 = _mm256_fmadd_ps(a, b0, y0); y1 = _mm256_fmadd_ps(a, b1, y1); \
	a = _mm256_broadcast_ss(p2); z0 = _mm256_fmadd_ps(a, b0, z0); z1 = _mm256_fmadd_ps(a, b1, z1);
#define FMA3(q0, q1, p0, p1, p2) HALF3(q0, p0, p1, p2, c00, c01, c10, c11, c20, c21) \
	__asm__ volatile("" ::: "memory"); /* reload, do not keep, the A values */ \
	HALF3(q1, p0, p1, p2, c02, c03, c12, c13, c22, c23)
#define ACC_OUT(acc) do { __m256 t_[3][4] = { { c00, c01, c02, c03 }, { c10, c11, c12, c13 }, \
	{ c20, c21, c22, c23 } }; memcpy(acc, t_, sizeof(t_)); } while (0)

/* C[rows x nr] = alpha * acc (+ C when add), masked to nr columns. */
__attribute__((target("avx2,fma")))
static void store3(__m256 acc[3][4], int rows, float *c, int ldc, int nr, float alpha, int add)
{
	const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	for (int j = 0; j < 4 && nr > 8 * j; j++) {
		__m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * j), lanes);
		for (int i = 0; i < rows; i++) {
			float *p = c + (size_t)i * ldc + 8 * j;
			__m256 v = _mm256_mul_ps(acc[i][j], _mm256_set1_ps(alpha));
			if (add)
				v = _mm256_add_ps(v, _mm256_maskload_ps(p, m));
			_mm256_maskstore_ps(p, m, v);
		}
	}
}

/* acc = rows (<= 3) of an MR-row A panel (starting at ap) times packed B. */
__attribute__((target("avx2,fma")))
static void kern3_packed(int kc, const float *ap, int rows, const float *bp, __m256 acc[3][4])
{
	int o1 = rows > 1, o2 = rows > 2 ? 2 : o1;
	ACC3;
	for (int k = 0; k < kc; k++, ap += MR, bp += NR) {
		FMA3(bp, bp + 16, ap, ap + o1, ap + o2)
	}
	ACC_OUT(acc);
}

/* acc = rows (<= 3) of A read in place through ar / voff, times packed B. */
__attribute__((target("avx2,fma")))
static void kern3_rows(const float *const *ar, int rows, const int *voff, int nv, const float *bp,
                       __m256 acc[3][4])
{
	const float *a0 = ar[0], *a1 = ar[rows > 1], *a2 = ar[rows > 2 ? 2 : rows > 1];
	ACC3;
	for (int v = 0; v < nv; v++)
		for (int x = voff[v]; x < voff[v] + 16; x++, bp += NR) {
			FMA3(bp, bp + 16, a0 + x, a1 + x, a2 + x)
		}
	ACC_OUT(acc);
}

/* acc = rows (<= 3) of an MR-row A panel times B read in place. */
__attribute__((target("avx2,fma")))
static void kern3_pieces(int kc, const float *ap, int rows, const float *s0, const float *s1,
                         const int *koff, __m256 acc[3][4])
{
	int o1 = rows > 1, o2 = rows > 2 ? 2 : o1;
	ACC3;
	for (int k = 0; k < kc; k++, ap += MR) {
		FMA3(s0 + koff[k], s1 + koff[k], ap, ap + o1, ap + o2)
	}
	ACC_OUT(acc);
}
#undef ACC3
#undef HALF3
#undef FMA3
#undef ACC_OUT

static void kernel_8x32_avx2(int kc, const float *ap, const float *bp, float *c, int ldc,
                             int mr, int nr, float alpha)
{
	__m256 acc[3][4];
	for (int r = 0; r < mr; r += 3) {
		kern3_packed(kc, ap + r, mr - r < 3 ? mr - r : 3, bp, acc);
		store3(acc, mr - r < 3 ? mr - r : 3, c + (size_t)r * ldc, ldc, nr, alpha, 1);
	}
}

static void kernel_rows_avx2(const float *const *ar, int mr, const int *voff, int nv,
                             const float *bp, float *c, int ldc, int nr)
{
	__m256 acc[3][4];
	for (int r = 0; r < mr; r += 3) {
		kern3_rows(ar + r, mr - r < 3 ? mr - r : 3, voff, nv, bp, acc);
		store3(acc, mr - r < 3 ? mr - r : 3, c + (size_t)r * ldc, ldc, nr, 1.0f, 1);
	}
}

static void kernel_8x32_inplace_avx2(int kc, const float *ap, const float *s0, const float *s1,
                                     const int *koff, int add, float *c, int ldc, int mr, int nr)
{
	__m256 acc[3][4];
	for (int r = 0; r < mr; r += 3) {
		kern3_pieces(kc, ap + r, mr - r < 3 ? mr - r : 3, s0, s1, koff, acc);
		store3(acc, mr - r < 3 ? mr - r : 3, c + (size_t)r * ldc, ldc, nr, 1.0f, add);
	}
}

/* Splits n into the fewest blocks of at most max, of near-equal size. */
static int block_size(int n, int max)
{
	int blocks = (n + max - 1) / max;
	return (n + blocks - 1) / blocks;
}

static void scale_c(int m, int n, float beta, float *c, int ldc)
{
	if (beta == 1.0f)
		return;
	for (int i = 0; i < m; i++) {
		if (beta == 0.0f)
			memset(c + (size_t)i * ldc, 0, (size_t)n * sizeof(float));
		else
			for (int j = 0; j < n; j++)
				c[(size_t)i * ldc + j] *= beta;
	}
}

/* C[m x nc] += alpha * op(A)[m, k0..k0+kc) * B, B given as packed panels
 * (kc x NR each, consecutive panels pstride floats apart). */
static void macro_kernel(float *apack, int ta, const float *a, int lda, int m, int k0, int kc,
                         const float *bp, size_t pstride, int nc, float alpha, float *c, int ldc)
{
	int mb = block_size(m, MC);
	mb = (mb + MR - 1) / MR * MR;
	if (mb > MC)
		mb = MC;
	for (int i0 = 0; i0 < m; i0 += mb) {
		int mc = m - i0 < mb ? m - i0 : mb;
		pack_a(a, lda, ta, i0, mc, k0, kc, apack);
		for (int jr = 0; jr < nc; jr += NR)
			for (int ir = 0; ir < mc; ir += MR)
				(level == 2 ? kernel_8x32 : kernel_8x32_avx2)(
					kc, apack + (size_t)ir * kc, bp + (size_t)(jr / NR) * pstride,
					c + (size_t)(i0 + ir) * ldc + jr, ldc,
					mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR, alpha);
	}
}

static int packed_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float *c, int ldc)
{
	pack_buf *pb = thread_pack();
	if (!pb)
		return -1;
	int kb = block_size(k, KC);
	for (int j0 = 0; j0 < n; j0 += NC) {
		int nc = n - j0 < NC ? n - j0 : NC;
		for (int k0 = 0; k0 < k; k0 += kb) {
			int kc = k - k0 < kb ? k - k0 : kb;
			pack_b(b, ldb, tb, k0, kc, j0, nc, pb->b);
			macro_kernel(pb->a, ta, a, lda, m, k0, kc, pb->b, (size_t)kc * NR, nc, alpha, c + j0, ldc);
		}
	}
	return 0;
}

int nn_sgemm_panel(void)
{
	pthread_once(&init_once, init);
	return level >= 1 ? NR : 0;
}

size_t nn_sgemm_apack_floats(void)
{
	return (size_t)MC * KC;
}

void nn_sgemm_pb(int trans_a, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *bp, float beta, float *c, int ldc, float *apack)
{
	if (m <= 0 || n <= 0)
		return;
	scale_c(m, n, beta, c, ldc);
	int kb = block_size(k, KC);
	for (int k0 = 0; k0 < k; k0 += kb) {
		int kc = k - k0 < kb ? k - k0 : kb;
		macro_kernel(apack, trans_a, a, lda, m, k0, kc, bp + (size_t)k0 * NR, (size_t)k * NR, n,
		             alpha, c, ldc);
	}
}

size_t nn_sgemm_apacked_floats(int m, int k)
{
	return (size_t)((m + MR - 1) / MR * MR) * (size_t)k;
}

void nn_sgemm_pack_a(int trans_a, int m, int k, const float *a, int lda, float *ap)
{
	pack_a(a, lda, trans_a, 0, m, 0, k, ap);
}

/* Pieces of 16 k per block of nn_sgemm_rows: a 32 KiB B block stays in L1. */
#define ROWS_KB 16

void nn_sgemm_rows(int m, int n, int nv, const float *const *arows, const int *voff,
                   const float *bp, float *c, int ldc)
{
	for (int v0 = 0; v0 < nv; v0 += ROWS_KB) {
		int vb = nv - v0 < ROWS_KB ? nv - v0 : ROWS_KB;
		for (int jr = 0; jr < n; jr += NR)
			for (int ir = 0; ir < m; ir += MR)
				(level == 2 ? kernel_rows : kernel_rows_avx2)(
					arows + ir, m - ir < MR ? m - ir : MR, voff + v0, vb,
				            bp + ((size_t)(jr / NR) * nv + v0) * 16 * NR, c + (size_t)ir * ldc + jr,
				            ldc, n - jr < NR ? n - jr : NR);
	}
}

void nn_sgemm_pieces(int m, int n, int k, const float *ap, const float *const *pieces,
                     const int *koff, int add, float *c, int ldc)
{
	for (int jr = 0; jr < n; jr += NR) {
		const float *s0 = pieces[jr / 16], *s1 = jr + 16 < n ? pieces[jr / 16 + 1] : s0;
		for (int ir = 0; ir < m; ir += MR)
			(level == 2 ? kernel_8x32_inplace : kernel_8x32_inplace_avx2)(
				k, ap + (size_t)ir * k, s0, s1, koff, add, c + (size_t)ir * ldc + jr,
				ldc, m - ir < MR ? m - ir : MR, n - jr < NR ? n - jr : NR);
	}
}

/* Row-major C[m x n] = alpha * op(A) * op(B) + beta * C; empty products
 * only scale C, so callers need not special-case empty shares. */
void nn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc)
{
	if (m <= 0 || n <= 0)
		return;
	pthread_once(&init_once, init);
	if (k <= 0 || level >= 1) {
		scale_c(m, n, beta, c, ldc);
		if (k <= 0 || packed_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, c, ldc) == 0)
			return;
		beta = 1.0f;
	}
	pthread_mutex_lock(&blas_mu);
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
	            trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
	            a, lda, b, ldb, beta, c, ldc);
	pthread_mutex_unlock(&blas_mu);
}
