/* Preprocessing: channel stacking, resampling (area averaging when
 * shrinking, bilinear when growing), tiles and intensity transforms. */
#include "preproc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "demo/synth.h"

/* Branch-free clamps the compiler vectorises (fminf/fmaxf are calls that
 * care about NaN, which decoded pixels never are). */
static inline float clampf(float v, float lo, float hi)
{
	v = v < lo ? lo : v;
	return v > hi ? hi : v;
}

/* A planar float image with a per-plane maximum value. */
typedef struct planes {
	int c, w, h;
	float *px;         /* c * h * w */
	float maxval[PREPROC_MAX_CHANNELS];
} planes;

int preproc_from_cfg(const cfg *c, preproc_opts *o, pl_err *err)
{
	const char *resize = cfg_str(c, "prepare", "resize");
	char list[256], *save = NULL;
	int rc;

	memset(o, 0, sizeof(*o));
	o->size = (int)cfg_int(c, "prepare", "size");
	o->tile = (int)cfg_int(c, "prepare", "tile");
	o->lim.max_pixels = cfg_int(c, "dataset", "max_pixels");
	o->channels_out = cfg_word_in(cfg_str(c, "prepare", "channels_out"), "gray") ? PREPROC_GRAY :
			  cfg_word_in(cfg_str(c, "prepare", "channels_out"), "rgb") ? PREPROC_RGB :
			  PREPROC_STACKED;
	if (*resize && (rc = synth_parse_size(resize, &o->resize_w, &o->resize_h, err)) < 0)
		return pl_errprefix(err, "%s: [prepare] resize: ", cfg_origin(c, "prepare", "resize"));
	snprintf(list, sizeof(list), "%s", cfg_str(c, "prepare", "transforms"));
	for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		int op = !strcmp(t, "anscombe") ? PREPROC_ANSCOMBE : !strcmp(t, "minmax") ? PREPROC_MINMAX :
			 !strcmp(t, "clip") ? PREPROC_CLIP : 0;
		if (!op)
			return pl_errorf(err, PL_EUSAGE, "%s: [prepare] transforms: unknown transform "
					 "'%s' (anscombe, minmax, clip)",
					 cfg_origin(c, "prepare", "transforms"), t);
		if (o->n_ops == 8)
			return pl_errorf(err, PL_EUSAGE, "%s: [prepare] transforms: too many",
					 cfg_origin(c, "prepare", "transforms"));
		o->ops[o->n_ops++] = op;
	}
	if (o->tile && o->resize_w && (o->tile > o->resize_w || o->tile > o->resize_h))
		return pl_errorf(err, PL_EUSAGE, "%s: [prepare] tile %d is larger than resize %dx%d",
				 cfg_origin(c, "prepare", "tile"), o->tile, o->resize_w, o->resize_h);
	return 0;
}

json_t *preproc_to_json(const preproc_opts *o)
{
	json_t *ops = json_array();

	for (int i = 0; i < o->n_ops; i++)
		json_array_append_new(ops, json_integer(o->ops[i]));
	return json_pack("{s:i,s:i,s:i,s:i,s:o,s:i,s:I}", "size", o->size, "resize_w", o->resize_w,
			 "resize_h", o->resize_h, "tile", o->tile, "ops", ops,
			 "channels_out", o->channels_out, "max_pixels", (json_int_t)o->lim.max_pixels);
}

