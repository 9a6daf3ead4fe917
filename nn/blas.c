/* The single BLAS seam of nn: every matrix product goes through this file.
 * nn_sgemm is the general product: on CPUs with AVX2 or AVX-512 a packed
 * GEMM with a register-blocked kernel of its own (8x32 on AVX-512, 6x16 on
 * AVX2; A is read in place when the product has few columns), else
 * OpenBLAS (the distribution's 0.3.21 does not know the newest Xeons and
 * runs its SSE3 kernels there), whose serial build keeps buffers without
 * locks, so its calls from the worker threads are serialised (blas_mu).
 * The other entry points serve the conv and dense layers on the same
 * CPUs: B packed by the caller (nn_sgemm_pb, nn_sgemm_pp), or an operand
 * read in place through tables of rows or 16-float pieces (nn_sgemm_rows,
 * nn_sgemm_pieces), which saves the copies of im2col and packing. All sum
 * every element over k in one fixed order whatever the other dimensions,
 * so a sample's result does not depend on the batch it came in. */
#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "nn_impl.h"
#include "simd.h"

#define MR 8        /* AVX-512: rows of C per kernel call */
#define NR 32       /* AVX-512: columns of C per kernel call (two 16-float
                       vectors); the panel width of nn_sgemm_pb at both levels */
#define MR2 6       /* AVX2: rows of C per kernel call */
#define NR2 16      /* AVX2: columns of C per kernel call (two 8-float vectors) */
#define KC 320      /* most k per packed block; it fixes the order of the sums,
                       so it is the same at both levels */
#define MC 128      /* AVX-512: rows of A packed at once (L2) */
#define MC2 144     /* AVX2: rows of A packed at once (180 KiB: a 512 KiB L2) */
#define NC 2048     /* columns of B packed at once */
#define APACK_FLOATS (MC2 * KC)  /* the larger A block of the two levels */

/* How a kernel leaves C: alpha * sums, or that plus C, or plus 0 (what
 * adding to a cleared C gives, without clearing it first). */
enum { STORE, ADD_C, ADD_ZERO };

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
	pb->a = aligned_alloc(64, sizeof(float) * APACK_FLOATS);
	pb->b = aligned_alloc(64, sizeof(float) * KC * NC);
	if (!pb->a || !pb->b || pthread_setspecific(pack_key, pb) != 0) {
		pack_free(pb);
		return NULL;
	}
	return pb;
}

/* One 8x8 block of pack_transposed: dst[k * stride + j] = src[j * ld + k]
 * for k < 8, j < 8 (rows from nrows on zero; lanes outside keep not
 * written when width < 8). */
