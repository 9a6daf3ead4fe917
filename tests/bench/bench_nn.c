/* Benchmark of nn on the reference net (28x28x1) or the demo net (64x64x2,
 * pipeline.ini's), batch 64 training, batch 256 inference, 2 threads. Usage:
 *   bench_nn train SECONDS [ref|demo]   training images/s, then "rss_kib model_kib"
 *   bench_nn infer SECONDS [ref|demo]   inference images/s
 *   bench_nn peak            2-thread GFLOP/s of OpenBLAS sgemm and of nn_sgemm
 *   bench_nn level           the best kernel level of this CPU (2, 1 or 0)
 *   bench_nn shapes          one line per hot GEMM shape: nn_sgemm against
 *                            OpenBLAS's cblas_sgemm, one thread, GFLOP/s
 * NN_MAX_LEVEL=1 (AVX2) or 0 (OpenBLAS only) measures a lower kernel level;
 * OPENBLAS_CORETYPE picks OpenBLAS's kernels to match it. */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "../../nn/nn_impl.h"

#define ARCH "conv 32 5 pad 2, relu, maxpool 2, conv 64 5 pad 2, relu, maxpool 2, dense 128, relu, dense 10"
#define DEMO_ARCH "conv 16 3 pad 1, relu, maxpool 2, conv 32 3 pad 1, relu, maxpool 2, " \
	"conv 32 3 pad 1, relu, maxpool 2, dense 64, relu, dense"
#define N_BUF 8

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct gemm_job { float *a, *b, *c; int n, reps; double secs; } gemm_job;

/* One thread's share of the nn_sgemm peak: reps products of n x n. */
static void *gemm_thread(void *arg)
{
	gemm_job *j = arg;
	nn_sgemm(0, 0, j->n, j->n, j->n, 1.0f, j->a, j->n, j->b, j->n, 0.0f, j->c, j->n);
	double t = now();
	for (int r = 0; r < j->reps; r++)
		nn_sgemm(0, 0, j->n, j->n, j->n, 1.0f, j->a, j->n, j->b, j->n, 0.0f, j->c, j->n);
	j->secs = now() - t;
	return NULL;
}

/* Prints the best 2-thread GFLOP/s of a large OpenBLAS sgemm, then of
 * nn_sgemm (one large product per thread, as nn runs its threads). */
static int peak(void)
{
	int n = 2048;
	float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
	float *c = malloc(sizeof(float) * n * n * 2);
	if (!a || !b || !c)
		return 1;
	for (int i = 0; i < n * n; i++) {
		a[i] = (float)(i % 7) * 0.1f;
		b[i] = (float)(i % 5) * 0.1f;
	}
	openblas_set_num_threads(2);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
	double best = 0.0, best_nn = 0.0;
	for (int r = 0; r < 6; r++) {
		double t = now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
		double g = 2.0 * n * n * (double)n / (now() - t) * 1e-9;
		best = g > best ? g : best;
	}
	nn_blas_init();
	for (int r = 0; r < 3; r++) {
		gemm_job jobs[2] = { { a, b, c, n / 2, 24, 0 }, { a, b, c + (size_t)n * n, n / 2, 24, 0 } };
		pthread_t th;
		pthread_create(&th, NULL, gemm_thread, &jobs[1]);
		gemm_thread(&jobs[0]);
		pthread_join(th, NULL);
		double secs = jobs[0].secs > jobs[1].secs ? jobs[0].secs : jobs[1].secs;
		double g = 2 * 24 * 2.0 * (n / 2) * (n / 2) * (double)(n / 2) / secs * 1e-9;
		best_nn = g > best_nn ? g : best_nn;
	}
	printf("%.1f %.1f\n", best, best_nn);
	free(a);
	free(b);
	free(c);
	return 0;
}

/* The products nn runs most, as nn_sgemm(ta, tb, M, N, K): the convolutions
 * (forward M=out channels x N=pixels of a 4-image chunk x K=Cin*k*k; the
 * weight gradient; the input gradient) and dense layers (a 32-sample share)
 * of the reference net (28x28x1) and the demo net (64x64x2), and the
 * batched products of a Winograd convolution (K_out x tiles x C_in). */