int preproc_from_json(const json_t *j, preproc_opts *o, pl_err *err)
{
	json_t *ops = NULL, *v;
	json_int_t max_pixels = 0;
	size_t i;

	memset(o, 0, sizeof(*o));
	if (json_unpack((json_t *)j, "{s:i,s:i,s:i,s:i,s:o,s:i,s:I}", "size", &o->size,
			"resize_w", &o->resize_w, "resize_h", &o->resize_h, "tile", &o->tile,
			"ops", &ops, "channels_out", &o->channels_out, "max_pixels", &max_pixels) ||
	    !json_is_array(ops) || json_array_size(ops) > 8 || o->size < 1 || o->size > 4096 ||
	    o->tile < 0 || o->resize_w < 0 || o->resize_h < 0)
		return pl_errorf(err, PL_EDATA, "the model's preprocessing parameters are malformed");
	json_array_foreach(ops, i, v) {
		o->ops[i] = (int)json_integer_value(v);
		if (o->ops[i] < PREPROC_ANSCOMBE || o->ops[i] > PREPROC_CLIP)
			return pl_errorf(err, PL_EDATA, "unknown transform %d in the model", o->ops[i]);
	}
	o->n_ops = (int)json_array_size(ops);
	o->lim.max_pixels = max_pixels;
	return 0;
}

int preproc_out_channels(const preproc_opts *o, int in_channels)
{
	return o->channels_out == PREPROC_GRAY ? 1 : o->channels_out == PREPROC_RGB ? 3 : in_channels;
}

/* Weights of a 1-D resampling from n_src to n_dst samples: for each output,
 * taps starting at first[i], count[i] of them, in w. */
typedef struct axis_map {
	int *first, *count;
	float *w;
	int max_taps;
} axis_map;

static int axis_map_make(axis_map *m, int n_src, int n_dst)
{
	double scale = (double)n_src / n_dst;

	m->max_taps = n_dst < n_src ? (int)ceil(scale) + 1 : 2;
	m->first = calloc((size_t)n_dst, sizeof(int));
	m->count = calloc((size_t)n_dst, sizeof(int));
	m->w = calloc((size_t)n_dst * (size_t)m->max_taps, sizeof(float));
	if (!m->first || !m->count || !m->w)
		return -1;
	for (int i = 0; i < n_dst; i++) {
		float *w = m->w + (size_t)i * m->max_taps;
		if (n_dst < n_src) {          /* area averaging */
			double lo = i * scale, hi = (i + 1) * scale;
			int a = (int)floor(lo), k = 0;
			m->first[i] = a;
			for (int s = a; s < n_src && s < hi && k < m->max_taps; s++, k++)
				w[k] = (float)((fmin(hi, s + 1) - fmax(lo, s)) / scale);
			m->count[i] = k;
		} else {                      /* bilinear, pixel centres aligned */
			double x = (i + 0.5) * scale - 0.5;
			int a = (int)floor(x);
			double f = x - a;
			if (a < 0) { a = 0; f = 0; }
			if (a >= n_src - 1) { a = n_src - 1; f = 0; }
			m->first[i] = a;
			m->count[i] = f > 0 ? 2 : 1;
			w[0] = (float)(1 - f);
			w[1] = (float)f;
		}
	}
	return 0;
}

static void axis_map_free(axis_map *m)
{
	free(m->first);
	free(m->count);
	free(m->w);
}

/* Resamples plane src (sw x sh, row stride sstride) to dst (dw x dh). */
static int resample(const float *src, int sw, int sh, int sstride, float *dst, int dw, int dh)
{
	axis_map mx = { 0 }, my = { 0 };
	float *rows = malloc((size_t)dw * sh * sizeof(float));
	int rc = -1;

	if (!rows || axis_map_make(&mx, sw, dw) || axis_map_make(&my, sh, dh))
		goto out;
	for (int y = 0; y < sh; y++)
		for (int x = 0; x < dw; x++) {
			const float *w = mx.w + (size_t)x * mx.max_taps, *s = src + (size_t)y * sstride + mx.first[x];
			float acc = 0;
			for (int k = 0; k < mx.count[x]; k++)
				acc += w[k] * s[k];
			rows[(size_t)y * dw + x] = acc;
		}
	for (int y = 0; y < dh; y++) {
		const float *w = my.w + (size_t)y * my.max_taps;
		float *d = dst + (size_t)y * dw;
		memset(d, 0, (size_t)dw * sizeof(float));
		for (int k = 0; k < my.count[y]; k++) {
			const float *s = rows + (size_t)(my.first[y] + k) * dw;
			for (int x = 0; x < dw; x++)
				d[x] += w[k] * s[x];
		}
	}
	rc = 0;
out:
	axis_map_free(&mx);
	axis_map_free(&my);
	free(rows);
	return rc;
}