__attribute__((target("avx2"), always_inline))
static inline void transpose8(const float *src, int ld, int nrows, float *dst, int width, int stride,
                              __m256i keep)
{
	__m256 r[8], t[8];
	for (int j = 0; j < 8; j++)
		r[j] = j < nrows ? _mm256_loadu_ps(src + (size_t)j * ld) : _mm256_setzero_ps();
	for (int j = 0; j < 8; j += 2) {
		t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
		t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
	}
	for (int j = 0; j < 8; j += 4) {
		r[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
		r[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xee);
		r[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
		r[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xee);
	}
	for (int j = 0; j < 8; j++) {
		/* the permute's selector must be a constant */
		__m256 v = j < 4 ? _mm256_permute2f128_ps(r[j], r[j + 4], 0x20) :
				   _mm256_permute2f128_ps(r[j - 4], r[j], 0x31);
		if (width >= 8)
			_mm256_storeu_ps(dst + (size_t)j * stride, v);
		else
			_mm256_maskstore_ps(dst + (size_t)j * stride, keep, v);
	}
}

/* dst[k * stride + j] = src[j * ld + k] for j < width, k < kc, where rows
 * from nrows on are zero: a panel from rows of a matrix stored the other
 * way, 8x8 blocks transposed in registers, all of a block of 8 k before
 * the next, so each destination row is written whole at once. width is
 * at most 8 or a multiple of 8. */
__attribute__((target("avx2")))
static void pack_transposed(const float *src, int ld, int nrows, int kc, float *dst, int width,
                            int stride)
{
	const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	__m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(width), lanes);
	int k = 0;
	for (; k + 8 <= kc; k += 8)
		for (int g = 0; g < width; g += 8)
			transpose8(src + (size_t)g * ld + k, ld, nrows - g, dst + (size_t)k * stride + g,
			           width - g, stride, keep);
	for (; k < kc; k++)
		for (int j = 0; j < width; j++)
			dst[(size_t)k * stride + j] = j < nrows ? src[(size_t)j * ld + k] : 0.0f;
}

/* pack_transposed for the 32-column panels of AVX-512: 16x16 blocks
 * (rows from nrows on zero), k from a multiple of 16 on left to the caller;
 * returns how many k it packed. */
__attribute__((target("avx512f")))
static int pack_transposed16(const float *src, int ld, int nrows, int kc, float *dst, int stride)
{
	int k = 0;
	for (; k + 16 <= kc; k += 16)
		for (int g = 0; g < stride; g += 16) {
			__m512 r[16];
			for (int j = 0; j < 16; j++)
				r[j] = g + j < nrows ? _mm512_loadu_ps(src + (size_t)(g + j) * ld + k)
				                     : _mm512_setzero_ps();
			nn_transpose16(r);
			for (int j = 0; j < 16; j++)
				_mm512_storeu_ps(dst + (size_t)(k + j) * stride + g, r[j]);
		}
	return k;
}

/* Packs rows m0..m0+mc, columns k0..k0+kc of op(A) into mr-row panels,
 * k-major inside a panel; rows past mc are zero. */
static void pack_a(const float *a, int lda, int trans, int m0, int mc, int k0, int kc, float *ap,
                   int mr)
{
	for (int p = 0; p < mc; p += mr) {
		int rows = mc - p < mr ? mc - p : mr;
		float *dst = ap + (size_t)p * kc;
		if (trans) {
			for (int k = 0; k < kc; k++) {
				const float *src = a + (size_t)(k0 + k) * lda + m0 + p;
				for (int i = 0; i < mr; i++)
					dst[k * mr + i] = i < rows ? src[i] : 0.0f;
			}
			continue;
		}
		pack_transposed(a + (size_t)(m0 + p) * lda + k0, lda, rows, kc, dst, mr, mr);
	}
}

/* The A panel height of the current level. */
static int a_rows(void)
{
	return level == 2 ? MR : MR2;
}

/* Rows of untransposed B packed together: each panel then takes a run of
 * consecutive lines while the rows are read as that many forward streams. */
#define PACK_B_ROWS 8

/* Copies rows of B (nk rows of nc floats from src, ldb apart) into their
 * place in each pw-column panel (dst: the first row's place in the first
 * panel; panels kc * pw floats apart). Whole panels copy a constant size,
 * which compiles to vector moves. */
static void pack_b_rows(const float *src, int ldb, int nk, int nc, int kc, float *dst, int pw)
{
	int q = 0;
	for (; q + pw <= nc; q += pw, dst += (size_t)kc * pw)
		for (int k = 0; k < nk; k++) {
			if (pw == NR)
				memcpy(dst + k * pw, src + (size_t)k * ldb + q, NR * sizeof(float));
			else
				memcpy(dst + k * pw, src + (size_t)k * ldb + q, NR2 * sizeof(float));
		}
	for (int k = 0; q < nc && k < nk; k++) {
		memcpy(dst + k * pw, src + (size_t)k * ldb + q, (size_t)(nc - q) * sizeof(float));
		memset(dst + k * pw + (nc - q), 0, (size_t)(pw - (nc - q)) * sizeof(float));
	}
}

/* Packs rows k0..k0+kc, columns n0..n0+nc of op(B) into pw-column panels;
 * columns past nc are zero. Untransposed B is read row by row, in order. */
static void pack_b(const float *b, int ldb, int trans, int k0, int kc, int n0, int nc, float *bp,
                   int pw)
{
	if (!trans) {
		for (int k = 0; k < kc; k += PACK_B_ROWS)
			pack_b_rows(b + (size_t)(k0 + k) * ldb + n0, ldb,
			            kc - k < PACK_B_ROWS ? kc - k : PACK_B_ROWS, nc, kc, bp + (size_t)k * pw, pw);
		return;
	}
	for (int q = 0; q < nc; q += pw) {
		int cols = nc - q < pw ? nc - q : pw;
		const float *src = b + (size_t)(n0 + q) * ldb + k0;
		float *dst = bp + (size_t)q * kc;
		int done = level == 2 && pw == NR ? pack_transposed16(src, ldb, cols, kc, dst, pw) : 0;
		pack_transposed(src + done, ldb, cols, kc - done, dst + (size_t)done * pw, pw, pw);
	}
}

/* C[mr x nr] = alpha * A * Bp + C (ADD_C) or + 0 (ADD_ZERO) for one
 * MR x NR tile (mr <= MR, nr <= NR), element (i, k) of A at a[i * rs +
 * k * ks] (a packed panel: rs 1, ks MR; A in place: its strides), B a
 * packed panel whose rows are bstride floats apart. */
__attribute__((target("avx512f")))
static void kernel_8x32(int kc, const float *a, int rs, int ks, const float *bp, int bstride,
                        float *c, int ldc, int mr, int nr, float alpha, int mode)
{
	const float *a0 = a, *a1 = a + (1 < mr ? rs : 0), *a2 = a + (2 < mr ? 2 * rs : 0),
	            *a3 = a + (3 < mr ? 3 * rs : 0), *a4 = a + (4 < mr ? 4 * rs : 0),
	            *a5 = a + (5 < mr ? (size_t)5 * rs : 0), *a6 = a + (6 < mr ? (size_t)6 * rs : 0),
	            *a7 = a + (7 < mr ? (size_t)7 * rs : 0);
	__m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
	       c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00,
	       c61 = c00, c70 = c00, c71 = c00;
	size_t off = 0;
	for (int k = 0; k < kc; k++, off += (size_t)ks, bp += bstride) {
		__m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16), av;
#define ROW(p, x0, x1) av = _mm512_set1_ps(p[off]); \
		x0 = _mm512_fmadd_ps(av, b0, x0); x1 = _mm512_fmadd_ps(av, b1, x1);
		ROW(a0, c00, c01) ROW(a1, c10, c11) ROW(a2, c20, c21) ROW(a3, c30, c31)
		ROW(a4, c40, c41) ROW(a5, c50, c51) ROW(a6, c60, c61) ROW(a7, c70, c71)
#undef ROW
	}
	__m512 acc[MR][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 },
	                      { c40, c41 }, { c50, c51 }, { c60, c61 }, { c70, c71 } };
	__m512 al = _mm512_set1_ps(alpha);
	__mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
	__mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
	for (int i = 0; i < mr; i++) {
		float *row = c + (size_t)i * ldc;
		__m512 v0 = _mm512_setzero_ps(), v1 = v0;
		if (mode == ADD_C) {
			v0 = _mm512_maskz_loadu_ps(m0, row);
			v1 = _mm512_maskz_loadu_ps(m1, row + 16);
		}
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

/* AVX2 + FMA: a 6x16 tile of C (12 accumulators of 8 floats, 2 B vectors
 * and 1 broadcast A value: 15 of the 16 ymm registers) over A panels of
 * MR2 rows and 16-column B panels, or halves of the 32-column panels of
 * nn_sgemm_pb. The B micro-panel (KC x 16 floats, 20 KiB) stays in a
 * 32 KiB L1d while the A block (MC2 x KC, 180 KiB) streams from L2. */
#define ACC6 __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, \
	c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, av, b0, b1
#define ROW6(p, x0, x1) av = _mm256_broadcast_ss(p); \
	x0 = _mm256_fmadd_ps(av, b0, x0); x1 = _mm256_fmadd_ps(av, b1, x1);
#define FMA6(q, p0, p1, p2, p3, p4, p5) b0 = _mm256_loadu_ps(q); b1 = _mm256_loadu_ps((q) + 8); \
	ROW6(p0, c00, c01) ROW6(p1, c10, c11) ROW6(p2, c20, c21) \
	ROW6(p3, c30, c31) ROW6(p4, c40, c41) ROW6(p5, c50, c51)
#define ACC6_OUT(acc) __m256 acc[MR2][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, \
	{ c30, c31 }, { c40, c41 }, { c50, c51 } }

