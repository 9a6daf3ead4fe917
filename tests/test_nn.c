/* Unit tests of nn/: numeric gradient checks of every layer, training to
 * zero loss, model files and checkpoints, determinism, arch errors. */
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "../nn/nn_impl.h"

/* The error record of the batch calls whose failures the checks print. */
static nn_err nn_e;

static void fill_random(float *x, size_t n, uint64_t seed)
{
	uint64_t s = seed;
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(2.0 * nn_rng_uniform(&s) - 1.0);
}

/* Weighted mean loss of one training-mode pass with no update (lr 0,
 * plain SGD); the dropout stream is reset so every pass sees one mask. */
static double loss_at(nn_net *net, const float *x, const int *y, int n, const float *cw)
{
	net->drop_rng = 12345;
	CHECK(nn_train_batch(net, x, y, n, 0.0f, cw, NULL, NULL, &nn_e) == 0, "%s", nn_e.msg);
	double s = 0.0;
	for (int t = 0; t < net->threads; t++)
		s += net->workers[t].loss;
	return s / net->wsum;
}

/* Compares analytic and central-difference gradients of every parameter;
 * returns the number of parameters outside tolerance. */
static int grad_check(const char *arch, nn_shape in, int k, int n, int weighted)
{
	nn_err err = { 0 };
	nn_net *net = nn_net_new(arch, in, k, 7, 1, n, &err);
	CHECK(net != NULL, "%s: %s", arch, err.msg);
	if (!net)
		return 1;
	nn_opt opt;
	nn_opt_default(&opt);
	opt.momentum = 0.0f;
	CHECK_OK(nn_set_optimizer(net, &opt, &err), &err);
	size_t nx = (size_t)n * in.c * in.h * in.w, P = net->n_params;
	float *x = malloc(nx * sizeof(float)), *ana = malloc(P * sizeof(float));
	int *y = malloc((size_t)n * sizeof(int)), bad = 0;
	float cw[8] = { 1.0f, 2.5f, 0.5f, 1.5f, 1.0f, 3.0f, 0.7f, 1.2f };
	fill_random(x, nx, 99);
	fill_random(net->params, P, 5);   /* also non-trivial BN gamma/beta */
	for (int i = 0; i < n; i++)
		y[i] = (i * 7 + 3) % k;
	loss_at(net, x, y, n, weighted ? cw : NULL);
	memcpy(ana, net->workers[0].grad, P * sizeof(float));
	/* float activations: a step too small drowns in rounding, one too big
	 * may cross a ReLU or max-pool kink; a gradient passes when it agrees
	 * with the central difference at either of two steps. */
	double max_rel = 0.0;
	for (size_t p = 0; p < P; p++) {
		float keep = net->params[p];
		double best = INFINITY, num = 0.0, a = ana[p];
		for (double h = 1e-3; h < 5e-3; h *= 3) {
			net->params[p] = keep + (float)h;
			double lp = loss_at(net, x, y, n, weighted ? cw : NULL);
			net->params[p] = keep - (float)h;
			double lm = loss_at(net, x, y, n, weighted ? cw : NULL);
			net->params[p] = keep;
			num = (lp - lm) / (2 * h);
			best = fmin(best, fabs(num - a) / fmax(fmax(fabs(num), fabs(a)), 1e-2));
		}
		max_rel = fmax(max_rel, best);
		if (best > 2e-2) {
			if (bad < 3)
				fprintf(stderr, "  %s: param %zu analytic %.6g numeric %.6g\n", arch, p, a, num);
			bad++;
		}
	}
	CHECK(bad == 0, "%s: %d of %zu gradients off (max rel %.3g)", arch, bad, P, max_rel);
	free(x);
	free(ana);
	free(y);
	nn_net_free(net);
	return bad;
}

static void test_grad_conv(void)
{
	grad_check("conv 4 3 stride 2 pad 1, dense", (nn_shape){ 2, 5, 7 }, 3, 4, 0);
	grad_check("conv 3 3, dense", (nn_shape){ 2, 6, 6 }, 3, 3, 0);
	grad_check("conv 2 1, relu, conv 3 3 pad 1, dense 5, relu, dense", (nn_shape){ 3, 5, 5 }, 4, 5, 0);
	grad_check("conv 3 2 stride 2, conv 2 3 pad 2 stride 1, dense", (nn_shape){ 1, 7, 6 }, 2, 3, 0);
	grad_check("conv 2 1, conv 3 3 stride 2 pad 1, relu, dense", (nn_shape){ 2, 7, 7 }, 3, 3, 0);
}

static void test_grad_pools(void)
{
	grad_check("conv 3 3 pad 1, maxpool 2, dense", (nn_shape){ 2, 6, 6 }, 3, 4, 0);
	grad_check("conv 3 3 pad 1, maxpool 3 stride 2, dense", (nn_shape){ 1, 7, 7 }, 3, 3, 0);
	grad_check("conv 3 3, avgpool 2 stride 1, dense", (nn_shape){ 2, 6, 5 }, 3, 4, 0);
	grad_check("conv 4 3 pad 1, relu, gap, dense", (nn_shape){ 2, 5, 5 }, 3, 4, 0);
	/* conv + ReLU + max pool run fused; rows wider than 16 pixels */
	grad_check("conv 3 3 pad 1, relu, maxpool 2, dense", (nn_shape){ 2, 6, 6 }, 3, 4, 0);
	grad_check("conv 2 3 pad 1, relu, conv 3 3 pad 1, relu, maxpool 3 stride 2, dense",
	           (nn_shape){ 1, 5, 21 }, 3, 3, 0);
	grad_check("conv 2 3 pad 1, relu, maxpool 2, dense", (nn_shape){ 1, 5, 37 }, 2, 3, 0);
	grad_check("conv 2 3, relu, maxpool 2 stride 1, dense", (nn_shape){ 1, 5, 6 }, 2, 3, 0);
}

