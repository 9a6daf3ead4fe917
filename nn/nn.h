/* nn: a small CNN library on OpenBLAS. Tensors are NCHW float32; a network
 * is built from an architecture string, trained batch by batch, saved as a
 * versioned, checksummed model file or a resumable training checkpoint.
 * Knows nothing of configuration files, workspaces or printing. */
#ifndef NN_H
#define NN_H

#include <stddef.h>
#include <stdint.h>

/* Error codes (negative return values); the numbers match io/err.h's
 * PL_E* so callers can pass them through. */
enum {
	NN_OK = 0,
	NN_EIO = 1,      /* cannot read or write a file */
	NN_EUSAGE = 2,   /* bad argument: architecture string, option, size */
	NN_EDATA = 3,    /* corrupt or incompatible model / checkpoint file */
	NN_ENOMEM = 4    /* allocation failed */
};

/* nn's own error record: functions that can fail return -code and fill it. */
typedef struct nn_err {
	int code;        /* NN_E*, 0 when nothing was recorded */
	char msg[512];   /* lowercase message naming what is at fault */
} nn_err;

typedef struct nn_net nn_net;  /* opaque: layers, weights, scratch, threads */

/* Shape of one input sample: channels, height, width. */
typedef struct nn_shape { int c, h, w; } nn_shape;

enum { NN_SGD = 0, NN_ADAM = 1, NN_ADAMW = 2 };                 /* nn_opt.kind */
enum { NN_LR_CONST = 0, NN_LR_STEP = 1, NN_LR_COSINE = 2 };     /* nn_opt.schedule */

/* Optimiser and learning-rate schedule. */
typedef struct nn_opt {
	int kind;            /* NN_SGD, NN_ADAM or NN_ADAMW */
	float lr;            /* base learning rate */
	float momentum;      /* SGD momentum (0 = plain SGD) */
	int nesterov;        /* SGD: Nesterov momentum when non-zero */
	float beta1, beta2;  /* Adam moments (0.9, 0.999) */
	float eps;           /* Adam epsilon (1e-8) */
	float weight_decay;  /* L2 penalty (SGD, Adam) or decoupled decay (AdamW);
	                        applied to conv/dense weights, not biases or BN */
	int schedule;        /* NN_LR_CONST, NN_LR_STEP or NN_LR_COSINE */
	int step_epochs;     /* NN_LR_STEP: multiply by step_gamma every step_epochs */
	float step_gamma;
	int warmup_epochs;   /* linear warm-up from ~0 to lr over these epochs */
	int epochs;          /* total epochs (the cosine schedule's length) */
} nn_opt;

/* Fills opt with defaults: SGD, lr 0.01, momentum 0.9, Adam betas
 * 0.9/0.999, eps 1e-8, no decay, constant schedule, 10 epochs. */
void nn_opt_default(nn_opt *opt);

/* Builds a network from an architecture string such as
 * "conv 32 5 pad 2, relu, maxpool 2, conv 64 5 pad 2, relu, maxpool 2,
 *  dense 128, relu, dense" (the last dense without a size gets n_classes).
 * Layers: conv N K [stride S] [pad P], maxpool K [stride S], avgpool K
 * [stride S], gap, bn, relu, dropout P, dense [N]. Weights are initialised
 * (He before ReLU, Glorot otherwise) from seed. threads: worker threads,
 * 1 or more (at most 64 and max_batch are used; the caller decides how
 * many CPUs that is, nn does not look); each runs the whole net on a fixed
 * share of every batch, so the same seed, data and thread count give
 * bit-identical weights. max_batch: the largest batch nn_train_batch will
 * get; scratch memory is allocated once for it. nn sets OpenBLAS to one
 * thread (process-wide). Returns NULL and fills err on a
 * bad string ("layer 4 'maxpool 2': input 1x1 is smaller than the window")
 * or failed allocation. Caller frees with nn_net_free. */
nn_net *nn_net_new(const char *arch, nn_shape in, int n_classes, uint64_t seed,
                   int threads, int max_batch, nn_err *err);

/* Checks that arch parses and fits input in with n_classes outputs (0: a
 * count not known yet), without building the net: 0, or -NN_EUSAGE with
 * the message nn_net_new would give. */
int nn_arch_check(const char *arch, nn_shape in, int n_classes, nn_err *err);

/* Frees net and its threads; NULL is a no-op. */
void nn_net_free(nn_net *net);

/* Sets the optimiser (resets its state: momenta, Adam step count).
 * Returns 0, or -NN_EUSAGE for a bad option. */
int nn_set_optimizer(nn_net *net, const nn_opt *opt, nn_err *err);

/* The learning rate of opt's schedule at a point of training: epoch is
 * 0-based, step the batch index within it (warm-up is per step). */
float nn_lr_at(const nn_opt *opt, int epoch, int step, int steps_per_epoch);