/* C[rows x nr] = alpha * acc, plus C (ADD_C) or plus 0 (ADD_ZERO, which
 * gives what adding to a cleared C gave); nr <= 16. */
__attribute__((target("avx2,fma"), always_inline))
static inline void store6(__m256 acc[MR2][2], int rows, float *c, int ldc, int nr, float alpha,
                          int mode)
{
	const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	__m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lanes);
	__m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), lanes);
	__m256 al = _mm256_set1_ps(alpha), zero = _mm256_setzero_ps();
	for (int i = 0; i < rows; i++) {
		float *p = c + (size_t)i * ldc;
		__m256 v0 = _mm256_mul_ps(acc[i][0], al), v1 = _mm256_mul_ps(acc[i][1], al);
		if (nr == 16) {
			if (mode != STORE) {
				v0 = _mm256_add_ps(v0, mode == ADD_C ? _mm256_loadu_ps(p) : zero);
				v1 = _mm256_add_ps(v1, mode == ADD_C ? _mm256_loadu_ps(p + 8) : zero);
			}
			_mm256_storeu_ps(p, v0);
			_mm256_storeu_ps(p + 8, v1);
			continue;
		}
		if (mode != STORE) {
			v0 = _mm256_add_ps(v0, mode == ADD_C ? _mm256_maskload_ps(p, m0) : zero);
			v1 = _mm256_add_ps(v1, mode == ADD_C ? _mm256_maskload_ps(p + 8, m1) : zero);
		}
		_mm256_maskstore_ps(p, m0, v0);
		_mm256_maskstore_ps(p + 8, m1, v1);
	}
}