static void test_grad_bn(void)
{
	grad_check("conv 3 3 pad 1, bn, relu, dense", (nn_shape){ 2, 5, 5 }, 3, 6, 0);
	grad_check("dense 6, bn, relu, dense", (nn_shape){ 1, 4, 4 }, 3, 8, 0);
}

static void test_grad_dense_ce_weights(void)
{
	grad_check("dense 8, relu, dense", (nn_shape){ 1, 3, 3 }, 5, 7, 1);
	grad_check("dense 8, dropout 0.5, dense", (nn_shape){ 2, 2, 2 }, 4, 6, 1);
	/* features and pixels in multiples of 16 (weights read in place on the
	 * packed path), more samples than one 32-sample panel; no ReLU, whose
	 * kinks many samples would make the finite differences cross */
	grad_check("conv 2 3 pad 1, dense 16, dense", (nn_shape){ 1, 4, 4 }, 3, 37, 1);
}

/* Class 0: bright left half; class 1: bright right half. */
static void make_halves(float *x, int *y, int n, uint64_t seed)
{
	uint64_t s = seed;
	for (int i = 0; i < n; i++) {
		y[i] = i % 2;
		for (int r = 0; r < 6; r++)
			for (int c = 0; c < 6; c++)
				x[i * 36 + r * 6 + c] = (float)(((c < 3) == (y[i] == 0) ? 1.0 : 0.0) +
				                                0.2 * nn_rng_uniform(&s));
	}
}

static void test_learns_separable(void)
{
	nn_err err = { 0 };
	nn_net *net = nn_net_new("conv 4 3 pad 1, relu, maxpool 2, dense 8, relu, dense",
	                         (nn_shape){ 1, 6, 6 }, 2, 3, 2, 16, &err);
	CHECK(net != NULL, "%s", err.msg);
	float x[16 * 36], loss = 1.0f;
	int y[16], hits = 0;
	make_halves(x, y, 16, 1);
	for (int it = 0; it < 150; it++)
		CHECK(nn_train_batch(net, x, y, 16, 0.05f, NULL, &loss, &hits, &nn_e) == 0, "%s", nn_e.msg);
	CHECK(loss < 0.01f, "loss %g after 150 steps", (double)loss);
	CHECK(hits == 16, "%d of 16 right", hits);
	float probs[16 * 2];
	CHECK(nn_predict(net, x, 16, probs, &nn_e) == 0, "%s", nn_e.msg);
	int right = 0;
	for (int i = 0; i < 16; i++)
		right += (probs[2 * i + 1] > 0.5f) == (y[i] == 1);
	CHECK(right == 16, "predict: %d of 16 right", right);
	nn_net_free(net);
}

static nn_net *trained_net(const char *arch, int threads, uint64_t seed, int steps, const nn_opt *opt)
{
	nn_err err = { 0 };
	nn_net *net = nn_net_new(arch, (nn_shape){ 1, 6, 6 }, 2, seed, threads, 16, &err);
	CHECK(net != NULL, "%s", err.msg);
	if (opt)
		CHECK_OK(nn_set_optimizer(net, opt, &err), &err);
	float x[16 * 36];
	int y[16];
	for (int it = 0; it < steps; it++) {
		make_halves(x, y, 16, (uint64_t)it);
		nn_train_batch(net, x, y, 16, 0.02f, NULL, NULL, NULL, &nn_e);
	}
	return net;
}

static const char *ARCH_ALL = "conv 4 3 pad 1, bn, relu, maxpool 2, dense 8, relu, dropout 0.3, dense";

static void test_model_roundtrip(void)
{
	nn_err err = { 0 };
	nn_net *net = trained_net(ARCH_ALL, 2, 1, 5, NULL);
	char *names[] = { "left", "right" };
	float mean[] = { 0.5f }, sd[] = { 0.25f };
	nn_meta meta = { 2, names, 1, mean, sd, "{\"size\":6}" }, back = { 0 };
	CHECK_OK(nn_model_save(net, &meta, "m.pnn", &err), &err);
	nn_net *copy = nn_model_load("m.pnn", 1, 16, &back, &err);
	CHECK(copy != NULL, "%s", err.msg);
	if (!copy)
		return;
	float x[16 * 36], p1[32], p2[32];
	int y[16];
	make_halves(x, y, 16, 42);
	CHECK(nn_predict(net, x, 16, p1, &nn_e) == 0, "%s", nn_e.msg);
	CHECK(nn_predict(copy, x, 16, p2, &nn_e) == 0, "%s", nn_e.msg);
	CHECK(memcmp(p1, p2, sizeof(p1)) == 0, "predictions differ after reload");
	CHECK(!strcmp(nn_arch(copy), nn_arch(net)), "arch '%s'", nn_arch(copy));
	CHECK(back.n_classes == 2 && !strcmp(back.class_names[1], "right"), "class names");
	CHECK(back.n_channels == 1 && back.mean[0] == 0.5f && back.std[0] == 0.25f, "normalisation");
	CHECK(back.extra && !strcmp(back.extra, "{\"size\":6}"), "extra '%s'", back.extra ? back.extra : "");
	nn_meta_free(&back);
	nn_net_free(copy);
	nn_net_free(net);
}

