/* The single BLAS seam of nn: every matrix product goes through nn_sgemm. */
#include <cblas.h>
#include <string.h>
#include "nn_impl.h"

/* Row-major C[m x n] = alpha * op(A) * op(B) + beta * C; empty products
 * only scale C, so callers need not special-case empty shares. */
void nn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc)
{
	if (m <= 0 || n <= 0)
		return;
	if (k <= 0) {
		for (int i = 0; i < m; i++) {
			if (beta == 0.0f)
				memset(c + (size_t)i * ldc, 0, (size_t)n * sizeof(float));
			else
				for (int j = 0; j < n; j++)
					c[(size_t)i * ldc + j] *= beta;
		}
		return;
	}
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
	            trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha,
	            a, lda, b, ldb, beta, c, ldc);
}

/* nn runs its own threads, each on a share of the batch; BLAS must not
 * start threads of its own under them. */
void nn_blas_init(void)
{
	openblas_set_num_threads(1);
}