/* Brings the rows of a C tile into L1 while the tile's sums run. */
static inline void prefetch_c(const float *c, int ldc, int rows)
{
	for (int i = 0; i < rows; i++)
		__builtin_prefetch(c + (size_t)i * ldc, 1);
}

/* C[rows x nr] = alpha * A * Bp (+ C, mode) for rows <= MR2 of A, element
 * (i, k) at a[i * rs + k * ks] (a packed panel: rs 1, ks MR2; A in place:
 * its strides), and a B panel whose k-th row of 16 is bstride floats after
 * the previous. */
__attribute__((target("avx2,fma")))
static void kern6_packed(int kc, const float *a, int rs, int ks, const float *bp, int bstride,
                         float *c, int ldc, int rows, int nr, float alpha, int mode)
{
	const float *a0 = a, *a1 = a + (1 < rows ? rs : 0), *a2 = a + (2 < rows ? 2 * rs : 0),
	            *a3 = a + (3 < rows ? 3 * rs : 0), *a4 = a + (4 < rows ? 4 * rs : 0),
	            *a5 = a + (5 < rows ? (size_t)5 * rs : 0);
	ACC6;
	prefetch_c(c, ldc, rows);
	size_t off = 0;
#pragma GCC unroll 4
	for (int k = 0; k < kc; k++, off += (size_t)ks, bp += bstride) {
		FMA6(bp, a0 + off, a1 + off, a2 + off, a3 + off, a4 + off, a5 + off)
	}
	ACC6_OUT(acc);
	store6(acc, rows, c, ldc, nr, alpha, mode);
}