/* Stacks the images into planes (alpha dropped), checking equal sizes. */
static int stack(const img *ims, const char *const *names, int n, planes *p, pl_err *err)
{
	int total = 0;

	for (int i = 0; i < n; i++) {
		if (ims[i].w != ims[0].w || ims[i].h != ims[0].h)
			return pl_errorf(err, PL_EDATA, "'%s' is %dx%d but '%s' is %dx%d: the channel "
					 "files of a sample must have one size", names[i], ims[i].w,
					 ims[i].h, names[0], ims[0].w, ims[0].h);
		total += ims[i].c == 2 || ims[i].c == 4 ? ims[i].c - 1 : ims[i].c;
	}
	if (total > PREPROC_MAX_CHANNELS)
		return pl_errorf(err, PL_EDATA, "'%s': %d channels in all, more than %d", names[0], total,
				 PREPROC_MAX_CHANNELS);
	p->c = total;
	p->w = ims[0].w;
	p->h = ims[0].h;
	if (!(p->px = malloc((size_t)total * p->w * p->h * sizeof(float))))
		return pl_errorf(err, PL_ENOMEM, "out of memory stacking '%s'", names[0]);
	for (int i = 0, plane = 0; i < n; i++) {
		int cc = ims[i].c == 2 || ims[i].c == 4 ? ims[i].c - 1 : ims[i].c;
		size_t npx = (size_t)p->w * p->h;
		for (int k = 0; k < cc; k++, plane++) {
			float *dst = p->px + (size_t)plane * npx;
			const float *src = ims[i].px + k;
			for (size_t j = 0; j < npx; j++)
				dst[j] = src[j * (size_t)ims[i].c];
			p->maxval[plane] = ims[i].maxval;
		}
	}
	return 0;
}

/* Converts planes to gray or RGB as configured. */
static int convert_channels(const preproc_opts *o, planes *p, pl_err *err)
{
	size_t npx = (size_t)p->w * p->h;
	int want = preproc_out_channels(o, p->c);
	float top = 0, *out;

	if (o->channels_out == PREPROC_STACKED || (want == p->c && o->channels_out != PREPROC_GRAY) ||
	    (want == 1 && p->c == 1))
		return 0;
	for (int k = 0; k < p->c; k++)
		top = fmaxf(top, p->maxval[k]);
	if (!(out = calloc((size_t)want * npx, sizeof(float))))
		return pl_errorf(err, PL_ENOMEM, "out of memory converting channels");
	for (int k = 0; k < p->c; k++) {
		float scale = top / p->maxval[k];
		/* gray: the mean; rgb from 1: copies; from 2: G and B; from 3+: the first three */
		int dst = want == 1 ? 0 : p->c == 1 ? -1 : p->c == 2 ? k + 1 : k;
		if (dst >= want)
			continue;
		for (int d = dst < 0 ? 0 : dst; d <= (dst < 0 ? 2 : dst); d++)
			for (size_t j = 0; j < npx; j++)
				out[(size_t)d * npx + j] += p->px[(size_t)k * npx + j] * scale /
							    (want == 1 ? p->c : 1);
	}
	free(p->px);
	p->px = out;
	p->c = want;
	for (int k = 0; k < want; k++)
		p->maxval[k] = top;
	return 0;
}

