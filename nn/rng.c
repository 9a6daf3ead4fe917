/* The seeded generator (splitmix64), the epoch order and batch augmentation. */
#include <math.h>
#include "nn_impl.h"

uint64_t nn_rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double nn_rng_uniform(uint64_t *state)
{
	return (double)(nn_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* A standard normal deviate (Box-Muller; one per call, for simplicity). */
float nn_rng_normal(uint64_t *state)
{
	double u1 = nn_rng_uniform(state), u2 = nn_rng_uniform(state);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

/* A uniform value in [0, n) by rejection, so the order is unbiased. */
static uint64_t rng_below(uint64_t *state, uint64_t n)
{
	uint64_t threshold = (0 - n) % n, v;

	do
		v = nn_rng_next(state);
	while (v < threshold);
	return v % n;
}

void nn_epoch_order(int64_t *order, int64_t n, uint64_t seed, int epoch)
{
	uint64_t state = seed;

	state = nn_rng_next(&state) ^ ((uint64_t)(uint32_t)epoch * 0xD6E8FEB86659FD93ULL);
	for (int64_t i = 0; i < n; i++)
		order[i] = i;
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = (int64_t)rng_below(&state, (uint64_t)i + 1);
		int64_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}

static void flip_h(float *p, int h, int w)
{
	for (int y = 0; y < h; y++)
		for (int a = 0, b = w - 1; a < b; a++, b--) {
			float t = p[y * w + a];
			p[y * w + a] = p[y * w + b];
			p[y * w + b] = t;
		}
}

static void flip_v(float *p, int h, int w)
{
	for (int a = 0, b = h - 1; a < b; a++, b--)
		for (int x = 0; x < w; x++) {
			float t = p[a * w + x];
			p[a * w + x] = p[b * w + x];
			p[b * w + x] = t;
		}
}

/* Rotates a square plane by 90 degrees clockwise in place (4-cycles). */
static void rot90(float *p, int n)
{
	for (int i = 0; i < n / 2; i++)
		for (int j = i; j < n - 1 - i; j++) {
			float t = p[i * n + j];
			p[i * n + j] = p[(n - 1 - j) * n + i];
			p[(n - 1 - j) * n + i] = p[(n - 1 - i) * n + (n - 1 - j)];
			p[(n - 1 - i) * n + (n - 1 - j)] = p[j * n + (n - 1 - i)];
			p[j * n + (n - 1 - i)] = t;
		}
}

/* One draw per sample whatever the flags, so the stream position does not
 * depend on which augmentations are on. */
void nn_augment(float *x, int n, nn_shape s, uint64_t *rng_state, int flips, int rot)
{
	size_t plane = (size_t)s.h * s.w;
	for (int i = 0; i < n; i++) {
		uint64_t r = nn_rng_next(rng_state);
		int fh = flips && (r & 1), fv = flips && (r & 2);
		int turns = (rot && s.h == s.w) ? (int)((r >> 2) & 3) : 0;
		for (int c = 0; c < s.c; c++) {
			float *p = x + ((size_t)i * s.c + c) * plane;
			if (fh)
				flip_h(p, s.h, s.w);
			if (fv)
				flip_v(p, s.h, s.w);
			for (int t = 0; t < turns; t++)
				rot90(p, s.h);
		}
	}
}