/* One optimiser step on a batch of n <= max_batch samples (x: n x C x H x W,
 * labels in 0..n_classes-1) at learning rate lr (nn_lr_at gives the
 * schedule's; without nn_set_optimizer: SGD, momentum 0.9), in training mode (batch
 * statistics, dropout). class_weights: n_classes weights or NULL. *loss
 * (may be NULL) gets the weighted mean cross-entropy, *n_correct (may be
 * NULL) the number of arg-max hits. Returns 0, or -NN_EUSAGE for a bad n
 * or label, -NN_ENOMEM for the optimiser state (err filled). */
int nn_train_batch(nn_net *net, const float *x, const int *labels, int n,
                   float lr, const float *class_weights, float *loss, int *n_correct,
                   nn_err *err);

/* One optimiser step on a group of n samples run as micro-batches of
 * micro samples (the last may be smaller; micro <= max_batch, n any
 * size): each thread adds the gradients of its share of every
 * micro-batch to its own sum, micro-batch after micro-batch, and the
 * threads' (and processes') sums are added in share order once, before
 * the update. The loss is normalised by the class weights of the whole
 * group, so the step follows the mean loss of the n samples; batch-norm
 * statistics are those of each micro-batch, and each micro-batch draws
 * its own dropout masks. nn_train_batch is micro = n. The weights depend
 * on micro, n and the thread count, not on the processes; they are not
 * bit-identical to one batch of n (the products that sum over samples
 * round differently). *loss and *n_correct are the group's. Returns as
 * nn_train_batch. */
int nn_train_accum(nn_net *net, const float *x, const int *labels, int n, int micro,
                   float lr, const float *class_weights, float *loss, int *n_correct,
                   nn_err *err);

/* Inference mode (running BN statistics, no dropout): probs gets n x
 * n_classes softmax probabilities. Any n >= 0 (processed in pieces of
 * max_batch). On CPUs with AVX-512 a sample's probabilities do not depend
 * on the batch it came in; elsewhere (OpenBLAS) they may differ in the
 * last bits. Returns 0, or -NN_EUSAGE (err filled). */
int nn_predict(nn_net *net, const float *x, int n, float *probs, nn_err *err);

/* Inference-mode loss and accuracy of n labelled samples (validation):
 * like nn_train_batch without the update. probs (may be NULL) gets n x
 * n_classes probabilities. Returns 0, or -NN_EUSAGE (err filled). */
int nn_eval_batch(nn_net *net, const float *x, const int *labels, int n,
                  const float *class_weights, float *loss, int *n_correct, float *probs,
                  nn_err *err);

int nn_n_classes(const nn_net *net);
nn_shape nn_input_shape(const nn_net *net);
const char *nn_arch(const nn_net *net);      /* normalised architecture string */
size_t nn_n_params(const nn_net *net);       /* trainable parameters */
int nn_threads(const nn_net *net);           /* worker threads actually used */
int nn_max_batch(const nn_net *net);

/* Data-parallel training over processes: each process runs its threads
 * over its consecutive shares of every batch (all processes get the whole
 * batch), and the per-share partial sums (gradients, batch-norm
 * statistics, losses) are gathered and added in share order, so P
 * processes of T threads give the weights of one process of P x T
 * threads, bit for bit. Every process must have the same thread count. */
typedef struct nn_dist {
	int share0;        /* this process's first share: its index x its threads */
	int n_shares;      /* shares over all processes: processes x threads */
	/* local: this process's nn_threads() blocks of bytes each; all gets
	 * the n_shares blocks of every process in share order. Called by the
	 * thread that called nn_train_batch / nn_eval_batch. Returns 0, or
	 * non-zero to fail the call. */
	int (*allgather)(void *ctx, const void *local, void *all, size_t bytes);
	/* Copies bytes at buf of process 0 to every process. Returns 0 or non-zero. */
	int (*bcast)(void *ctx, void *buf, size_t bytes);
	/* NULL: the gradients are gathered and added in share order (exact).
	 * Otherwise each process adds its own shares in order and this sums
	 * the n floats at buf over the processes in place, in an order of its
	 * own: one call per optimiser step, the processes' weights may then
	 * drift apart in the last bits. Returns 0, or non-zero to fail. */
	int (*allreduce)(void *ctx, float *buf, size_t n);
	void *ctx;
} nn_dist;

/* Makes net one of dist->n_shares / nn_threads(net) processes (see
 * nn_dist). nn_train_batch and nn_eval_batch then run this process's
 * shares and gather the others'; nn_eval_batch fills probs of this
 * process's shares only. Returns 0, -NN_EUSAGE (shares that do not fit
 * the threads or the batch) or -NN_ENOMEM. */
int nn_set_dist(nn_net *net, const nn_dist *dist, nn_err *err);

/* Copies process 0's weights, BN statistics, optimiser state and dropout
 * generator to every process (after nn_set_dist; at the start of a run
 * or after process 0 loaded a checkpoint). Returns 0 or -NN_EIO. */
int nn_dist_bcast_state(nn_net *net, nn_err *err);