/* Returns the q-quantile (0..1) of n values via a 4096-bin histogram. */
static float quantile(const float *v, size_t n, float lo, float hi, double q)
{
	unsigned hist[4096] = { 0 };
	size_t want = (size_t)(q * (n - 1)), seen = 0;
	float span = hi - lo;

	if (span <= 0)
		return lo;
	for (size_t i = 0; i < n; i++)
		hist[(int)clampf((v[i] - lo) / span * 4096, 0, 4095)]++;
	for (int b = 0; b < 4096; b++) {
		seen += hist[b];
		if (seen > want)
			return lo + span * (b + 0.5f) / 4096;
	}
	return hi;
}

/* Applies the transforms to one plane of n values (raw scale vmax) and maps
 * it to 0..1. */
static void transform_plane(const preproc_opts *o, float *v, size_t n, float vmax)
{
	float lo = 0, hi = vmax;

	for (int t = 0; t < o->n_ops; t++) {
		if (o->ops[t] == PREPROC_ANSCOMBE) {
			for (size_t i = 0; i < n; i++)
				v[i] = 2.0f * sqrtf((v[i] > 0 ? v[i] : 0) + 0.375f);
			lo = 2.0f * sqrtf(0.375f);
			hi = 2.0f * sqrtf(vmax + 0.375f);
		} else {
			float mn = v[0], mx = v[0];
			for (size_t i = 1; i < n; i++) {
				mn = v[i] < mn ? v[i] : mn;
				mx = v[i] > mx ? v[i] : mx;
			}
			if (o->ops[t] == PREPROC_CLIP) {
				float a = quantile(v, n, mn, mx, 0.01), b = quantile(v, n, mn, mx, 0.99);
				for (size_t i = 0; i < n; i++)
					v[i] = clampf(v[i], a, b);
				mn = a;
				mx = b;
			}
			lo = mn;
			hi = mx;
		}
	}
	for (size_t i = 0; i < n; i++)
		v[i] = hi > lo ? clampf((v[i] - lo) / (hi - lo), 0, 1) : 0;
}

/* Cuts tile t of side `side` from p (or takes the whole image when side is
 * 0), resamples it to o->size and transforms it into dst (c planes). */
static int make_tile(const preproc_opts *o, const planes *p, int tx, int ty, int side, float *dst)
{
	size_t n = (size_t)o->size * o->size;
	int sw = side ? side : p->w, sh = side ? side : p->h;

	for (int k = 0; k < p->c; k++) {
		const float *src = p->px + (size_t)k * p->w * p->h + (size_t)ty * sh * p->w +
				   (size_t)tx * sw;
		float *d = dst + (size_t)k * n;
		if (sw == o->size && sh == o->size)
			for (int y = 0; y < sh; y++)
				memcpy(d + (size_t)y * sw, src + (size_t)y * p->w, (size_t)sw * sizeof(float));
		else if (resample(src, sw, sh, p->w, d, o->size, o->size))
			return -1;
		transform_plane(o, d, n, p->maxval[k]);
	}
	return 0;
}

/* Resizes all planes of p to w x h in place. */
static int resize_planes(planes *p, int w, int h)
{
	float *out;

	if (p->w == w && p->h == h)
		return 0;
	if (!(out = malloc((size_t)p->c * w * h * sizeof(float))))
		return -1;
	for (int k = 0; k < p->c; k++)
		if (resample(p->px + (size_t)k * p->w * p->h, p->w, p->h, p->w,
			     out + (size_t)k * w * h, w, h)) {
			free(out);
			return -1;
		}
	free(p->px);
	p->px = out;
	p->w = w;
	p->h = h;
	return 0;
}