/* C[rows x nr] += A * Bp, row i of A read in place through ar / voff. */
__attribute__((target("avx2,fma")))
static void kern6_rows(const float *const *ar, int rows, const int *voff, int nv, const float *bp,
                       int bstride, float *c, int ldc, int nr)
{
	const float *a0 = ar[0], *a1 = ar[1 < rows ? 1 : 0], *a2 = ar[2 < rows ? 2 : 0],
	            *a3 = ar[3 < rows ? 3 : 0], *a4 = ar[4 < rows ? 4 : 0], *a5 = ar[5 < rows ? 5 : 0];
	ACC6;
	prefetch_c(c, ldc, rows);
	for (int v = 0; v < nv; v++)
		for (int x = voff[v]; x < voff[v] + 16; x++, bp += bstride) {
			FMA6(bp, a0 + x, a1 + x, a2 + x, a3 + x, a4 + x, a5 + x)
		}
	ACC6_OUT(acc);
	store6(acc, rows, c, ldc, nr, 1.0f, ADD_C);
}

/* C[rows x nr] = Ap * B (+ C when add), row k of B's 16 columns at s + koff[k]. */
__attribute__((target("avx2,fma")))
static void kern6_pieces(int kc, const float *ap, const float *s, const int *koff, int add,
                         float *c, int ldc, int rows, int nr)
{
	ACC6;
	prefetch_c(c, ldc, rows);
#pragma GCC unroll 4
	for (int k = 0; k < kc; k++, ap += MR2) {
		FMA6(s + koff[k], ap, ap + 1, ap + 2, ap + 3, ap + 4, ap + 5)
	}
	ACC6_OUT(acc);
	store6(acc, rows, c, ldc, nr, 1.0f, add ? ADD_C : STORE);
}
#undef ACC6
#undef ROW6
#undef FMA6
#undef ACC6_OUT

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

/* The AVX2 tiles of one mr-row A panel against a pw-column B panel: its
 * 16-column halves one after the other, so each stays in L1 across the
 * A panels (the caller loops over those). */
static void tiles_avx2(int kc, const float *ap, int rows, const float *panel, int pw, int cols,
                       float *c, int ldc, float alpha, int mode)
{
	for (int h = 0; h < cols; h += NR2)
		kern6_packed(kc, ap, 1, MR2, panel + h, pw, c + h, ldc, rows,
		             cols - h < NR2 ? cols - h : NR2, alpha, mode);
}

/* C[m x nc] = alpha * op(A)[m, k0..k0+kc) * B + C (mode as the kernels'),
 * B given as packed panels of pw columns (kc x pw each, consecutive panels
 * pstride floats apart). */
static void macro_kernel(float *apack, int ta, const float *a, int lda, int m, int k0, int kc,
                         const float *bp, size_t pstride, int pw, int nc, float alpha, int mode,
                         float *c, int ldc)
{
	int avx512 = level == 2, mr = a_rows(), mcap = avx512 ? MC : MC2 / MR2 * MR2;
	int mb = block_size(m, mcap);
	mb = (mb + mr - 1) / mr * mr;
	if (mb > mcap)
		mb = mcap;
	for (int i0 = 0; i0 < m; i0 += mb) {
		int mc = m - i0 < mb ? m - i0 : mb;
		pack_a(a, lda, ta, i0, mc, k0, kc, apack, mr);
		for (int jr = 0; jr < nc; jr += pw) {
			const float *panel = bp + (size_t)(jr / pw) * pstride;
			int cols = nc - jr < pw ? nc - jr : pw;
			if (!avx512 && pw > NR2) {
				/* one 16-column half at a time across all A panels */
				for (int h = 0; h < cols; h += NR2)
					for (int ir = 0; ir < mc; ir += mr)
						tiles_avx2(kc, apack + (size_t)ir * kc, mc - ir < mr ? mc - ir : mr,
						           panel + h, pw, cols - h < NR2 ? cols - h : NR2,
						           c + (size_t)(i0 + ir) * ldc + jr + h, ldc, alpha, mode);
				continue;
			}
			for (int ir = 0; ir < mc; ir += mr) {
				float *ct = c + (size_t)(i0 + ir) * ldc + jr;
				int rows = mc - ir < mr ? mc - ir : mr;
				if (avx512)
					kernel_8x32(kc, apack + (size_t)ir * kc, 1, MR, panel, NR, ct, ldc, rows, cols,
					            alpha, mode);
				else
					tiles_avx2(kc, apack + (size_t)ir * kc, rows, panel, pw, cols, ct, ldc, alpha, mode);
			}
		}
	}
}