typedef struct gemm_shape { const char *what; int ta, tb, m, n, k; } gemm_shape;
static const gemm_shape shapes[] = {
	{ "ref conv1 forward", 0, 0, 32, 3136, 25 },
	{ "ref conv2 forward", 0, 0, 64, 784, 800 },
	{ "ref conv2 dW", 0, 1, 64, 800, 784 },
	{ "ref conv2 dX", 1, 0, 800, 784, 64 },
	{ "ref dense1 forward", 0, 0, 128, 32, 3136 },
	{ "ref dense1 dW", 0, 1, 128, 3136, 32 },
	{ "ref dense1 dX", 1, 0, 3136, 32, 128 },
	{ "demo conv1 forward", 0, 0, 32, 4096, 18 },
	{ "demo conv2 forward", 0, 0, 64, 4096, 288 },
	{ "demo conv2 dW", 0, 1, 64, 288, 4096 },
	{ "demo conv2 dX", 1, 0, 288, 4096, 64 },
	{ "demo dense1 forward", 0, 0, 128, 32, 16384 },
	{ "winograd 32x64x16", 0, 0, 32, 64, 16 },
	{ "winograd 32x256x32", 0, 0, 32, 256, 32 },
	{ "winograd 64x256x64", 0, 0, 64, 256, 64 },
	{ "winograd 64x1024x32", 0, 0, 64, 1024, 32 },
	{ "winograd 128x1024x128", 0, 0, 128, 1024, 128 },
	{ "winograd 128x64x128", 0, 0, 128, 64, 128 },
};

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of reps products of shape s, by nn (blas 0) or OpenBLAS. */
static double time_gemm(const gemm_shape *s, int blas, int reps, const float *a, const float *b,
                        float *c)
{
	int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
	double t = cpu_now();
	for (int r = 0; r < reps; r++) {
		if (blas)
			cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
			            s->tb ? CblasTrans : CblasNoTrans, s->m, s->n, s->k, 1.0f, a, lda,
			            b, ldb, 0.0f, c, s->n);
		else
			nn_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
	}
	return cpu_now() - t;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* One line per shape: the median over 7 alternating rounds of nn_sgemm's
 * and OpenBLAS's single-thread GFLOP/s (on thread CPU time, so other
 * processes on the core weigh less), at the kernel level in use. */
static int bench_shapes(void)
{
	static const char *names[] = { "openblas", "avx2", "avx512" };
	size_t most = 0;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		size_t mk = (size_t)shapes[i].m * shapes[i].k, kn = (size_t)shapes[i].k * shapes[i].n;
		size_t mn = (size_t)shapes[i].m * shapes[i].n;
		most = mk > most ? mk : most;
		most = kn > most ? kn : most;
		most = mn > most ? mn : most;
	}
	float *a = malloc(sizeof(float) * most), *b = malloc(sizeof(float) * most);
	float *c = malloc(sizeof(float) * most);
	if (!a || !b || !c)
		return 1;
	for (size_t i = 0; i < most; i++) {
		a[i] = (float)(i % 7) * 0.1f - 0.3f;
		b[i] = (float)(i % 5) * 0.1f - 0.2f;
		c[i] = 0.0f;
	}
	nn_blas_init();
	const char *core = openblas_get_corename();
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		const gemm_shape *s = &shapes[i];
		double flop = 2.0 * s->m * s->n * (double)s->k, g[2][7];
		int reps = (int)(2e9 / flop) + 1;  /* about 40 ms at 50 GFLOP/s */
		time_gemm(s, 0, 1, a, b, c);
		time_gemm(s, 1, 1, a, b, c);
		for (int r = 0; r < 7; r++)
			for (int blas = 0; blas < 2; blas++)
				g[blas][r] = flop * reps / time_gemm(s, blas, reps, a, b, c) * 1e-9;
		qsort(g[0], 7, sizeof(double), cmp_double);
		qsort(g[1], 7, sizeof(double), cmp_double);
		printf("gemm %-6s %4dx%4dx%5d %c%c  %-22s nn %6.1f  OpenBLAS(%s) %6.1f GFLOP/s  %.2fx\n",
		       names[nn_simd_level()], s->m, s->n, s->k, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N',
		       s->what, g[0][3], core, g[1][3], g[0][3] / g[1][3]);
		fflush(stdout);
	}
	free(a);
	free(b);
	free(c);
	return 0;
}