/* The trainable parameters (nn_n_params floats) and the BN running
 * statistics (*n_stats floats), read-only: for checksums. */
const float *nn_params(const nn_net *net);
const float *nn_stats(const nn_net *net, size_t *n_stats);

/* Everything a model file carries besides the network. */
typedef struct nn_meta {
	int n_classes;       /* must equal the net's */
	char **class_names;  /* n_classes strings */
	int n_channels;      /* normalisation: per-channel mean and std */
	float *mean, *std;   /* n_channels each (may be NULL with n_channels 0) */
	char *extra;         /* opaque caller string (JSON of preprocessing), may be NULL */
} nn_meta;

/* Frees what nn_model_load put in meta and zeroes it; NULL is a no-op. */
void nn_meta_free(nn_meta *meta);

/* Writes the model file: magic, format version, architecture, input shape,
 * meta, weights, BN statistics, checksum; fsynced. Writes path directly
 * (callers wanting atomicity write a temporary name and rename).
 * Returns 0, -NN_EIO or -NN_EUSAGE (meta does not fit the net). */
int nn_model_save(const nn_net *net, const nn_meta *meta, const char *path, nn_err *err);

/* Reads a model file into a new net (threads, max_batch as nn_net_new) and
 * fills meta (may be NULL; caller frees with nn_meta_free). Refuses wrong
 * magic, a newer version, a bad checksum or a truncated file with -NN_EDATA
 * and a message naming path. Caller frees the net with nn_net_free. */
nn_net *nn_model_load(const char *path, int threads, int max_batch, nn_meta *meta, nn_err *err);

/* As nn_model_load, from a model file image of len bytes in memory (name
 * is used in messages); image is not kept. */
nn_net *nn_model_load_mem(const void *image, size_t len, const char *name, int threads,
                          int max_batch, nn_meta *meta, nn_err *err);

/* Writes a training checkpoint: weights, BN statistics, optimiser settings
 * and state, the dropout generator, and blob (caller's opaque bytes: epoch,
 * RNG state, history); fsynced. Returns 0 or -NN_EIO. */
int nn_checkpoint_save(const nn_net *net, const void *blob, size_t blob_len,
                       const char *path, nn_err *err);

/* Restores a checkpoint into net (built with the same architecture, input
 * and classes; thread count should match for bit-identical continuation).
 * Replaces the optimiser settings and state too: do not call
 * nn_set_optimizer afterwards. *blob gets a malloc'd copy of the caller's
 * bytes (NULL when empty; caller frees), *blob_len its length; both may be
 * NULL. Returns 0, -NN_EIO or -NN_EDATA (net may then be partly
 * overwritten: rebuild it). */
int nn_checkpoint_load(nn_net *net, const char *path, void **blob, size_t *blob_len, nn_err *err);

/* Augments a batch in place (x: n x s.c x s.h x s.w): per sample, random
 * horizontal and vertical flips when flips, a random multiple of 90-degree
 * rotation when rot90 (square inputs only; ignored otherwise). Draws from
 * *rng_state with nn_rng_next, so a seeded state gives the same result. */
void nn_augment(float *x, int n, nn_shape s, uint64_t *rng_state, int flips, int rot90);

/* The library's generator (splitmix64): advances *state, returns 64 bits.
 * Any seed is a valid initial state. */
uint64_t nn_rng_next(uint64_t *state);

/* A uniform double in [0, 1) from nn_rng_next. */
double nn_rng_uniform(uint64_t *state);

/* The order in which an epoch visits n samples: order[0..n) gets a
 * permutation of 0..n-1 (unbiased Fisher-Yates with nn_rng_next) that
 * depends only on (seed, epoch), not on how the samples are stored. */
void nn_epoch_order(int64_t *order, int64_t n, uint64_t seed, int epoch);

/* A read-only view of one layer of a net, for writing it in other formats
 * (ONNX). Pointers are into the net and valid while it lives. */
typedef enum nn_layer_kind {
	NN_LAYER_CONV, NN_LAYER_DENSE, NN_LAYER_MAXPOOL, NN_LAYER_AVGPOOL, NN_LAYER_GAP,
	NN_LAYER_RELU, NN_LAYER_BN, NN_LAYER_DROPOUT
} nn_layer_kind;

typedef struct nn_layer_view {
	nn_layer_kind kind;
	nn_shape in, out;
	int n_out, k, stride, pad;  /* conv, dense (n_out), pooling (k, stride) */
	const float *w, *b;     /* conv: n_out x in.c x k x k and n_out; dense: n_out x
	                           (in.c x in.h x in.w, channel-major) and n_out; bn: gamma, beta */
	const float *mean, *var;    /* bn: running statistics, in.c each */
	float eps;                  /* bn: added to var */
} nn_layer_view;

int nn_n_layers(const nn_net *net);
/* Layer i (0 .. nn_n_layers - 1), input side first. */
nn_layer_view nn_layer_at(const nn_net *net, int i);

#endif