/* Products with at most this many columns read A in place: each A
 * element serves too few columns to repay its packing. */
#define INPLACE_A_N 64

/* The macro kernel with A read in place (the k0 .. k0+kc slice of op(A)),
 * B packed in panels of pw (the level's tile width) columns, kc * pw
 * floats apart. */
static void direct_kernel(int ta, const float *a, int lda, int m, int k0, int kc, const float *bp,
                          int pw, int nc, float alpha, int mode, float *c, int ldc)
{
	int rs = ta ? 1 : lda, ks = ta ? lda : 1, mr = a_rows();
	const float *ak = a + (size_t)k0 * ks;
	for (int jr = 0; jr < nc; jr += pw)
		for (int ir = 0; ir < m; ir += mr) {
			const float *at = ak + (size_t)ir * rs, *panel = bp + (size_t)jr * kc;
			float *ct = c + (size_t)ir * ldc + jr;
			int rows = m - ir < mr ? m - ir : mr, cols = nc - jr < pw ? nc - jr : pw;
			if (level == 2)
				kernel_8x32(kc, at, rs, ks, panel, NR, ct, ldc, rows, cols, alpha, mode);
			else
				kern6_packed(kc, at, rs, ks, panel, NR2, ct, ldc, rows, cols, alpha, mode);
		}
}

/* C = alpha * op(A) * op(B) + beta * C with both operands packed here;
 * -1 when this thread's packing buffers cannot be had (C untouched). */
