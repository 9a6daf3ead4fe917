/* The demo plate: draws cells whose NF-kB stain moves from the cytoplasm
 * into the nucleus with the TNF-alpha dose, images them through a blurred,
 * unevenly lit, noisy "microscope", and writes BMPs and a metadata.csv. */
#include "synth.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../io/arc.h"
#include "../../io/fs.h"
#include "../../io/img.h"
#include "../../io/log.h"
#include "../../io/strbuf.h"
#include "../../io/sys.h"
#include "../../nn/nn.h"

#define REF_W 340           /* the reference size the cell sizes are set for */
#define REF_H 256
#define N_ROWS 8
#define N_COLS 12
#define MAX_THREADS 8

/* ---- random numbers: xoshiro256**, seeded with nn_rng_next (splitmix64) ---- */

typedef struct rng { uint64_t s[4]; } rng;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* The stream of one well (or, with well == SYNTH_WELLS, of the plate):
 * a function of (seed, plate, well) only, so thread count does not matter. */
static void rng_seed_well(rng *r, uint64_t seed, int plate, int well)
{
	uint64_t x = seed ^ 0x73796E7468706C74ull;   /* "synthplt" */
	uint64_t key = (uint64_t)plate * (SYNTH_WELLS + 1) + (uint64_t)well + 1;

	x = nn_rng_next(&x) ^ (key * 0xD1B54A32D192ED03ull);
	for (int i = 0; i < 4; i++)
		r->s[i] = nn_rng_next(&x);
}

/* Uniform in [0, 1). */
static double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

static double rng_range(rng *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform(r); }