/* Bytes of the model plus one batch's activations plus im2col scratch:
 * what training needs at the least. */
static double needed_kib(const nn_net *net, int batch)
{
	size_t act = (size_t)net->in.c * net->in.h * net->in.w, col = 0;
	for (int l = 0; l < net->n_layers; l++) {
		const nn_layer *ly = &net->layers[l];
		act += (size_t)ly->out.c * ly->out.h * ly->out.w;
		if (ly->kind == L_CONV) {
			nn_conv_scratch cs = nn_conv_scratch_of(ly);
			size_t unrolled = cs.col + cs.pad + cs.tile;
			col = unrolled > col ? unrolled : col;
		}
	}
	return (double)(net->n_params + act * batch + col * net->threads) * sizeof(float) / 1024.0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "peak"))
		return peak();
	if (getenv("NN_MAX_LEVEL"))
		nn_blas_level(atoi(getenv("NN_MAX_LEVEL")));
	if (argc >= 2 && !strcmp(argv[1], "level")) {
		printf("%d\n", nn_simd_level());
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "shapes"))
		return bench_shapes();
	if (argc < 3 || (strcmp(argv[1], "train") && strcmp(argv[1], "infer"))) {
		fprintf(stderr, "usage: bench_nn train|infer SECONDS [ref|demo] | peak | level | shapes\n");
		return 2;
	}
	int train = !strcmp(argv[1], "train"), batch = train ? 64 : 256;
	int demo = argc >= 4 && !strcmp(argv[3], "demo"), classes = demo ? 2 : 10;
	nn_shape in = demo ? (nn_shape){ 2, 64, 64 } : (nn_shape){ 1, 28, 28 };
	double seconds = atof(argv[2]);
	nn_err err = { 0 };
	nn_net *net = nn_net_new(demo ? DEMO_ARCH : ARCH, in, classes, 1, 2, batch, &err);
	if (!net) {
		fprintf(stderr, "bench_nn: %s\n", err.msg);
		return 1;
	}
	size_t per = (size_t)batch * in.c * in.h * in.w;
	float *x = malloc(sizeof(float) * per * N_BUF), *probs = malloc(sizeof(float) * batch * classes);
	int *y = malloc(sizeof(int) * batch * N_BUF);
	uint64_t rng = 1;
	for (size_t i = 0; i < per * N_BUF; i++)
		x[i] = (float)nn_rng_uniform(&rng);
	for (int i = 0; i < batch * N_BUF; i++)
		y[i] = (int)(nn_rng_next(&rng) % (uint64_t)classes);
	nn_opt opt;
	nn_opt_default(&opt);
	nn_set_optimizer(net, &opt, &err);
	long n = 0;
	for (double start = now(), t = -1.0;; n++) {
		int k = (int)(n % N_BUF);
		if (n == 5)
			start = now();
		if (train)
			nn_train_batch(net, x + k * per, y + k * batch, batch, 0.01f, NULL, NULL, NULL, &err);
		else
			nn_predict(net, x + k * per, batch, probs, &err);
		if (n >= 5 && (t = now() - start) >= seconds) {
			printf("%.1f\n", (double)(n - 4) * batch / t);
			break;
		}
	}
	if (train) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		printf("%ld %.0f\n", ru.ru_maxrss, needed_kib(net, batch));
	}
	nn_net_free(net);
	free(x);
	free(y);
	free(probs);
	return 0;
}
