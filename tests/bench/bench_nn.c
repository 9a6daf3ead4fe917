/* Benchmark of nn on the reference net (28x28x1, batch 64 training, batch
 * 256 inference, 2 threads). Usage:
 *   bench_nn train SECONDS   training images/s, then "rss_kib model_kib"
 *   bench_nn infer SECONDS   inference images/s
 *   bench_nn peak            2-thread GFLOP/s of OpenBLAS sgemm and of nn_sgemm
 * NN_MAX_LEVEL=1 (AVX2) or 0 (OpenBLAS only) measures a lower kernel level. */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "../../nn/nn_impl.h"

#define ARCH "conv 32 5 pad 2, relu, maxpool 2, conv 64 5 pad 2, relu, maxpool 2, dense 128, relu, dense 10"
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
	if (argc < 3 || (strcmp(argv[1], "train") && strcmp(argv[1], "infer"))) {
		fprintf(stderr, "usage: bench_nn train|infer SECONDS | peak\n");
		return 2;
	}
	int train = !strcmp(argv[1], "train"), batch = train ? 64 : 256;
	double seconds = atof(argv[2]);
	if (getenv("NN_MAX_LEVEL"))
		nn_blas_level(atoi(getenv("NN_MAX_LEVEL")));
	nn_err err = { 0 };
	nn_net *net = nn_net_new(ARCH, (nn_shape){ 1, 28, 28 }, 10, 1, 2, batch, &err);
	if (!net) {
		fprintf(stderr, "bench_nn: %s\n", err.msg);
		return 1;
	}
	size_t per = (size_t)batch * 28 * 28;
	float *x = malloc(sizeof(float) * per * N_BUF), *probs = malloc(sizeof(float) * batch * 10);
	int *y = malloc(sizeof(int) * batch * N_BUF);
	uint64_t rng = 1;
	for (size_t i = 0; i < per * N_BUF; i++)
		x[i] = (float)nn_rng_uniform(&rng);
	for (int i = 0; i < batch * N_BUF; i++)
		y[i] = (int)(nn_rng_next(&rng) % 10);
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