static int load_fails_with(const char *path, const char *needle)
{
	nn_err err = { 0 };
	nn_net *net = nn_model_load(path, 1, 4, NULL, &err);
	CHECK(net == NULL, "loaded a broken file %s", path);
	nn_net_free(net);
	CHECK(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
	CHECK(err.code == NN_EDATA, "code %d", err.code);
	return 0;
}

static void write_bytes(const char *path, const unsigned char *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	CHECK(f && fwrite(p, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

static void test_model_broken(void)
{
	nn_err err = { 0 };
	nn_net *net = trained_net(ARCH_ALL, 1, 1, 2, NULL);
	CHECK_OK(nn_model_save(net, NULL, "m.pnn", &err), &err);
	nn_net_free(net);
	FILE *f = fopen("m.pnn", "rb");
	unsigned char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	CHECK(n > 100 && n < sizeof(buf), "model size %zu", n);
	buf[0] ^= 0xff;
	write_bytes("magic.pnn", buf, n);
	load_fails_with("magic.pnn", "wrong magic");
	buf[0] ^= 0xff;
	buf[8] = 2;
	write_bytes("newer.pnn", buf, n);
	load_fails_with("newer.pnn", "newer");
	buf[8] = 1;
	buf[n / 2] ^= 0x10;
	write_bytes("flip.pnn", buf, n);
	load_fails_with("flip.pnn", "checksum");
	buf[n / 2] ^= 0x10;
	write_bytes("short.pnn", buf, n - 50);
	load_fails_with("short.pnn", "truncated");
	write_bytes("tiny.pnn", buf, 10);
	load_fails_with("tiny.pnn", "truncated");
	write_bytes("ok.pnn", buf, n);
	net = nn_model_load("ok.pnn", 1, 4, NULL, &err);
	CHECK(net != NULL, "intact copy refused: %s", err.msg);
	nn_net_free(net);
	CHECK(nn_model_load("missing.pnn", 1, 4, NULL, &err) == NULL && err.code == NN_EIO &&
	      strstr(err.msg, "missing.pnn"), "missing file: %s", err.msg);
}

static void test_checkpoint_resume(void)
{
	nn_err err = { 0 };
	nn_opt opt;
	nn_opt_default(&opt);
	opt.kind = NN_ADAMW;
	opt.lr = 0.01f;
	opt.weight_decay = 0.01f;
	nn_net *full = trained_net(ARCH_ALL, 2, 4, 8, &opt);
	nn_net *half = trained_net(ARCH_ALL, 2, 4, 4, &opt);
	const char blob[] = "epoch=4";
	CHECK_OK(nn_checkpoint_save(half, blob, sizeof(blob), "c.ckpt", &err), &err);
	nn_net_free(half);
	nn_net *res = nn_net_new(ARCH_ALL, (nn_shape){ 1, 6, 6 }, 2, 999, 2, 16, &err);
	void *back = NULL;
	size_t back_len = 0;
	CHECK_OK(nn_checkpoint_load(res, "c.ckpt", &back, &back_len, &err), &err);
	CHECK(back_len == sizeof(blob) && back && !memcmp(back, blob, back_len), "blob");
	free(back);
	float x[16 * 36];
	int y[16];
	for (int it = 4; it < 8; it++) {
		make_halves(x, y, 16, (uint64_t)it);
		nn_train_batch(res, x, y, 16, 0.02f, NULL, NULL, NULL, &nn_e);
	}
	CHECK(memcmp(res->params, full->params, full->n_params * sizeof(float)) == 0,
	      "resumed weights differ from uninterrupted");
	CHECK(memcmp(res->stats, full->stats, full->n_stats * sizeof(float)) == 0, "BN statistics differ");
	nn_net *other = nn_net_new("dense 4, dense", (nn_shape){ 1, 6, 6 }, 2, 1, 1, 4, &err);
	CHECK(nn_checkpoint_load(other, "c.ckpt", NULL, NULL, &err) == -NN_EDATA &&
	      strstr(err.msg, "another network"), "mismatched net: %s", err.msg);
	nn_net_free(other);
	nn_net_free(res);
	nn_net_free(full);
}

static void test_deterministic(void)
{
	nn_net *a = trained_net(ARCH_ALL, 2, 11, 6, NULL), *b = trained_net(ARCH_ALL, 2, 11, 6, NULL);
	nn_net *c = trained_net(ARCH_ALL, 2, 12, 6, NULL);
	CHECK(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0, "same seed, different weights");
	CHECK(memcmp(a->params, c->params, a->n_params * sizeof(float)) != 0, "seed has no effect");
	nn_net_free(a);
	nn_net_free(b);
	nn_net_free(c);
	/* The thread split changes only rounding: 1 and 2 threads agree closely. */
	a = trained_net("conv 4 3 pad 1, bn, relu, maxpool 2, dense", 1, 3, 3, NULL);
	b = trained_net("conv 4 3 pad 1, bn, relu, maxpool 2, dense", 2, 3, 3, NULL);
	double maxd = 0.0;
	for (size_t i = 0; i < a->n_params; i++)
		maxd = fmax(maxd, fabs((double)a->params[i] - b->params[i]));
	CHECK(maxd < 1e-4, "1 vs 2 threads differ by %g", maxd);
	nn_net_free(a);
	nn_net_free(b);
}

/* Batches smaller than the thread count, and predictions in pieces of
 * max_batch, agree with one whole batch. */
static void test_small_batches(void)
{
	nn_err err = { 0 };
	nn_net *net = nn_net_new(ARCH_ALL, (nn_shape){ 1, 6, 6 }, 2, 5, 2, 16, &err);
	nn_net *small = nn_net_new(ARCH_ALL, (nn_shape){ 1, 6, 6 }, 2, 5, 2, 3, &err);
	CHECK(net && small, "%s", err.msg);
	if (!net || !small)
		return;
	float x[16 * 36], loss = -1.0f, p1[32], p2[32];
	int y[16];
	make_halves(x, y, 16, 3);
	CHECK(nn_train_batch(net, x, y, 1, 0.01f, NULL, &loss, NULL, &nn_e) == 0 && isfinite(loss) && loss > 0.0f,
	      "one-sample batch on two threads: %s, loss %g", nn_e.msg, (double)loss);
	memcpy(small->params, net->params, net->n_params * sizeof(float));
	memcpy(small->stats, net->stats, net->n_stats * sizeof(float));
	CHECK(nn_predict(net, x, 16, p1, &nn_e) == 0 && nn_predict(small, x, 16, p2, &nn_e) == 0, "predict");
	double maxd = 0.0;
	for (int i = 0; i < 32; i++)
		maxd = fmax(maxd, fabs((double)p1[i] - p2[i]));
	/* bit-identical on the packed path, whose sums run in a fixed order */
	CHECK(nn_simd_level() == 2 ? maxd == 0.0 : maxd < 1e-6, "pieces of 3 differ from one batch by %g", maxd);
	nn_net_free(net);
	nn_net_free(small);
}

static void expect_arch_error(const char *arch, const char *needle)
{
	nn_err err = { 0 };
	nn_net *net = nn_net_new(arch, (nn_shape){ 1, 28, 28 }, 10, 1, 1, 4, &err);
	CHECK(net == NULL, "'%s' accepted", arch);
	nn_net_free(net);
	CHECK(strstr(err.msg, needle) != NULL, "'%s': message '%s' lacks '%s'", arch, err.msg, needle);
	CHECK(err.code == NN_EUSAGE, "code %d", err.code);
	nn_err check = { 0 };
	CHECK(nn_arch_check(arch, (nn_shape){ 1, 28, 28 }, 10, &check) == -NN_EUSAGE &&
	      !strcmp(check.msg, err.msg), "'%s': nn_arch_check says '%s'", arch, check.msg);
}

static void test_arch_errors(void)
{
	expect_arch_error("conv 8 3, maxpool 2, maxpool 2, maxpool 2, maxpool 2, maxpool 2, dense",
	                  "layer 6 'maxpool 2': input 1x1 is smaller than the window");
	expect_arch_error("conv 8 3, relux, dense", "layer 2 'relux': unknown layer");
	expect_arch_error("conv 8, dense", "layer 1 'conv 8': missing size");
	expect_arch_error("conv 8 3 pad x, dense", "layer 1 'conv 8 3 pad x': bad pad");
	expect_arch_error("dense 5", "layer 1 'dense 5'");
	expect_arch_error("dropout 1.5, dense", "layer 1 'dropout 1.5'");
	expect_arch_error("conv 8 3,, dense", "layer 2 is empty");
	expect_arch_error("conv 4 3 pad 1", "one per class (10)");
	nn_err err0 = { 0 };   /* a class count not known yet: any final dense */
	CHECK(nn_arch_check("conv 8 3, relu, dense 7", (nn_shape){ 3, 28, 28 }, 0, &err0) == 0, "%s", err0.msg);
	CHECK(nn_arch_check("conv 8 3, relu, dense", (nn_shape){ 3, 28, 28 }, 0, &err0) == 0, "%s", err0.msg);
	CHECK(nn_arch_check("conv 4 3 pad 1", (nn_shape){ 3, 28, 28 }, 0, &err0) == -NN_EUSAGE &&
	      strstr(err0.msg, "4x28x28 outputs, not one per class; end with 'dense'"), "%s", err0.msg);
	nn_err err = { 0 };
	nn_net *net = nn_net_new(" conv 32 5 pad 2 ,relu, maxpool 2, conv 64 5 pad 2, relu, maxpool 2, "
	                         "dense 128, relu, dense", (nn_shape){ 1, 28, 28 }, 10, 1, 1, 4, &err);
	CHECK(net != NULL, "%s", err.msg);
	if (!net)
		return;
	CHECK(!strcmp(nn_arch(net), "conv 32 5 pad 2, relu, maxpool 2, conv 64 5 pad 2, relu, maxpool 2, "
	              "dense 128, relu, dense 10"), "normalised '%s'", nn_arch(net));
	CHECK(nn_n_params(net) == 832 + 51264 + 401536 + 1290, "params %zu", nn_n_params(net));
	CHECK(nn_train_batch(net, NULL, NULL, 5, 0.1f, NULL, NULL, NULL, &nn_e) == -NN_EUSAGE &&
	      strstr(nn_e.msg, "1..4"), "batch too big: %s", nn_e.msg);
	float x[28 * 28] = { 0 };
	int bad = 10;
	CHECK(nn_train_batch(net, x, &bad, 1, 0.1f, NULL, NULL, NULL, &nn_e) == -NN_EUSAGE &&
	      strstr(nn_e.msg, "label 10"), "bad label: %s", nn_e.msg);
	nn_net_free(net);
}

/* The thread count is the caller's: nn refuses 0 rather than guess. */
static void test_threads_explicit(void)
{
	nn_err err = { 0 };
	nn_net *net = nn_net_new("dense", (nn_shape){ 1, 2, 2 }, 2, 1, 0, 4, &err);
	CHECK(net == NULL && err.code == NN_EUSAGE && strstr(err.msg, "threads 0") &&
	      strstr(err.msg, "1 or more threads"), "threads 0: %s", err.msg);
	nn_net_free(net);
	net = nn_net_new("dense", (nn_shape){ 1, 2, 2 }, 2, 1, 3, 2, &err);
	CHECK(net && nn_threads(net) == 2, "3 threads for batches of 2: %d", net ? nn_threads(net) : -1);
	nn_net_free(net);
}

/* The gradient of the loss at params p (a plain SGD probe with lr 0). */
static void grad_at(nn_net *probe, const float *p, const float *x, const int *y, int n, float *g)
{
	memcpy(probe->params, p, probe->n_params * sizeof(float));
	nn_train_batch(probe, x, y, n, 0.0f, NULL, NULL, NULL, &nn_e);
	memcpy(g, probe->workers[0].grad, probe->n_params * sizeof(float));
}

/* Two steps of each optimiser against the update rules written out. */
static void test_optimizers(void)
{
	const char *arch = "dense 6, relu, dense";
	nn_shape in = { 1, 3, 3 };
	float x[8 * 9];
	int y[8];
	fill_random(x, sizeof(x) / sizeof(x[0]), 4);
	for (int i = 0; i < 8; i++)
		y[i] = i % 3;
	for (int kind = 0; kind < 4; kind++) {
		nn_err err = { 0 };
		nn_net *net = nn_net_new(arch, in, 3, 9, 1, 8, &err), *probe = nn_net_new(arch, in, 3, 9, 1, 8, &err);
		nn_opt o, plain;
		nn_opt_default(&o);
		nn_opt_default(&plain);
		plain.momentum = 0.0f;
		o.kind = kind == 3 ? NN_ADAMW : kind == 2 ? NN_ADAM : NN_SGD;
		o.nesterov = kind == 1;
		o.weight_decay = 0.05f;
		CHECK_OK(nn_set_optimizer(net, &o, &err), &err);
		CHECK_OK(nn_set_optimizer(probe, &plain, &err), &err);
		size_t P = net->n_params;
		float *p = malloc(P * sizeof(float)), *g = malloc(P * sizeof(float));
		float *m = calloc(P, sizeof(float)), *v = calloc(P, sizeof(float));
		memcpy(p, net->params, P * sizeof(float));
		double worst = 0.0;
		for (int t = 1; t <= 2; t++) {
			float lr = 0.1f;
			grad_at(probe, p, x, y, 8, g);
			nn_train_batch(net, x, y, 8, lr, NULL, NULL, NULL, &nn_e);
			for (size_t i = 0; i < P; i++) {
				int decay = i < net->layers[0].b_off || (i >= net->layers[2].w_off && i < net->layers[2].b_off);
				float wd = decay ? o.weight_decay : 0.0f, gi = g[i];
				if (o.kind == NN_SGD) {
					gi += wd * p[i];
					m[i] = o.momentum * m[i] + gi;
					p[i] -= lr * (o.nesterov ? gi + o.momentum * m[i] : m[i]);
					continue;
				}
				if (o.kind == NN_ADAMW)
					p[i] -= lr * wd * p[i];
				else
					gi += wd * p[i];
				m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi;
				v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi;
				double mh = m[i] / (1 - pow(o.beta1, t)), vh = v[i] / (1 - pow(o.beta2, t));
				p[i] -= (float)(lr * mh / (sqrt(vh) + o.eps));
			}
			for (size_t i = 0; i < P; i++)
				worst = fmax(worst, fabs((double)p[i] - net->params[i]));
		}
		CHECK(worst < 1e-5, "optimiser %d: weights differ from the rule by %g", kind, worst);
		free(p);
		free(g);
		free(m);
		free(v);
		nn_net_free(net);
		nn_net_free(probe);
	}
}

/* A dead unit's weights get zero gradients, so their moments decay
 * geometrically: the optimiser state must reach zero, not stay subnormal
 * (every operation on a subnormal takes a slow path). */
static void test_optimizer_subnormals(void)
{
	nn_shape in = { 1, 3, 3 };
	float x[8 * 9];
	int y[8];
	fill_random(x, sizeof(x) / sizeof(x[0]), 5);
	for (int i = 0; i < 8; i++)
		y[i] = i % 3;
	for (int kind = 0; kind < 2; kind++) {
		nn_err err = { 0 };
		nn_net *net = nn_net_new("dense 6, relu, dense", in, 3, 9, 1, 8, &err);
		nn_opt o;
		nn_opt_default(&o);
		o.kind = kind ? NN_ADAM : NN_SGD;
		o.momentum = 0.9f;
		o.weight_decay = 0.0f;
		CHECK_OK(nn_set_optimizer(net, &o, &err), &err);
		CHECK_OK(nn_train_batch(net, x, y, 8, 0.0f, NULL, NULL, NULL, &err), &err);
		nn_layer *l0 = &net->layers[0], *l2 = &net->layers[2];
		memset(net->params + l0->w_off, 0, l0->n_w * sizeof(float));
		for (size_t i = 0; i < l0->n_b; i++)
			net->params[l0->b_off + i] = -100.0f;   /* every ReLU output 0 */
		for (size_t i = 0; i < l2->n_w; i++)
			net->opt_m[l2->w_off + i] = net->opt_v[l2->w_off + i] = kind ? 1e-39f : 0.0f;
		CHECK_OK(nn_train_batch(net, x, y, 8, 0.1f, NULL, NULL, NULL, &err), &err);
		int subnormal = 0;
		for (size_t i = 0; i < l2->n_w; i++) {
			size_t k = l2->w_off + i;
			subnormal += fpclassify(net->opt_m[k]) == FP_SUBNORMAL ||
				     fpclassify(net->opt_v[k]) == FP_SUBNORMAL ||
				     fpclassify(net->params[k]) == FP_SUBNORMAL;
		}
		CHECK(subnormal == 0, "optimiser %d: %d subnormal state values after a step", kind, subnormal);
		nn_net_free(net);
	}
}

static void test_schedules(void)
{
	nn_opt o;
	nn_opt_default(&o);
	o.lr = 0.1f;
	CHECK(nn_lr_at(&o, 5, 3, 10) == 0.1f, "constant");
	o.schedule = NN_LR_STEP;
	o.step_epochs = 2;
	o.step_gamma = 0.5f;
	CHECK(fabsf(nn_lr_at(&o, 5, 0, 10) - 0.025f) < 1e-7f, "step: %g", (double)nn_lr_at(&o, 5, 0, 10));
	o.schedule = NN_LR_COSINE;
	o.epochs = 10;
	CHECK(fabsf(nn_lr_at(&o, 0, 0, 10) - 0.1f) < 1e-7f, "cosine start");
	CHECK(fabsf(nn_lr_at(&o, 5, 0, 10) - 0.05f) < 1e-6f, "cosine middle %g", (double)nn_lr_at(&o, 5, 0, 10));
	CHECK(nn_lr_at(&o, 9, 9, 10) < 0.001f, "cosine end");
	o.warmup_epochs = 2;
	CHECK(fabsf(nn_lr_at(&o, 0, 0, 10) - 0.005f) < 1e-7f, "warm-up first step");
	CHECK(fabsf(nn_lr_at(&o, 1, 9, 10) - 0.1f) < 1e-7f, "warm-up last step");
	CHECK(fabsf(nn_lr_at(&o, 2, 0, 10) - 0.1f) < 1e-7f, "after warm-up");
}

static void test_augment(void)
{
	float x[2 * 9], orig[2 * 9];
	for (int i = 0; i < 18; i++)
		x[i] = orig[i] = (float)i;
	uint64_t s1 = 5, s2 = 5;
	nn_augment(x, 2, (nn_shape){ 1, 3, 3 }, &s1, 1, 1);
	float y[18];
	memcpy(y, orig, sizeof(y));
	nn_augment(y, 2, (nn_shape){ 1, 3, 3 }, &s2, 1, 1);
	CHECK(memcmp(x, y, sizeof(x)) == 0 && s1 == s2, "same seed, different augmentation");
	for (int img = 0; img < 2; img++) {
		float a = 0, b = 0;
		for (int j = 0; j < 9; j++) {
			a += x[img * 9 + j];
			b += orig[img * 9 + j];
		}
		CHECK(a == b && x[img * 9 + 4] == orig[img * 9 + 4], "not a permutation around the centre");
	}
	float r[4] = { 1, 2, 3, 4 };
	uint64_t s = 0;
	int seen_change = 0;
	for (int t = 0; t < 20; t++) {
		float q[4];
		memcpy(q, r, sizeof(q));
		nn_augment(q, 1, (nn_shape){ 1, 2, 2 }, &s, 0, 1);
		int rot = 0;
		float cw[4][4] = { { 1, 2, 3, 4 }, { 3, 1, 4, 2 }, { 4, 3, 2, 1 }, { 2, 4, 1, 3 } };
		for (int k = 0; k < 4; k++)
			rot |= memcmp(q, cw[k], sizeof(q)) == 0;
		CHECK(rot, "rotation-only result is not a rotation");
		seen_change |= memcmp(q, r, sizeof(q)) != 0;
	}
	CHECK(seen_change, "rotations never applied");
}

/* The epoch order is pinned: these are the orders training has always
 * used, so a model trained before and after a change stays bit-identical. */
static void test_epoch_order(void)
{
	static const int64_t want10[] = { 6, 1, 0, 2, 4, 3, 8, 5, 7, 9 };
	static const int64_t want12[] = { 4, 10, 3, 2, 5, 9, 6, 8, 0, 7, 1, 11 };
	int64_t order[1000], again[1000];
	int seen[1000] = { 0 }, bad = 0;

	nn_epoch_order(order, 10, 5, 0);
	CHECK(memcmp(order, want10, sizeof(want10)) == 0, "seed 5, epoch 0: %lld %lld %lld ...",
	      (long long)order[0], (long long)order[1], (long long)order[2]);
	nn_epoch_order(order, 12, 1, 3);
	CHECK(memcmp(order, want12, sizeof(want12)) == 0, "seed 1, epoch 3: %lld %lld %lld ...",
	      (long long)order[0], (long long)order[1], (long long)order[2]);
	nn_epoch_order(order, 1000, 7, 2);
	for (int i = 0; i < 1000; i++)
		bad += order[i] < 0 || order[i] >= 1000 || seen[order[i]]++;
	CHECK(bad == 0, "%d positions missing or repeated", bad);
	nn_epoch_order(again, 1000, 7, 2);
	CHECK(memcmp(order, again, sizeof(order)) == 0, "same seed and epoch, other order");
	nn_epoch_order(again, 1000, 7, 3);
	CHECK(memcmp(order, again, sizeof(order)) != 0, "epoch 3 has epoch 2's order");
	nn_epoch_order(again, 1000, 8, 2);
	CHECK(memcmp(order, again, sizeof(order)) != 0, "seed 8 has seed 7's order");
	nn_epoch_order(order, 1, 7, 2);
	CHECK(order[0] == 0, "one sample");
	nn_epoch_order(order, 0, 7, 2);
}

/* Two processes of two threads, played by two threads here with a shared
 * buffer for their gathers, give the weights, statistics and losses of one
 * process with four threads (nn_dist), batch norm and dropout included,
 * on batches that do not split evenly. */
typedef struct fake_world {
	pthread_barrier_t bar;
	char buf[1 << 20];
} fake_world;

typedef struct fake_rank {
	fake_world *w;
	int rank;
	nn_net *net;
	float loss, val_loss;
	int rc;
	int micro;      /* 0: batches of 15; else steps of 30, 30, 23 in micro-batches of this */
	int plain;      /* gradients summed by fake_allreduce instead of gathered */
} fake_rank;

static int fake_allgather(void *ctx, const void *local, void *all, size_t bytes)
{
	fake_rank *r = ctx;
	size_t chunk = bytes * 2;   /* two threads per rank */
	if (2 * chunk > sizeof(r->w->buf))
		return -1;
	memcpy(r->w->buf + (size_t)r->rank * chunk, local, chunk);
	pthread_barrier_wait(&r->w->bar);
	memcpy(all, r->w->buf, 2 * chunk);
	pthread_barrier_wait(&r->w->bar);
	return 0;
}

/* Both ranks add the two blocks in rank order, so they agree bit for bit. */
static int fake_allreduce(void *ctx, float *buf, size_t n)
{
	fake_rank *r = ctx;
	float *slots = (float *)(void *)r->w->buf;
	if (2 * n * sizeof(float) > sizeof(r->w->buf))
		return -1;
	memcpy(slots + (size_t)r->rank * n, buf, n * sizeof(float));
	pthread_barrier_wait(&r->w->bar);
	for (size_t i = 0; i < n; i++)
		buf[i] = slots[i] + slots[n + i];
	pthread_barrier_wait(&r->w->bar);
	return 0;
}

static int fake_bcast(void *ctx, void *buf, size_t bytes)
{
	fake_rank *r = ctx;
	if (bytes > sizeof(r->w->buf))
		return -1;
	if (r->rank == 0)
		memcpy(r->w->buf, buf, bytes);
	pthread_barrier_wait(&r->w->bar);
	if (r->rank != 0)
		memcpy(buf, r->w->buf, bytes);
	pthread_barrier_wait(&r->w->bar);
	return 0;
}

/* Trains net (this process's part or the whole) on fixed batches of 15,
 * or with micro > 0 on steps of 30, 30 and 23 samples (the last one
 * partial, as an epoch's last step) in micro-batches of micro. */
static int train_fixed(nn_net *net, int micro, float *loss, float *val_loss, nn_err *err)
{
	float x[30 * 36];
	int y[30], rc = 0;
	for (int it = 0; it < (micro ? 3 : 6) && rc == 0; it++) {
		int n = micro ? (it == 2 ? 23 : 30) : 15;
		make_halves(x, y, n, (uint64_t)it + 7);
		rc = micro ? nn_train_accum(net, x, y, n, micro, 0.05f, NULL, loss, NULL, err) :
		     nn_train_batch(net, x, y, n, 0.05f, NULL, loss, NULL, err);
	}
	make_halves(x, y, 15, 99);
	return rc ? rc : nn_eval_batch(net, x, y, 15, NULL, val_loss, NULL, NULL, err);
}

static void *fake_rank_main(void *arg)
{
	fake_rank *r = arg;
	nn_err err = { 0 };
	/* rank 1 starts from other weights: the broadcast must replace them */
	r->net = nn_net_new(ARCH_ALL, (nn_shape){ 1, 6, 6 }, 2, 3 + (uint64_t)r->rank, 2, 16, &err);
	nn_dist d = { 2 * r->rank, 4, fake_allgather, fake_bcast, r->plain ? fake_allreduce : NULL, r };
	r->rc = !r->net || nn_set_dist(r->net, &d, &err) < 0 || nn_dist_bcast_state(r->net, &err) < 0 ||
	        train_fixed(r->net, r->micro, &r->loss, &r->val_loss, &err) < 0;
	if (r->rc)
		fprintf(stderr, "rank %d: %s\n", r->rank, err.msg);
	return NULL;
}

/* Two fake ranks of two threads with micro (see train_fixed) and plain
 * (fake_allreduce); 0 when both ran, their nets in ranks[]. */
static int run_fake_ranks(fake_rank ranks[2], int micro, int plain)
{
	static fake_world w;
	pthread_t other;
	for (int r = 0; r < 2; r++)
		ranks[r] = (fake_rank){ &w, r, NULL, 0, 0, 0, micro, plain };
	pthread_barrier_init(&w.bar, NULL, 2);
	CHECK(pthread_create(&other, NULL, fake_rank_main, &ranks[1]) == 0, "thread");
	fake_rank_main(&ranks[0]);
	pthread_join(other, NULL);
	pthread_barrier_destroy(&w.bar);
	CHECK(ranks[0].rc == 0 && ranks[1].rc == 0, "the ranks failed");
	return ranks[0].rc || ranks[1].rc ? -1 : 0;
}

static void test_dist_shares_of(int micro)
{
	fake_rank ranks[2];
	nn_err err = { 0 };
	float loss = 0, val_loss = 0;
	size_t n_stats, n_stats1;

	int ran = run_fake_ranks(ranks, micro, 0);
	nn_net *one = nn_net_new(ARCH_ALL, (nn_shape){ 1, 6, 6 }, 2, 3, 4, 16, &err);
	CHECK(one != NULL, "%s", err.msg);
	if (!one || ran < 0)
		goto out;
	CHECK_OK(train_fixed(one, micro, &loss, &val_loss, &err), &err);
	for (int r = 0; r < 2; r++) {
		const float *st = nn_stats(ranks[r].net, &n_stats), *st1 = nn_stats(one, &n_stats1);
		CHECK(!memcmp(nn_params(ranks[r].net), nn_params(one), nn_n_params(one) * sizeof(float)),
		      "rank %d: weights differ from 4 threads'", r);
		CHECK(n_stats == n_stats1 && !memcmp(st, st1, n_stats * sizeof(float)),
		      "rank %d: BN statistics differ", r);
		CHECK(ranks[r].loss == loss && ranks[r].val_loss == val_loss,
		      "rank %d: loss %.9g val %.9g, 4 threads %.9g %.9g", r, (double)ranks[r].loss,
		      (double)ranks[r].val_loss, (double)loss, (double)val_loss);
	}
	nn_net *two = nn_net_new(ARCH_ALL, (nn_shape){ 1, 6, 6 }, 2, 3, 2, 16, &err);
	CHECK(two != NULL, "%s", err.msg);
	if (two && train_fixed(two, micro, &loss, &val_loss, &err) == 0)
		CHECK(memcmp(nn_params(two), nn_params(one), nn_n_params(one) * sizeof(float)) != 0,
		      "2 threads alone give the weights of 4: the check cannot fail");
	nn_net_free(two);
out:
	nn_net_free(one);
	nn_net_free(ranks[0].net);
	nn_net_free(ranks[1].net);
}

static void test_dist_shares(void) { test_dist_shares_of(0); }

/* Accumulation over ranks: steps of 30 samples (the last of 23) in
 * micro-batches of 15 give the weights of one process of 4 threads. */
static void test_dist_accumulate(void) { test_dist_shares_of(15); }

static float max_abs_diff(const float *a, const float *b, size_t n)
{
	float m = 0.0f;
	for (size_t i = 0; i < n; i++)
		m = fmaxf(m, fabsf(a[i] - b[i]));
	return m;
}

/* Gradients summed by an allreduce: the ranks agree (this fake sums in a
 * fixed order) and stay within rounding of the exact gather's weights. */
static void test_dist_plain_sum(void)
{
	fake_rank ranks[2];
	nn_err err = { 0 };
	float loss = 0, val_loss = 0;
	int ran = run_fake_ranks(ranks, 0, 1);
	nn_net *one = nn_net_new(ARCH_ALL, (nn_shape){ 1, 6, 6 }, 2, 3, 4, 16, &err);
	CHECK(one != NULL, "%s", err.msg);
	if (!one || ran < 0)
		goto out;
	CHECK_OK(train_fixed(one, 0, &loss, &val_loss, &err), &err);
	size_t np = nn_n_params(one);
	CHECK(!memcmp(nn_params(ranks[0].net), nn_params(ranks[1].net), np * sizeof(float)),
	      "the two ranks' weights differ");
	float d = max_abs_diff(nn_params(ranks[0].net), nn_params(one), np);
	CHECK(d < 1e-4f, "plain sum: weights %.3g from the exact ones", (double)d);
	CHECK(fabsf(ranks[0].loss - loss) < 1e-4f, "plain sum: loss %.9g, exact %.9g",
	      (double)ranks[0].loss, (double)loss);
out:
	nn_net_free(one);
	nn_net_free(ranks[0].net);
	nn_net_free(ranks[1].net);
}

/* Without batch norm and dropout, a step of 30 samples in micro-batches
 * of 8 follows the mean loss of the 30 (class weights normalised over the
 * whole step): the weights are within rounding of one batch of 30's,
 * deterministic, and not those of averaging the micro-batches' means. */
static void test_accumulate_mean(void)
{
	const char *arch = "conv 4 3 pad 1, relu, maxpool 2, dense 8, relu, dense";
	float x[30 * 36], cw[2] = { 0.5f, 2.0f }, la, lb;
	int y[30];
	nn_err err = { 0 };
	nn_net *a = nn_net_new(arch, (nn_shape){ 1, 6, 6 }, 2, 3, 2, 30, &err);
	nn_net *b = nn_net_new(arch, (nn_shape){ 1, 6, 6 }, 2, 3, 2, 30, &err);
	nn_net *c = nn_net_new(arch, (nn_shape){ 1, 6, 6 }, 2, 3, 2, 30, &err);
	CHECK(a && b && c, "%s", err.msg);
	if (!a || !b || !c)
		goto out;
	for (int it = 0; it < 4; it++) {
		make_halves(x, y, 30, (uint64_t)it + 3);
		y[0] = y[1] = y[2] = 1;   /* uneven classes: per-micro-batch means would differ */
		CHECK_OK(nn_train_accum(a, x, y, 30, 8, 0.1f, cw, &la, NULL, &err), &err);
		CHECK_OK(nn_train_batch(b, x, y, 30, 0.1f, cw, &lb, NULL, &err), &err);
		CHECK_OK(nn_train_accum(c, x, y, 30, 8, 0.1f, cw, NULL, NULL, &err), &err);
	}
	size_t np = nn_n_params(a);
	float d = max_abs_diff(nn_params(a), nn_params(b), np);
	CHECK(d < 1e-5f, "micro-batches of 8: weights %.3g from one batch of 30's", (double)d);
	CHECK(fabsf(la - lb) < 1e-5f, "loss %.9g, one batch %.9g", (double)la, (double)lb);
	CHECK(!memcmp(nn_params(a), nn_params(c), np * sizeof(float)), "two runs differ");
	CHECK(nn_train_accum(a, x, y, 30, 31, 0.1f, NULL, NULL, NULL, &err) == -NN_EUSAGE &&
	      strstr(err.msg, "micro-batches of 1..30"), "micro-batch over max_batch: %s", err.msg);
out:
	nn_net_free(a);
	nn_net_free(b);
	nn_net_free(c);
}

int main(void)
{
	/* Every check on each kernel level the CPU has: OpenBLAS only, AVX2,
	 * AVX-512. */
	for (int level = 0; level <= 2; level++) {
		nn_blas_level(level);
		if (level > 0 && nn_simd_level() < level)
			break;
		RUN(test_grad_conv);
		RUN(test_grad_pools);
		RUN(test_grad_bn);
		RUN(test_grad_dense_ce_weights);
		RUN(test_checkpoint_resume);
		RUN(test_deterministic);
		RUN(test_small_batches);
	}
	RUN(test_learns_separable);
	RUN(test_model_roundtrip);
	RUN(test_model_broken);
	RUN(test_arch_errors);
	RUN(test_threads_explicit);
	RUN(test_optimizers);
	RUN(test_optimizer_subnormals);
	RUN(test_schedules);
	RUN(test_augment);
	RUN(test_epoch_order);
	RUN(test_dist_shares);
	RUN(test_dist_accumulate);
	RUN(test_dist_plain_sum);
	RUN(test_accumulate_mean);
	return check_report("test_nn");
}
