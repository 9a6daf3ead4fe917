/* Internals shared by the files of nn/: layer and net structures, the
 * worker threads, the kernels. Not for use outside nn/. */
#ifndef NN_IMPL_H
#define NN_IMPL_H

#include <pthread.h>
#include "nn.h"

#define NN_MAX_LAYERS 64
#define NN_MAX_THREADS 64
#define NN_MAX_ACT (1 << 28)    /* floats per sample of one layer, or its weights */
#define NN_MAX_SIDE 65536       /* input channels, height, width */

enum { L_CONV, L_DENSE, L_MAXPOOL, L_AVGPOOL, L_GAP, L_RELU, L_BN, L_DROPOUT };  /* as nn_layer_kind */
#define NN_BN_EPS 1e-5          /* batch normalisation: added to the variance */

/* One layer: its kind, hyper-parameters, shapes, where its parameters live. */
typedef struct nn_layer {
	int kind;
	char text[96];          /* normalised text, e.g. "conv 32 5 pad 2" */
	nn_shape in, out;
	int n_out, k, stride, pad;
	float drop_p;
	size_t w_off, n_w;      /* weights (BN: gamma) in net->params */
	size_t b_off, n_b;      /* bias (BN: beta) */
	size_t s_off;           /* BN: running mean at net->stats + s_off, var after */
	int inplace;            /* output aliases input (ReLU) */
	int need_dx;            /* backward must produce the input gradient */
	int relu_after;         /* conv/dense followed by ReLU: He initialisation */
	int fast;               /* conv: padded-rows path (AVX-512, stride 1);
	                           dense: weights read in place (AVX-512) */
	int fuse;               /* conv: runs the next 1 (ReLU) or 2 (ReLU, max pool) layers too */
	int fused;              /* ReLU / max pool run inside the conv before them */
	int chunk;              /* conv: images per GEMM */
} nn_layer;

/* A contiguous run of parameters and whether weight decay applies to it. */
typedef struct nn_seg { size_t off, len; int decay; } nn_seg;

/* Per-thread state: a share of the batch runs through the whole net.
 * Activations are stored channel-major for the share: [C][n][H][W]. */
typedef struct nn_worker {
	struct nn_net *net;
	int tid;
	pthread_t thread;
	int i0, n;              /* share of the current batch */
	float *act[NN_MAX_LAYERS + 1];
	float *gbuf[2];         /* ping-pong gradient buffers */
	float *col;             /* im2col scratch (plain or packed panels) */
	float *apack;           /* GEMM A-panel scratch */
	float *wflip;           /* flipped conv kernel for input gradients */
	float *wpack;           /* A panels packed whole (conv kernel, dense gradient) */
	float *pad;             /* padded chunk of conv input planes */
	float *tile;            /* conv GEMM result of a chunk, rows padded to 16 */
	float *dwt;             /* conv weight gradient, transposed */
	/* tables of the in-place products (nn_sgemm_rows / nn_sgemm_pieces):
	 * conv: row pieces of the padded chunk and kernel offsets (c, kh, kw);
	 * dense: weight rows, 16-feature or 16-pixel pieces, row offsets */
	int *voff;
	const float **arows;
	const float **pieces;
	int *koff;
	float *dchunk;          /* conv output gradient of a chunk (pooling fused) */
	float *gather;          /* dense layers: input as [features][n] */
	int32_t *argmax[NN_MAX_LAYERS];
	float *aux[NN_MAX_LAYERS];     /* BN: x-hat; dropout: mask */
	double *part[NN_MAX_LAYERS];   /* BN: per-channel sums, 1/std, gradient sums (6*C) */
	float *grad;            /* parameter gradients of this share */
	double loss;            /* weighted loss sum of the share */
	int correct;
	uint64_t rng;           /* dropout stream */
} nn_worker;

struct nn_net {
	nn_layer layers[NN_MAX_LAYERS];
	int n_layers, first_param;
	nn_shape in;
	int n_classes;
	char *arch;
	float *params; size_t n_params;
	float *stats; size_t n_stats;
	nn_seg segs[2 * NN_MAX_LAYERS]; int n_segs;
	/* optimiser */
	nn_opt opt; int has_opt;
	float *opt_m, *opt_v;
	uint64_t opt_t;
	uint64_t drop_rng;
	/* threads */
	int threads, max_batch, share_max;
	nn_worker *workers;
	pthread_barrier_t start, sync;
	int quit, pool_up;
	void (*job)(nn_worker *);
	/* the current call */
	const float *x; const int *labels; const float *class_weights;
	float *probs;
	int n, train;
	int micro_k, micro_last;   /* training: micro-batch k of the step, the step's last */
	float lr;
	double wsum;
	/* shares over processes (nn_set_dist): this process runs shares
	 * share0 .. share0 + threads - 1 of n_shares (share0 0 and n_shares
	 * threads without one) */
	int share0, n_shares;
	nn_dist dist; int has_dist, dist_failed;
	float *gsend, *grecv; size_t gstride;   /* gradient + loss blocks, floats per share */
	double *psend, *precv; size_t pmax;     /* BN partial sums, doubles per share */
};

