/* Optimisers (SGD with momentum / Nesterov, Adam, AdamW) and learning-rate
 * schedules (constant, step, cosine, linear warm-up). */
#include <immintrin.h>
#include <math.h>
#include <string.h>
#include "nn_impl.h"

int nn_set_optimizer(nn_net *net, const nn_opt *opt, nn_err *err)
{
	if (opt->kind != NN_SGD && opt->kind != NN_ADAM && opt->kind != NN_ADAMW)
		return nn_errorf(err, NN_EUSAGE, "unknown optimiser kind %d (sgd, adam or adamw)", opt->kind);
	if (!(opt->lr >= 0.0f) || !(opt->momentum >= 0.0f && opt->momentum < 1.0f) ||
	    !(opt->weight_decay >= 0.0f))
		return nn_errorf(err, NN_EUSAGE, "bad optimiser settings: lr %g, momentum %g, weight decay %g "
		                 "(need lr >= 0, 0 <= momentum < 1, decay >= 0)", (double)opt->lr,
		                 (double)opt->momentum, (double)opt->weight_decay);
	if (opt->kind != NN_SGD && !(opt->beta1 >= 0.0f && opt->beta1 < 1.0f && opt->beta2 >= 0.0f &&
	                             opt->beta2 < 1.0f && opt->eps > 0.0f))
		return nn_errorf(err, NN_EUSAGE, "bad adam settings: beta1 %g, beta2 %g, eps %g (need betas "
		                 "in [0, 1) and eps > 0)", (double)opt->beta1, (double)opt->beta2, (double)opt->eps);
	if (opt->schedule < NN_LR_CONST || opt->schedule > NN_LR_COSINE || opt->warmup_epochs < 0 ||
	    (opt->schedule == NN_LR_STEP && opt->step_epochs < 1))
		return nn_errorf(err, NN_EUSAGE, "bad learning-rate schedule %d (step every %d epochs, "
		                 "warm-up %d epochs)", opt->schedule, opt->step_epochs, opt->warmup_epochs);
	net->opt = *opt;
	net->opt_t = 0;
	if (net->has_opt) {
		memset(net->opt_m, 0, net->n_params * sizeof(float));
		memset(net->opt_v, 0, net->n_params * sizeof(float));
	}
	return 0;
}

float nn_lr_at(const nn_opt *opt, int epoch, int step, int steps_per_epoch)
{
	double spe = steps_per_epoch > 0 ? steps_per_epoch : 1;
	double t = epoch * spe + step, warm = opt->warmup_epochs * spe, total = opt->epochs * spe;
	double lr = opt->lr;
	if (t < warm)
		return (float)(lr * (t + 1.0) / warm);
	if (opt->schedule == NN_LR_STEP && opt->step_epochs > 0)
		lr *= pow(opt->step_gamma, epoch / opt->step_epochs);
	else if (opt->schedule == NN_LR_COSINE && total > warm)
		lr *= 0.5 * (1.0 + cos(M_PI * fmin(1.0, (t - warm) / (total - warm))));
	return (float)lr;
}

/* SGD on n parameters, one loop per variant so each vectorises. */
static void sgd_range(const float *g, float *p, float *m, size_t n, float lr, float wd,
                      float mom, int nesterov)
{
	if (mom <= 0.0f) {
		for (size_t i = 0; i < n; i++)
			p[i] -= lr * (g[i] + wd * p[i]);
	} else if (nesterov) {
		for (size_t i = 0; i < n; i++) {
			float gi = g[i] + wd * p[i];
			m[i] = mom * m[i] + gi;
			p[i] -= lr * (gi + mom * m[i]);
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			float gi = g[i] + wd * p[i];
			m[i] = mom * m[i] + gi;
			p[i] -= lr * m[i];
		}
	}
}

/* Adam or AdamW on n parameters (AdamW: decay applied to the weights). */
static void adam_range(const float *g, float *p, float *m, float *v, size_t n, const nn_opt *o,
                       float lr, float wd, float bc1, float bc2)
{
	const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
	const float pd = o->kind == NN_ADAMW ? lr * wd : 0.0f, gd = o->kind == NN_ADAMW ? 0.0f : wd;

	for (size_t i = 0; i < n; i++) {
		float gi = g[i] + gd * p[i];
		p[i] -= pd * p[i];
		m[i] = b1 * m[i] + (1.0f - b1) * gi;
		v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
		p[i] -= lr * (m[i] / bc1) / (sqrtf(v[i] / bc2) + eps);
	}
}

/* Sums the shares' gradients for params [a, b) in share order (into
 * worker 0's), then applies the optimiser step there. Called by each
 * worker on its range. Subnormal values are flushed to zero meanwhile: a
 * parameter whose gradient stays zero (a dead unit) has its moments decay
 * geometrically into the subnormal range, where every operation on them
 * takes a slow microcode path (it halved training speed after an epoch). */
void nn_opt_update(nn_net *net, size_t a, size_t b)
{
	const nn_opt *o = &net->opt;
	float *g = net->workers[0].grad, *p = net->params, *m = net->opt_m, *v = net->opt_v;
	float lr = net->lr, mom = o->momentum;
	unsigned csr = _mm_getcsr();

	_mm_setcsr(csr | 0x8040);   /* FTZ | DAZ, this thread only */
	if (net->has_dist)
		memcpy(g + a, nn_share_grad(net, 0) + a, (b - a) * sizeof(float));
	for (int t = 1, blocks = nn_grad_blocks(net); t < blocks; t++) {
		const float *gt = nn_share_grad(net, t);
		for (size_t i = a; i < b; i++)
			g[i] += gt[i];
	}
	float bc1 = 1.0f - (float)pow(o->beta1, (double)net->opt_t);
	float bc2 = 1.0f - (float)pow(o->beta2, (double)net->opt_t);
	for (int s = 0; s < net->n_segs; s++) {
		size_t lo = net->segs[s].off, hi = lo + net->segs[s].len;
		lo = lo > a ? lo : a;
		hi = hi < b ? hi : b;
		float wd = net->segs[s].decay ? o->weight_decay : 0.0f;
		if (hi <= lo)
			continue;
		if (o->kind == NN_SGD)
			sgd_range(g + lo, p + lo, m + lo, hi - lo, lr, wd, mom, o->nesterov);
		else
			adam_range(g + lo, p + lo, m + lo, v + lo, hi - lo, o, lr, wd, bc1, bc2);
	}
	_mm_setcsr(csr);
}