static int packed_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc)
{
	pack_buf *pb = thread_pack();
	if (!pb)
		return -1;
	if (beta != 0.0f)
		scale_c(m, n, beta, c, ldc);
	int kb = block_size(k, KC), pw = level == 2 ? NR : NR2;
	for (int j0 = 0; j0 < n; j0 += NC) {
		int nc = n - j0 < NC ? n - j0 : NC;
		for (int k0 = 0; k0 < k; k0 += kb) {
			int kc = k - k0 < kb ? k - k0 : kb;
			int mode = k0 == 0 && beta == 0.0f ? ADD_ZERO : ADD_C;
			pack_b(b, ldb, tb, k0, kc, j0, nc, pb->b, pw);
			if (n <= INPLACE_A_N)
				direct_kernel(ta, a, lda, m, k0, kc, pb->b, pw, nc, alpha, mode, c + j0, ldc);
			else
				macro_kernel(pb->a, ta, a, lda, m, k0, kc, pb->b, (size_t)kc * pw, pw, nc,
				             alpha, mode, c + j0, ldc);
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
	return (size_t)APACK_FLOATS;
}

void nn_sgemm_pb(int trans_a, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *bp, float beta, float *c, int ldc, float *apack)
{
	if (m <= 0 || n <= 0)
		return;
	if (beta != 0.0f || k <= 0)
		scale_c(m, n, beta, c, ldc);
	int kb = block_size(k, KC);
	for (int k0 = 0; k0 < k; k0 += kb) {
		int kc = k - k0 < kb ? k - k0 : kb;
		macro_kernel(apack, trans_a, a, lda, m, k0, kc, bp + (size_t)k0 * NR, (size_t)k * NR, NR,
		             n, alpha, k0 == 0 && beta == 0.0f ? ADD_ZERO : ADD_C, c, ldc);
	}
}

size_t nn_sgemm_apacked_floats(int m, int k)
{
	size_t rows8 = (size_t)(m + MR - 1) / MR * MR, rows6 = (size_t)(m + MR2 - 1) / MR2 * MR2;
	return (rows8 > rows6 ? rows8 : rows6) * (size_t)k;
}

void nn_sgemm_pack_a(int trans_a, int m, int k, const float *a, int lda, float *ap)
{
	pthread_once(&init_once, init);
	pack_a(a, lda, trans_a, 0, m, 0, k, ap, a_rows());
}

/* Pieces of 16 k per block of nn_sgemm_rows: a 32 KiB B block stays in L1. */
#define ROWS_KB 16

/* One k block (vb pieces from v0) of nn_sgemm_rows on AVX2: each 16-column
 * half of a B panel across all rows of A. */
static void rows_block_avx2(int m, int n, int nv, int v0, int vb, const float *const *arows,
                            const int *voff, const float *bp, float *c, int ldc)
{
	for (int jr = 0; jr < n; jr += NR)
		for (int h = jr; h < n && h < jr + NR; h += NR2)
			for (int ir = 0; ir < m; ir += MR2)
				kern6_rows(arows + ir, m - ir < MR2 ? m - ir : MR2, voff + v0, vb,
				           bp + ((size_t)(jr / NR) * nv + v0) * 16 * NR + (h - jr), NR,
				           c + (size_t)ir * ldc + h, ldc, n - h < NR2 ? n - h : NR2);
}

void nn_sgemm_rows(int m, int n, int nv, const float *const *arows, const int *voff,
                   const float *bp, float *c, int ldc)
{
	for (int v0 = 0; v0 < nv; v0 += ROWS_KB) {
		int vb = nv - v0 < ROWS_KB ? nv - v0 : ROWS_KB;
		if (level != 2) {
			rows_block_avx2(m, n, nv, v0, vb, arows, voff, bp, c, ldc);
			continue;
		}
		for (int jr = 0; jr < n; jr += NR)
			for (int ir = 0; ir < m; ir += MR)
				kernel_rows(arows + ir, m - ir < MR ? m - ir : MR, voff + v0, vb,
				            bp + ((size_t)(jr / NR) * nv + v0) * 16 * NR, c + (size_t)ir * ldc + jr,
				            ldc, n - jr < NR ? n - jr : NR);
	}
}

void nn_sgemm_pieces(int m, int n, int k, const float *ap, const float *const *pieces,
                     const int *koff, int add, float *c, int ldc)
{
	if (level != 2) {
		for (int jb = 0; jb < n; jb += NR2)
			for (int ir = 0; ir < m; ir += MR2)
				kern6_pieces(k, ap + (size_t)ir * k, pieces[jb / 16], koff, add,
				             c + (size_t)ir * ldc + jb, ldc, m - ir < MR2 ? m - ir : MR2,
				             n - jb < NR2 ? n - jb : NR2);
		return;
	}
	for (int jr = 0; jr < n; jr += NR) {
		const float *s0 = pieces[jr / 16], *s1 = jr + 16 < n ? pieces[jr / 16 + 1] : s0;
		for (int ir = 0; ir < m; ir += MR)
			kernel_8x32_inplace(k, ap + (size_t)ir * k, s0, s1, koff, add, c + (size_t)ir * ldc + jr,
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
	if (k <= 0) {
		scale_c(m, n, beta, c, ldc);
		return;
	}
	if (level >= 1 && packed_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == 0)
		return;
	pthread_mutex_lock(&blas_mu);
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
	            trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
	            a, lda, b, ldb, beta, c, ldc);
	pthread_mutex_unlock(&blas_mu);
}