int preproc_images(const preproc_opts *o, const img *ims, const char *const *names, int n,
		preproc_result *out, pl_err *err)
{
	planes p = { 0 };
	size_t tile_floats;
	int nx = 1, ny = 1, rc;

	memset(out, 0, sizeof(*out));
	if ((rc = stack(ims, names, n, &p, err)) < 0 || (rc = convert_channels(o, &p, err)) < 0)
		goto out;
	if (o->tile && o->resize_w && resize_planes(&p, o->resize_w, o->resize_h)) {
		rc = pl_errorf(err, PL_ENOMEM, "out of memory resizing '%s'", names[0]);
		goto out;
	}
	if (o->tile) {
		nx = p.w / o->tile;
		ny = p.h / o->tile;
		if (!nx || !ny) {
			rc = pl_errorf(err, PL_EDATA, "'%s' is %dx%d, smaller than one tile of %d px",
				       names[0], p.w, p.h, o->tile);
			goto out;
		}
	}
	tile_floats = (size_t)p.c * o->size * o->size;
	if (!(out->tiles = malloc((size_t)nx * ny * tile_floats * sizeof(float)))) {
		rc = pl_errorf(err, PL_ENOMEM, "out of memory cutting tiles of '%s'", names[0]);
		goto out;
	}
	out->c = p.c;
	out->n_tiles = nx * ny;
	for (int t = 0; t < nx * ny; t++)
		if (make_tile(o, &p, t % nx, t / nx, o->tile, out->tiles + t * tile_floats)) {
			rc = pl_errorf(err, PL_ENOMEM, "out of memory resampling '%s'", names[0]);
			goto out;
		}
out:
	free(p.px);
	if (rc < 0)
		preproc_result_release(out);
	return rc;
}

void preproc_decode_limits(const preproc_opts *o, int n_files, img_limits *lim)
{
	*lim = o->lim;
	lim->fit_w = lim->fit_h = 0;
	/* with tiles, none: predict takes an image of exactly the network's
	 * input size as one tile, and a scaled decode could produce that size
	 * from an image prepare cuts into several */
	if (n_files == 1 && !o->tile)
		lim->fit_w = lim->fit_h = o->size;
}

int preproc_files(const preproc_opts *o, char *const *paths, int n, preproc_result *out, pl_err *err)
{
	img ims[PREPROC_MAX_CHANNELS] = { 0 };
	img_limits lim;
	int loaded = 0, rc = 0;

	if (n < 1 || n > PREPROC_MAX_CHANNELS)
		return pl_errorf(err, PL_EUSAGE, "a sample needs 1 to %d channel files, not %d",
				 PREPROC_MAX_CHANNELS, n);
	preproc_decode_limits(o, n, &lim);
	for (; loaded < n && rc == 0; loaded++)
		rc = img_decode_file(paths[loaded], &lim, &ims[loaded], err);
	if (rc == 0)
		rc = preproc_images(o, ims, (const char *const *)paths, n, out, err);
	for (int i = 0; i < loaded; i++)
		img_release(&ims[i]);
	return rc;
}

int preproc_mem(const preproc_opts *o, const void *const *bufs, const size_t *lens,
		const char *const *names, int n, preproc_result *out, pl_err *err)
{
	img ims[PREPROC_MAX_CHANNELS] = { 0 };
	img_limits lim;
	int loaded = 0, rc = 0;

	if (n < 1 || n > PREPROC_MAX_CHANNELS)
		return pl_errorf(err, PL_EUSAGE, "a sample needs 1 to %d channel files, not %d",
				 PREPROC_MAX_CHANNELS, n);
	preproc_decode_limits(o, n, &lim);
	for (; loaded < n && rc == 0; loaded++)
		rc = img_decode_mem(bufs[loaded], lens[loaded], names[loaded], &lim, &ims[loaded], err);
	if (rc == 0)
		rc = preproc_images(o, ims, names, n, out, err);
	for (int i = 0; i < loaded; i++)
		img_release(&ims[i]);
	return rc;
}

void preproc_result_release(preproc_result *r)
{
	free(r->tiles);
	r->tiles = NULL;
	r->n_tiles = 0;
}

void preproc_quantize_u8(float *px, uint8_t *out, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		uint8_t b = (uint8_t)lrintf(px[k] * 255.0f);
		if (out)
			out[k] = b;
		px[k] = b / 255.0f;
	}
}