/* blas.c: the single BLAS seam. Row-major C = alpha*op(A)*op(B) + beta*C. */
void nn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb,
              float beta, float *c, int ldc);
void nn_blas_init(void);
/* Tests: caps the kernel level (0 OpenBLAS only, 1 AVX2, 2 AVX-512) for
 * nets built after. */
void nn_blas_level(int max_level);
/* The kernel level in use: 2 AVX-512, 1 AVX2 + FMA, 0 none (OpenBLAS). */
int nn_simd_level(void);
/* The prepacked-B product (AVX2 / AVX-512 CPUs): nn_sgemm_panel() is the
 * panel width NR, or 0 when unavailable. bp holds B [k x n] as panels of
 * NR columns (zero beyond n), each k x NR row-major, k*NR floats apart.
 * apack: nn_sgemm_apack_floats() floats of scratch. */
int nn_sgemm_panel(void);
size_t nn_sgemm_apack_floats(void);
void nn_sgemm_pb(int trans_a, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *bp, float beta, float *c, int ldc, float *apack);
/* Packs op(A) [m x k] whole for nn_sgemm_pieces into ap, which holds
 * nn_sgemm_apacked_floats(m, k). */
size_t nn_sgemm_apacked_floats(int m, int k);
void nn_sgemm_pack_a(int trans_a, int m, int k, const float *a, int lda, float *ap);
/* C[m x n] = A * B (+ C when add), ap from nn_sgemm_pack_a, with B read
 * in place: column block j (16 columns; the last may be partial, but 16
 * floats are read) of row kk is the 16 floats at pieces[j] + koff[kk]. */
void nn_sgemm_pieces(int m, int n, int k, const float *ap, const float *const *pieces,
                     const int *koff, int add, float *c, int ldc);
/* C[m x n] += A * B, k = 16 * nv, where row i of A is read in place:
 * A[i][16 v + x] = arows[i][voff[v] + x]; bp as for nn_sgemm_pb. */
void nn_sgemm_rows(int m, int n, int nv, const float *const *arows, const int *voff,
                   const float *bp, float *c, int ldc);

/* layers.c */
void nn_layer_forward(nn_worker *w, int l);
void nn_layer_backward(nn_worker *w, int l, float *dy, float *dx);
void nn_sync(struct nn_net *net);
float nn_sum(const float *x, size_t n);

/* conv.c */
typedef struct nn_conv_scratch { size_t col, pad, tile, wpack, pieces, kk, dchunk; } nn_conv_scratch;
int nn_conv_fast(const nn_layer *ly);
nn_conv_scratch nn_conv_scratch_of(const nn_layer *ly);
void nn_conv_forward(nn_worker *w, int l);
void nn_conv_backward(nn_worker *w, int l, const float *dy, float *dx);

/* dense.c */
void nn_dense_forward(nn_worker *w, int l);
void nn_dense_backward(nn_worker *w, int l, const float *dy, float *dx);
nn_conv_scratch nn_dense_scratch_of(const nn_layer *ly, int share_max);

/* optim.c */
void nn_opt_update(struct nn_net *net, size_t a, size_t b);

/* dist.c: the gradient of share s (of net->n_shares), valid after
 * nn_dist_gather_grads; the len doubles at off of layer l's BN partial
 * sums of share s, valid after nn_dist_gather_parts with the same off. */
const float *nn_share_grad(const struct nn_net *net, int s);
/* The gradient blocks nn_opt_update adds (nn_share_grad 0 .. n-1): every
 * share's, or one when the processes summed them (nn_dist.allreduce). */
int nn_grad_blocks(const struct nn_net *net);
const double *nn_share_part(const struct nn_net *net, int l, int s, int off);
/* Called by every worker after its share's gradient (and loss) is done:
 * with processes, worker 0 gathers every share's; all wait for it. */
void nn_dist_gather_grads(nn_worker *w);
/* As nn_dist_gather_grads, for len doubles at off of layer l's partials. */
void nn_dist_gather_parts(nn_worker *w, int l, int off, int len);
/* Gathers the loss and hits of every share after an inference pass. */
int nn_dist_gather_eval(struct nn_net *net, double *loss, int *hits);
/* The loss and hits of a training step, summed in share order; -1 when a
 * gather of the step failed. */
int nn_dist_step_loss(struct nn_net *net, double *loss, int *hits);
void nn_dist_release(struct nn_net *net);

/* arch.c */
int nn_errorf(nn_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#ifdef __clang_analyzer__   /* what it returns, so error paths stay error paths */
#define nn_errorf(err, code, ...) (nn_errorf((err), (code), __VA_ARGS__), -(code))
#endif
int nn_parse_arch(struct nn_net *net, const char *arch, nn_err *err);

/* rng.c */
float nn_rng_normal(uint64_t *state);

/* net.c: nn_net_new without drawing initial weights when init is 0 (they
 * are left zero): for loaders that overwrite every weight anyway. A net with more
 * than max_params weights (0 = no limit) is refused before anything big is
 * allocated: a loader passes what its file can hold. */
nn_net *nn_net_build(const char *arch, nn_shape in, int n_classes, uint64_t seed,
                     int threads, int max_batch, int init, size_t max_params, nn_err *err);

#endif