/* Standard normal (Box-Muller); for the few per-cell draws. */
static double rng_normal(rng *r)
{
	double u = 1.0 - rng_uniform(r), v = rng_uniform(r);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* Approximately normal (Irwin-Hall of four 16-bit uniforms, unit variance);
 * cheap enough for one draw per pixel and free of libm. */
static float rng_fast_normal(rng *r)
{
	uint64_t x = rng_next(r);
	uint32_t sum = (uint32_t)(x & 0xFFFF) + (uint32_t)((x >> 16) & 0xFFFF) +
		       (uint32_t)((x >> 32) & 0xFFFF) + (uint32_t)(x >> 48);

	return ((float)sum * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

/* ---- the plate layout ---- */

/* Rows A-D hold the larger line1 cells, rows E-H the smaller line2 cells. */
typedef struct cell_line {
	const char *name;
	float radius;       /* mean cell radius in reference pixels */
	float nuc_ratio;    /* nucleus radius / cell radius */
	int n_min, n_max;   /* cells per well */
} cell_line;

static const cell_line LINES[2] = {
	{ "line1", 9.0f, 0.52f, 55, 75 },
	{ "line2", 6.6f, 0.55f, 80, 105 },
};

/* TNF-alpha in ng/mL: 0, then a 2-fold series up to 40 (columns 1..12).
 * Kept as text too, so the CSV does not depend on printf rounding. */
static const char *const CONC_TEXT[N_COLS] = {
	"0", "0.0390625", "0.078125", "0.15625", "0.3125", "0.625",
	"1.25", "2.5", "5", "10", "20", "40"
};

#define EC50 0.442f        /* between columns 6 and 7: the label boundary */
#define HILL 0.9f          /* logit per doubling of the dose */
#define CELL_LOGIT_SD 1.0f /* cell-to-cell variability of the response */

static double col_concentration(int col)
{
	return col == 0 ? 0.0 : 40.0 / (double)(1 << (N_COLS - 1 - col));
}

/* The six highest doses are "high". */
static const char *col_label(int col) { return col >= N_COLS / 2 ? "high" : "low"; }

static const cell_line *row_line(int row) { return &LINES[row >= N_ROWS / 2]; }

/* "A01", or "p02_A01" when there are several plates. */
static void well_name(const synth_opts *o, int plate, int well, char *buf, size_t len)
{
	int row = well / N_COLS, col = well % N_COLS;

	if (o->plates == 1)
		snprintf(buf, len, "%c%02d", 'A' + row, col + 1);
	else
		snprintf(buf, len, "p%0*d_%c%02d", o->plates >= 100 ? 3 : 2,
			 plate + 1, 'A' + row, col + 1);
}

/* ---- cells ---- */

/* A wobbly ellipse: the boundary is at shape_dist() == 1. */
typedef struct shape {
	float cx, cy;        /* centre in pixels */
	float ax, ay;        /* semi-axes in pixels */
	float cos_t, sin_t;  /* orientation */
	float wa[3], wb[3];  /* boundary wobble: cos and sin of harmonics 2..4 */
	float r_mean;        /* sqrt(ax * ay): pixels per unit of distance */
} shape;

typedef struct cell {
	shape body, nucleus;
	float dna;    /* nuclear stain brightness */
	float nfkb;   /* NF-kB amount (brightness scale) */
	float frac;   /* fraction translocated into the nucleus, 0..1 */
} cell;

static void shape_init(shape *s, rng *r, float cx, float cy, float radius,
		       float max_aspect, float wobble)
{
	double aspect = rng_range(r, 1.0, max_aspect), t = rng_range(r, 0, M_PI);

	s->cx = cx;
	s->cy = cy;
	s->ax = radius * (float)sqrt(aspect);
	s->ay = radius / (float)sqrt(aspect);
	s->cos_t = (float)cos(t);
	s->sin_t = (float)sin(t);
	for (int k = 0; k < 3; k++) {
		s->wa[k] = (float)rng_range(r, -wobble, wobble) / (float)(k + 1);
		s->wb[k] = (float)rng_range(r, -wobble, wobble) / (float)(k + 1);
	}
	s->r_mean = radius;
}

/* Distance of (x, y) from the centre in units of the boundary radius in
 * that direction; the harmonics come from the angle by complex products. */
static float shape_dist(const shape *s, float x, float y)
{
	float dx = x - s->cx, dy = y - s->cy;
	float u = (dx * s->cos_t + dy * s->sin_t) / s->ax;
	float v = (dy * s->cos_t - dx * s->sin_t) / s->ay;
	float rho = sqrtf(u * u + v * v), c1, s1, c2, s2, c3, s3, c4, s4, wob;

	if (rho < 1e-6f)
		return 0.0f;
	c1 = u / rho;
	s1 = v / rho;
	c2 = c1 * c1 - s1 * s1;
	s2 = 2.0f * c1 * s1;
	c3 = c2 * c1 - s2 * s1;
	s3 = s2 * c1 + c2 * s1;
	c4 = c2 * c2 - s2 * s2;
	s4 = 2.0f * c2 * s2;
	wob = 1.0f + s->wa[0] * c2 + s->wb[0] * s2 + s->wa[1] * c3 +
	      s->wb[1] * s3 + s->wa[2] * c4 + s->wb[2] * s4;
	return rho / wob;
}

/* Anti-aliased membership: 1 inside, 0 a pixel outside the boundary. */
static float shape_cover(const shape *s, float d)
{
	float m = 0.5f + (1.0f - d) * s->r_mean;

	return m < 0.0f ? 0.0f : m > 1.0f ? 1.0f : m;
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* The mean translocation logit of a column: a sigmoid in log-dose. */
static float col_logit(int col)
{
	double c = col_concentration(col);
	float logit = c > 0 ? HILL * (float)log2(c / EC50) : -5.0f;

	return logit < -5.0f ? -5.0f : logit;
}

static void cell_init(cell *c, rng *r, const cell_line *line, int col,
		      float cx, float cy, float radius)
{
	float rn = radius * line->nuc_ratio * (float)rng_range(r, 0.9, 1.1);
	float room = radius * 0.08f, ang = (float)rng_range(r, 0, 2 * M_PI);

	shape_init(&c->body, r, cx, cy, radius, 1.3, 0.14);
	shape_init(&c->nucleus, r, cx + room * cosf(ang), cy + room * sinf(ang),
		   rn, 1.25, 0.05);
	c->dna = 150.0f * (float)exp(0.18 * rng_normal(r));
	c->nfkb = 105.0f * (float)exp(0.22 * rng_normal(r));
	c->frac = sigmoidf(col_logit(col) + CELL_LOGIT_SD * (float)rng_normal(r));
}

/* ---- one well ---- */

/* Per-thread scratch for drawing one well. */
typedef struct well_canvas {
	int w, h;
	float scale;              /* image pixels per reference pixel */
	float *dna, *nfkb;        /* the two channels before the optics */
	float *tex_nuc, *tex_cyto;/* smooth unit-variance textures */
	float *tmp;               /* blur scratch */
	cell *cells;
	int max_cells;
} well_canvas;

static void well_canvas_release(well_canvas *cv)
{
	free(cv->dna);
	free(cv->nfkb);
	free(cv->tex_nuc);
	free(cv->tex_cyto);
	free(cv->tmp);
	free(cv->cells);
	memset(cv, 0, sizeof(*cv));
}

static int well_canvas_init(well_canvas *cv, const synth_opts *o, pl_err *err)
{
	size_t n = (size_t)o->width * (size_t)o->height;

	memset(cv, 0, sizeof(*cv));
	cv->w = o->width;
	cv->h = o->height;
	cv->scale = (float)sqrt((double)o->width / REF_W * (double)o->height / REF_H);
	cv->max_cells = LINES[1].n_max;
	cv->dna = malloc(n * sizeof(float));
	cv->nfkb = malloc(n * sizeof(float));
	cv->tex_nuc = malloc(n * sizeof(float));
	cv->tex_cyto = malloc(n * sizeof(float));
	cv->tmp = malloc(n * sizeof(float));
	cv->cells = malloc((size_t)cv->max_cells * sizeof(cell));
	if (!cv->dna || !cv->nfkb || !cv->tex_nuc || !cv->tex_cyto || !cv->tmp ||
	    !cv->cells) {
		well_canvas_release(cv);
		return pl_errorf(err, PL_ENOMEM, "synth: out of memory for %dx%d images",
				 o->width, o->height);
	}
	return 0;
}

/* Separable Gaussian blur in place, edges clamped; returns the factor that
 * brings blurred unit-variance white noise back to unit variance. */
static float blur(float *im, float *tmp, int w, int h, float sigma)
{
	float k[64], ksum = 0, k2 = 0;
	int rad = (int)ceilf(3.0f * sigma);

	if (rad > 31)
		rad = 31;
	for (int i = -rad; i <= rad; i++)
		ksum += k[i + rad] = expf(-0.5f * (float)(i * i) / (sigma * sigma));
	for (int i = 0; i <= 2 * rad; i++) {
		k[i] /= ksum;
		k2 += k[i] * k[i];
	}
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			float acc = 0;
			for (int i = -rad; i <= rad; i++) {
				int xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
				acc += k[i + rad] * im[(size_t)y * w + xx];
			}
			tmp[(size_t)y * w + x] = acc;
		}
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			float acc = 0;
			for (int i = -rad; i <= rad; i++) {
				int yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
				acc += k[i + rad] * tmp[(size_t)yy * w + x];
			}
			im[(size_t)y * w + x] = acc;
		}
	return 1.0f / k2;
}

/* Smooth unit-variance noise: chromatin in the nuclei, granules in the
 * cytoplasm. */
static void make_texture(well_canvas *cv, rng *r, float *tex, float sigma)
{
	size_t n = (size_t)cv->w * cv->h;
	float norm;

	for (size_t i = 0; i < n; i++)
		tex[i] = rng_fast_normal(r);
	norm = sqrtf(blur(tex, cv->tmp, cv->w, cv->h, sigma));
	for (size_t i = 0; i < n; i++)
		tex[i] *= norm;
}

/* Scatters cells by dart throwing: they may touch, rarely overlap much, and
 * may be cut by the image border. Returns the number placed. */
static int place_cells(well_canvas *cv, rng *r, const cell_line *line, int col)
{
	int want = line->n_min + (int)(rng_uniform(r) * (line->n_max - line->n_min + 1));
	int n = 0;

	for (int i = 0; i < want && n < cv->max_cells; i++) {
		for (int attempt = 0; attempt < 40; attempt++) {
			float radius = line->radius * cv->scale *
				       (float)exp(0.12 * rng_normal(r));
			float cx = (float)rng_range(r, -radius * 0.5, cv->w + radius * 0.5);
			float cy = (float)rng_range(r, -radius * 0.5, cv->h + radius * 0.5);
			int ok = 1;

			for (int j = 0; j < n && ok; j++) {
				float dx = cx - cv->cells[j].body.cx;
				float dy = cy - cv->cells[j].body.cy;
				float lim = 0.8f * (radius + cv->cells[j].body.r_mean);
				ok = dx * dx + dy * dy > lim * lim;
			}
			if (ok) {
				cell_init(&cv->cells[n++], r, line, col, cx, cy, radius);
				break;
			}
		}
	}
	return n;
}

/* Adds one cell to the dna and nfkb channels. NF-kB fills the cytoplasm,
 * brighter towards the nucleus, and is excluded from the nucleus until it
 * translocates. */
static void draw_cell(well_canvas *cv, const cell *c)
{
	const shape *b = &c->body, *nu = &c->nucleus;
	float reach = fmaxf(b->ax, b->ay) * 1.3f + 2.0f;
	int x0 = (int)floorf(b->cx - reach), x1 = (int)ceilf(b->cx + reach);
	int y0 = (int)floorf(b->cy - reach), y1 = (int)ceilf(b->cy + reach);
	float nuc_level = c->nfkb * (0.25f + 1.3f * c->frac);
	float cyto_level = c->nfkb * (0.95f - 0.65f * c->frac);

	x0 = x0 < 0 ? 0 : x0;
	y0 = y0 < 0 ? 0 : y0;
	x1 = x1 >= cv->w ? cv->w - 1 : x1;
	y1 = y1 >= cv->h ? cv->h - 1 : y1;
	for (int y = y0; y <= y1; y++)
		for (int x = x0; x <= x1; x++) {
			size_t p = (size_t)y * cv->w + x;
			float db = shape_dist(b, (float)x, (float)y);
			float dn = shape_dist(nu, (float)x, (float)y);
			float mb = shape_cover(b, db), mn = shape_cover(nu, dn);
			float mc = mb - mn, tn = cv->tex_nuc[p], tc = cv->tex_cyto[p];

			if (mb <= 0.0f && mn <= 0.0f)
				continue;
			mc = mc < 0.0f ? 0.0f : mc;
			cv->dna[p] += mn * c->dna * (0.85f + 0.15f * (1.0f - dn * dn)) *
				      (1.0f + 0.22f * tn);
			cv->nfkb[p] += mn * nuc_level * (1.0f + 0.12f * tn) +
				       mc * cyto_level * (1.2f - 0.6f * fminf(db, 1.0f)) *
				       (1.0f + 0.3f * tc);
		}
}

/* Smooth illumination of one well: an off-centre vignette and a tilt. */
typedef struct illum {
	float cx, cy, vignette, gx, gy;
} illum;

static void illum_init(illum *il, rng *r)
{
	double tilt = rng_range(r, 0.0, 0.3), ang = rng_range(r, 0, 2 * M_PI);

	il->cx = (float)rng_range(r, 0.3, 0.7);
	il->cy = (float)rng_range(r, 0.3, 0.7);
	il->vignette = (float)rng_range(r, 0.15, 0.35);
	il->gx = (float)(tilt * cos(ang));
	il->gy = (float)(tilt * sin(ang));
}

/* Optics and camera: light falls off with il, plus background and offset,
 * then shot noise (variance proportional to the signal) and read noise. */
static void expose(well_canvas *cv, rng *r, const illum *il, const float *sig,
		   float gain, float background, uint8_t *out)
{
	for (int y = 0; y < cv->h; y++) {
		float fy = (float)y / (float)cv->h;
		for (int x = 0; x < cv->w; x++) {
			float fx = (float)x / (float)cv->w;
			float ddx = fx - il->cx, ddy = fy - il->cy;
			float light = (1.0f - il->vignette * 2.0f * (ddx * ddx + ddy * ddy)) *
				      (1.0f + il->gx * (fx - 0.5f) + il->gy * (fy - 0.5f));
			size_t p = (size_t)y * cv->w + x;
			float v = 4.0f + light * gain * (background + sig[p]);
			float noisy = v + sqrtf(0.7f * v + 1.5f) * rng_fast_normal(r);

			noisy = roundf(noisy);
			out[p] = noisy < 0 ? 0 : noisy > 255 ? 255 : (uint8_t)noisy;
		}
	}
}

/* Draws well `well` of plate `plate` into nuc and nfkb (w*h bytes each). */
static void render_well(well_canvas *cv, const synth_opts *o, int plate, int well,
			uint8_t *nuc, uint8_t *nfkb)
{
	size_t n = (size_t)cv->w * cv->h;
	int row = well / N_COLS, col = well % N_COLS, n_cells;
	float plate_gain[2];
	illum il;
	rng r;

	rng_seed_well(&r, o->seed, plate, SYNTH_WELLS);
	plate_gain[0] = (float)rng_range(&r, 0.9, 1.1);
	plate_gain[1] = (float)rng_range(&r, 0.9, 1.1);
	rng_seed_well(&r, o->seed, plate, well);
	memset(cv->dna, 0, n * sizeof(float));
	memset(cv->nfkb, 0, n * sizeof(float));
	make_texture(cv, &r, cv->tex_nuc, 0.8f * cv->scale);
	make_texture(cv, &r, cv->tex_cyto, 1.2f * cv->scale);
	n_cells = place_cells(cv, &r, row_line(row), col);
	for (int i = 0; i < n_cells; i++)
		draw_cell(cv, &cv->cells[i]);
	blur(cv->dna, cv->tmp, cv->w, cv->h, 0.7f * cv->scale);
	blur(cv->nfkb, cv->tmp, cv->w, cv->h, 0.7f * cv->scale);
	illum_init(&il, &r);
	expose(cv, &r, &il, cv->dna, plate_gain[0] * (float)rng_range(&r, 0.92, 1.08),
	       6.0f, nuc);
	expose(cv, &r, &il, cv->nfkb, plate_gain[1] * (float)rng_range(&r, 0.92, 1.08),
	       10.0f, nfkb);
}

/* ---- drawing all wells on a few threads ---- */

typedef struct draw_job {
	const synth_opts *o;
	const char *img_dir;      /* where the BMPs go */
	int n_wells;              /* over all plates */
	atomic_int next, done, failed;
	pthread_mutex_t lock;
	pl_err err;               /* the first error */
	int rc;
	log_progress progress;    /* updated by the calling thread only */
} draw_job;

static void job_fail(draw_job *job, int rc, const pl_err *err)
{
	pthread_mutex_lock(&job->lock);
	if (job->rc == 0) {
		job->rc = rc;
		job->err = *err;
	}
	pthread_mutex_unlock(&job->lock);
	atomic_store(&job->failed, 1);
}

static int write_well(draw_job *job, well_canvas *cv, int index, uint8_t *nuc,
		      uint8_t *nfkb, pl_err *err)
{
	char name[32], path[PATH_MAX];
	int plate = index / SYNTH_WELLS, well = index % SYNTH_WELLS, rc;

	render_well(cv, job->o, plate, well, nuc, nfkb);
	well_name(job->o, plate, well, name, sizeof(name));
	if ((rc = fs_path(path, sizeof(path), err, "%s/%s_nuclei.bmp", job->img_dir, name)) == 0)
		rc = img_write_bmp(path, nuc, cv->w, cv->h, 1, err);
	if (rc == 0 && (rc = fs_path(path, sizeof(path), err, "%s/%s_nfkb.bmp", job->img_dir,
				     name)) == 0)
		rc = img_write_bmp(path, nfkb, cv->w, cv->h, 1, err);
	return rc;
}

/* One worker; the calling thread runs one too and reports progress. */
static void draw_worker(draw_job *job, int reports)
{
	uint8_t *nuc = NULL, *nfkb = NULL;
	well_canvas cv;
	pl_err err = { 0 };
	int rc = well_canvas_init(&cv, job->o, &err), index;

	nuc = malloc((size_t)job->o->width * job->o->height);
	nfkb = malloc((size_t)job->o->width * job->o->height);
	if (rc == 0 && (!nuc || !nfkb))
		rc = pl_errorf(&err, PL_ENOMEM, "synth: out of memory");
	while (rc == 0 && !atomic_load(&job->failed) &&
	       (index = atomic_fetch_add(&job->next, 1)) < job->n_wells) {
		rc = write_well(job, &cv, index, nuc, nfkb, &err);
		atomic_fetch_add(&job->done, 1);
		if (reports)
			log_progress_update(&job->progress, atomic_load(&job->done));
	}
	if (rc != 0)
		job_fail(job, rc, &err);
	free(nuc);
	free(nfkb);
	well_canvas_release(&cv);
}

static void *draw_thread(void *arg)
{
	draw_worker(arg, 0);
	return NULL;
}

/* Draws every well of every plate into img_dir. */
static int draw_all(const synth_opts *o, const char *img_dir, pl_err *err)
{
	draw_job job = { .o = o, .img_dir = img_dir };
	pthread_t threads[MAX_THREADS];
	int cpus = sys_cpu_count();
	int n_threads = cpus > MAX_THREADS ? MAX_THREADS : cpus;
	int started = 0;

	job.n_wells = o->plates * SYNTH_WELLS;
	atomic_init(&job.next, 0);
	atomic_init(&job.done, 0);
	atomic_init(&job.failed, 0);
	pthread_mutex_init(&job.lock, NULL);
	log_progress_start(&job.progress, "drawing wells", job.n_wells, "wells");
	for (int i = 1; i < n_threads; i++) {
		if (pthread_create(&threads[started], NULL, draw_thread, &job) != 0)
			break;   /* fewer threads only make it slower */
		started++;
	}
	draw_worker(&job, 1);
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	log_progress_update(&job.progress, atomic_load(&job.done));
	log_progress_end(&job.progress);
	pthread_mutex_destroy(&job.lock);
	if (job.rc != 0 && err)
		*err = job.err;
	return job.rc;
}

/* ---- metadata and the file list ---- */

/* Builds metadata.csv (caller frees) and the archive member list: plate/
 * metadata.csv, then each well's nuclei and nfkb BMP (caller frees each
 * and the array). */
static int build_listing(const synth_opts *o, char **csv_out, char ***rel_out,
			 size_t *n_rel, pl_err *err)
{
	size_t n_wells = (size_t)o->plates * SYNTH_WELLS, k = 0;
	char **rel = calloc(1 + 2 * n_wells, sizeof(char *)), name[32];
	strbuf csv = { 0 };

	if (!rel)
		goto nomem;
	strbuf_appendf(&csv, "nuclei,nfkb,concentration,label,well,cell_line\n");
	if (!(rel[k++] = strdup("plate/metadata.csv")))
		goto nomem;
	for (size_t i = 0; i < n_wells; i++) {
		int plate = (int)(i / SYNTH_WELLS), well = (int)(i % SYNTH_WELLS);
		int row = well / N_COLS, col = well % N_COLS;

		well_name(o, plate, well, name, sizeof(name));
		strbuf_appendf(&csv, "images/%s_nuclei.bmp,images/%s_nfkb.bmp,%s,%s,%s,%s\n",
			       name, name, CONC_TEXT[col], col_label(col), name,
			       row_line(row)->name);
		if (asprintf(&rel[k++], "plate/images/%s_nuclei.bmp", name) < 0 ||
		    asprintf(&rel[k++], "plate/images/%s_nfkb.bmp", name) < 0) {
			rel[k - 1] = NULL;
			goto nomem;
		}
	}
	if (!(*csv_out = strbuf_take(&csv, NULL)))
		goto nomem;
	*rel_out = rel;
	*n_rel = k;
	return 0;
nomem:
	strbuf_release(&csv);
	for (size_t i = 0; rel && i < k; i++)
		free(rel[i]);
	free(rel);
	return pl_errorf(err, PL_ENOMEM, "synth: out of memory for the metadata");
}

static void free_listing(char **rel, size_t n)
{
	for (size_t i = 0; rel && i < n; i++)
		free(rel[i]);
	free(rel);
}

/* Writes staging/plate/{metadata.csv,images/...}. */
static int stage_plate(const synth_opts *o, const char *staging, char ***rel,
		       size_t *n_rel, pl_err *err)
{
	char path[PATH_MAX], *csv = NULL;
	int rc;

	*rel = NULL;
	*n_rel = 0;
	if ((rc = fs_path(path, sizeof(path), err, "%s/plate/images", staging)) == 0)
		rc = fs_mkdirs(path, err);
	if (rc == 0)
		rc = build_listing(o, &csv, rel, n_rel, err);
	if (rc == 0)
		rc = draw_all(o, path, err);
	if (rc == 0 && (rc = fs_path(path, sizeof(path), err, "%s/plate/metadata.csv",
				     staging)) == 0)
		rc = fs_write_file(path, csv, strlen(csv), err);
	free(csv);
	return rc;
}

/* ---- where the output goes ---- */

typedef struct target {
	int is_dir;                /* out/plate/ rather than an archive */
	arc_format fmt;            /* for an archive */
	char parent[PATH_MAX];     /* the directory that receives the result */
	char base[PATH_MAX];       /* "plate" or the archive's file name */
	char final[PATH_MAX];      /* the path written */
} target;

static int ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static int resolve_target(const char *out, target *t, pl_err *err)
{
	size_t len = strlen(out);
	const char *slash;
	int rc;

	memset(t, 0, sizeof(*t));
	if (len == 0)
		return pl_errorf(err, PL_EUSAGE, "synth: the output path is empty");
	t->is_dir = out[len - 1] == '/' || fs_is_dir(out);
	if (t->is_dir) {
		if ((rc = fs_path(t->parent, sizeof(t->parent), err, "%s", out)) < 0)
			return rc;
		while (len > 1 && t->parent[len - 1] == '/')
			t->parent[--len] = '\0';
		strcpy(t->base, "plate");
		return fs_path(t->final, sizeof(t->final), err, "%s%splate", t->parent,
			       strcmp(t->parent, "/") == 0 ? "" : "/");
	}
	slash = strrchr(out, '/');
	if (slash == NULL)
		strcpy(t->parent, ".");
	else if (slash == out)
		strcpy(t->parent, "/");
	else if ((rc = fs_path(t->parent, sizeof(t->parent), err, "%.*s", (int)(slash - out),
			       out)) < 0)
		return rc;
	if ((rc = fs_path(t->base, sizeof(t->base), err, "%s", slash ? slash + 1 : out)) < 0 ||
	    (rc = fs_path(t->final, sizeof(t->final), err, "%s", out)) < 0)
		return rc;
	if (ends_with(out, ".tar.zst") || ends_with(out, ".tzst"))
		t->fmt = ARC_TAR_ZST;
	else if (ends_with(out, ".tar.gz") || ends_with(out, ".tgz") || !strchr(t->base, '.'))
		t->fmt = ARC_TAR_GZ;   /* a name without an extension gets gzip too */
	else
		return pl_errorf(err, PL_EUSAGE, "synth: '%s': give a .tar.gz or .tar.zst archive "
				 "(a name without an extension is a .tar.gz), or a directory ending "
				 "in '/'", out);
	return 0;
}

/* Moves the staged plate to its place: the plate/ tree itself, or an
 * archive of it built inside the staging directory. */
static int commit_plate(const target *t, const char *staging, char **rel,
			size_t n_rel, pl_err *err)
{
	char path[PATH_MAX];
	int rc;

	if (t->is_dir) {
		if ((rc = fs_path(path, sizeof(path), err, "%s/plate", staging)) == 0)
			rc = fs_fsync_tree(path, err);
		if (rc == 0 && fs_exists(t->final))
			rc = pl_errorf(err, PL_EUSAGE, "synth: '%s' appeared while drawing; "
				       "remove it or choose another output directory", t->final);
		return rc ? rc : fs_rename(path, t->final, err);
	}
	if ((rc = fs_path(path, sizeof(path), err, "%s/archive.tmp", staging)) < 0)
		return rc;
	rc = arc_pack(path, t->fmt, staging, (const char *const *)rel, n_rel, err);
	return rc ? rc : fs_rename(path, t->final, err);
}

int synth_write(const synth_opts *o, const char *out, pl_err *err)
{
	char staging[PATH_MAX] = "", **rel = NULL;
	size_t n_rel = 0;
	pl_err cleanup_err;
	target t;
	int rc;

	if ((rc = synth_check(o, err)) != 0 || (rc = resolve_target(out, &t, err)) != 0)
		return rc;
	if (t.is_dir && fs_exists(t.final))
		return pl_errorf(err, PL_EUSAGE, "synth: '%s' already exists: remove it "
				 "or choose another output directory", t.final);
	if ((rc = fs_mkdirs(t.parent, err)) != 0)
		return rc;
	if ((rc = fs_path(staging, sizeof(staging), err, "%s/.%s.synth-XXXXXX", t.parent,
			  t.base)) < 0)
		goto out;
	if (!mkdtemp(staging)) {
		rc = pl_errorf(err, PL_EIO, "synth: cannot create a temporary directory "
			       "in '%s': %s", t.parent, strerror(errno));
		staging[0] = '\0';
		goto out;
	}
	rc = stage_plate(o, staging, &rel, &n_rel, err);
	if (rc == 0)
		rc = commit_plate(&t, staging, rel, n_rel, err);
out:
	if (staging[0] && fs_rmtree(staging, &cleanup_err) != 0)
		log_warn("synth: %s", cleanup_err.msg);
	free_listing(rel, n_rel);
	return rc;
}

/* ---- options ---- */

void synth_defaults(synth_opts *o)
{
	o->seed = 1;
	o->plates = 1;
	o->width = REF_W;
	o->height = REF_H;
}

/* Parses a decimal number of the whole text (no sign, no spaces). */
static int parse_u64(const char *text, size_t len, uint64_t *value)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(text[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(text[i] - '0');
	}
	*value = v;
	return 0;
}

int synth_parse_size(const char *text, int *width, int *height, pl_err *err)
{
	const char *x = strchr(text, 'x');
	uint64_t w, h;

	if (!x || parse_u64(text, (size_t)(x - text), &w) != 0 ||
	    parse_u64(x + 1, strlen(x + 1), &h) != 0)
		return pl_errorf(err, PL_EUSAGE, "size '%s' is not WIDTHxHEIGHT "
				 "(e.g. 340x256)", text);
	if (w < SYNTH_MIN_SIDE || w > SYNTH_MAX_SIDE || h < SYNTH_MIN_SIDE ||
	    h > SYNTH_MAX_SIDE)
		return pl_errorf(err, PL_EUSAGE, "size '%s' is out of range: each "
				 "side must be %d..%d", text, SYNTH_MIN_SIDE, SYNTH_MAX_SIDE);
	*width = (int)w;
	*height = (int)h;
	return 0;
}

int synth_check(const synth_opts *o, pl_err *err)
{
	if (o->plates < 1 || o->plates > SYNTH_MAX_PLATES)
		return pl_errorf(err, PL_EUSAGE, "synth: plates must be 1..%d, not %d",
				 SYNTH_MAX_PLATES, o->plates);
	if (o->width < SYNTH_MIN_SIDE || o->width > SYNTH_MAX_SIDE ||
	    o->height < SYNTH_MIN_SIDE || o->height > SYNTH_MAX_SIDE)
		return pl_errorf(err, PL_EUSAGE, "synth: size %dx%d is out of range: each "
				 "side must be %d..%d", o->width, o->height,
				 SYNTH_MIN_SIDE, SYNTH_MAX_SIDE);
	return 0;
}

/* Applies one key=value of a synth: source. */
static int apply_source_key(const char *src, const char *key, size_t key_len,
			    const char *value, size_t value_len, synth_opts *o,
			    pl_err *err)
{
	char text[64];
	uint64_t v;

	if (value_len >= sizeof(text))
		value_len = sizeof(text) - 1;
	memcpy(text, value, value_len);
	text[value_len] = '\0';
	if (key_len == 4 && memcmp(key, "seed", 4) == 0) {
		if (parse_u64(value, value_len, &v) != 0)
			return pl_errorf(err, PL_EUSAGE, "source '%s': seed '%s' is not a "
					 "non-negative integer", src, text);
		o->seed = v;
	} else if (key_len == 6 && memcmp(key, "plates", 6) == 0) {
		if (parse_u64(value, value_len, &v) != 0 || v < 1 || v > SYNTH_MAX_PLATES)
			return pl_errorf(err, PL_EUSAGE, "source '%s': plates '%s' must be "
					 "1..%d", src, text, SYNTH_MAX_PLATES);
		o->plates = (int)v;
	} else if (key_len == 4 && memcmp(key, "size", 4) == 0) {
		int rc = synth_parse_size(text, &o->width, &o->height, err);
		if (rc != 0)
			return pl_errprefix(err, "source '%s': ", src);
	} else {
		return pl_errorf(err, PL_EUSAGE, "source '%s': unknown key '%.*s' "
				 "(known: seed, plates, size)", src, (int)key_len, key);
	}
	return 0;
}

int synth_parse_source(const char *src, synth_opts *o, pl_err *err)
{
	const char *p, *query;
	size_t name_len;

	synth_defaults(o);
	if (strncmp(src, "synth:", 6) != 0)
		return pl_errorf(err, PL_EUSAGE, "source '%s' is not a synth: source", src);
	p = src + 6;
	query = strchr(p, '?');
	name_len = query ? (size_t)(query - p) : strlen(p);
	if (name_len != 0 && (name_len != 5 || strncmp(p, "plate", 5) != 0))
		return pl_errorf(err, PL_EUSAGE, "source '%s': unknown demo set (the "
				 "demo is 'synth:plate')", src);
	for (p = query ? query + 1 : NULL; p && *p;) {
		const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		int rc;

		if (!eq)
			return pl_errorf(err, PL_EUSAGE, "source '%s': '%.*s' is not "
					 "key=value", src, (int)(end - p), p);
		rc = apply_source_key(src, p, (size_t)(eq - p), eq + 1,
				      (size_t)(end - eq - 1), o, err);
		if (rc != 0)
			return rc;
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* ---- preview ---- */

/* The value below which a fraction q of the n bytes lie. */
static int byte_quantile(const uint8_t *px, size_t n, double q)
{
	size_t hist[256] = { 0 }, acc = 0;

	for (size_t i = 0; i < n; i++)
		hist[px[i]]++;
	for (int v = 0; v < 256; v++)
		if ((acc += hist[v]) >= (size_t)(q * (double)n))
			return v;
	return 255;
}

/* Stretches a channel linearly so that lo..hi becomes 0..255 and
 * writes it to channel ch of the RGB panel at column x0 of rgb. */
static void put_panel(uint8_t *rgb, int rgb_w, int x0, const uint8_t *px,
		      int w, int h, int ch, int lo, int hi)
{
	float scale = 255.0f / (float)(hi > lo ? hi - lo : 1);

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			float v = ((float)px[(size_t)y * w + x] - (float)lo) * scale;
			rgb[((size_t)y * rgb_w + x0 + x) * 3 + ch] =
				v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
		}
}

int synth_preview(const synth_opts *o, const char *png_path, pl_err *err)
{
	static const int wells[3] = { 0, N_COLS / 2, N_COLS - 1 };   /* A01 A07 A12 */
	int w = o->width, h = o->height, gap = 4, rgb_w = 3 * w + 2 * gap, rc;
	size_t n = (size_t)w * h;
	uint8_t *px = NULL, *rgb = NULL;
	well_canvas cv = { 0 };

	if ((rc = synth_check(o, err)) != 0 || (rc = well_canvas_init(&cv, o, err)) != 0)
		return rc;
	px = malloc(n * 6);   /* per channel, the three wells one after another */
	rgb = malloc((size_t)rgb_w * h * 3);
	if (!px || !rgb) {
		rc = pl_errorf(err, PL_ENOMEM, "synth: out of memory for the preview");
		goto out;
	}
	memset(rgb, 255, (size_t)rgb_w * h * 3);
	for (int i = 0; i < 3; i++)
		render_well(&cv, o, 0, wells[i], px + i * n, px + (3 + i) * n);
	for (int ch = 0; ch < 2; ch++) {
		const uint8_t *chan = px + 3 * n * ch;
		int lo = byte_quantile(chan, 3 * n, 0.05), hi = byte_quantile(chan, 3 * n, 0.997);

		for (int i = 0; i < 3; i++)
			put_panel(rgb, rgb_w, i * (w + gap), chan + i * n, w, h,
				  ch == 0 ? 2 : 1, lo, hi);
	}
	for (int y = 0; y < h; y++)   /* red stays dark inside the panels */
		for (int i = 0; i < 3; i++)
			for (int x = 0; x < w; x++)
				rgb[((size_t)y * rgb_w + i * (w + gap) + x) * 3] = 0;
	rc = img_write_png(png_path, rgb, rgb_w, h, 3, err);
out:
	free(px);
	free(rgb);
	well_canvas_release(&cv);
	return rc;
}
