/* Package verification, model loading and prediction for `pipeline predict`. */
#include "serve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../../io/arc.h"
#include "../../io/sha.h"
#include "../../io/utf8.h"
#include "../../nn/nn.h"
#include "../preproc.h"

#define MAX_ENTRIES 16
#define MAX_FILES PREPROC_MAX_CHANNELS   /* channel files of a sample */
#define BATCH 32         /* tiles per network call: one full panel of nn's dense GEMM */
/* Tiles per network call in a process that opens one package to predict a
 * few images (predict, a fleet job): the net's buffers are sized for 4 tiles,
 * faulted in once and reused, which costs a cold process less than buffers
 * for 32 (a sample's result does not depend on its batch). */
#define SMALL_BATCH 4

typedef struct queued { char *name; int n_tiles; } queued;

struct serve_pkg {
	nn_net *net;
	nn_meta meta;
	preproc_opts prep;
	int n_files;
	int quantize;           /* records were stored as u8: round like prepare did */
	float *x, *probs;       /* queued tiles and the network's output for them */
	float *sample_probs;    /* one sample's, averaged over its tiles */
	int n_tiles, cap_tiles;
	queued *samples;        /* the queued samples, in order */
	int n_samples, cap_samples;
	char *name, *version;   /* MANIFEST.json's */
};

typedef struct entry { char *name; void *data; size_t len; } entry;
/* The entries met so far; data is NULL for those skipped unread. */
typedef struct entries {
	entry e[MAX_ENTRIES];
	int n;
	const char *path;
	int all;                /* read and check every entry, not only those predict uses */
} entries;

static entry *find_entry(entries *es, const char *name)
{
	for (int i = 0; i < es->n; i++)
		if (!strcmp(es->e[i].name, name))
			return &es->e[i];
	return NULL;
}

/* The entries predict reads: everything else in a package is for people
 * and other tools, and is neither read nor trusted by it. */
static int is_used(const char *name)
{
	return !strcmp(name, "MANIFEST.json") || !strcmp(name, "model.pnn");
}

/* Notes an entry met in the archive; each name may come once. */
static int note_entry(entries *es, const char *name, pl_err *err)
{
	if (find_entry(es, name))
		return pl_errorf(err, PL_EDATA, "package '%s': entry '%s' appears twice",
				 es->path, name);
	if (es->n == MAX_ENTRIES)
		return pl_errorf(err, PL_EDATA, "package '%s' has too many entries", es->path);
	es->e[es->n] = (entry){ strdup(name), NULL, 0 };
	if (!es->e[es->n].name)
		return pl_errorf(err, PL_ENOMEM, "out of memory reading package");
	es->n++;
	return 0;
}

static int want_entry(void *ctx, const char *name, pl_err *err)
{
	entries *es = ctx;
	int rc = note_entry(es, name, err);

	return rc < 0 ? rc : es->all || is_used(name);
}

/* Keeps the entries read in memory (the model's buffer is taken over rather
 * than copied), and ends the walk once predict has all it uses: a package
 * made now stores those first. */
static int take_entry(void *ctx, const char *name, void *data, size_t len, pl_err *err)
{
	entries *es = ctx;
	entry *man, *model;

	if (!data)
		return pl_errorf(err, PL_EDATA, "package '%s': entry '%s' is not a regular file",
				 es->path, name);
	es->e[es->n - 1].data = data;
	es->e[es->n - 1].len = len;
	man = find_entry(es, "MANIFEST.json");
	model = find_entry(es, "model.pnn");
	return !es->all && man && man->data && model && model->data ? ARC_KEEP_STOP : ARC_KEEP;
}

/* Checks the entries read against MANIFEST.json's SHA-256, and that every
 * entry met is listed; with es->all also that every listed file is there. */
static int verify(entries *es, pl_err *err)
{
	entry *man = find_entry(es, "MANIFEST.json");
	json_t *root, *files, *value;
	const char *key;
	char hex[SHA256_HEX];
	int rc = 0;

	if (!man)
		return pl_errorf(err, PL_EDATA, "package '%s' has no MANIFEST.json", es->path);
	root = json_loadb(man->data, man->len, JSON_REJECT_DUPLICATES, NULL);
	files = json_object_get(root, "files");
	if (!json_is_object(files))
		rc = pl_errorf(err, PL_EDATA, "package '%s': MANIFEST.json is malformed", es->path);
	else if (json_integer_value(json_object_get(root, "format")) != 1)
		rc = pl_errorf(err, PL_EDATA, "package '%s': MANIFEST.json has format %lld, this "
			       "program reads format 1; use a newer pipeline", es->path,
			       (long long)json_integer_value(json_object_get(root, "format")));
	json_object_foreach(files, key, value)
		if (rc == 0 && es->all && !find_entry(es, key))
			rc = pl_errorf(err, PL_EDATA, "package '%s': '%s' is listed in MANIFEST.json "
				       "but missing", es->path, key);
	for (int i = 0; i < es->n && rc == 0; i++) {
		const char *want = json_string_value(json_object_get(files, es->e[i].name));
		if (&es->e[i] == man)
			continue;
		if (want && es->e[i].data)
			sha256_hex(es->e[i].data, es->e[i].len, hex);
		if (!want || (es->e[i].data && strcmp(want, hex)))
			rc = pl_errorf(err, PL_EDATA, "package '%s': '%s' %s", es->path, es->e[i].name,
				       want ? "does not match its SHA-256 in MANIFEST.json (tampered or "
				       "damaged)" : "is not listed in MANIFEST.json");
	}
	json_decref(root);
	return rc;
}

static void entries_release(entries *es)
{
	for (int i = 0; i < es->n; i++) {
		free(es->e[i].name);
		free(es->e[i].data);
	}
	es->n = 0;
}

/* Reads the package at path into es (every entry, or those predict uses
 * when es->all is 0) and verifies what was read. */
static int read_package(const char *path, entries *es, pl_err *err)
{
	arc_limits lim = { 64, (int64_t)2 << 30, (int64_t)4 << 30 };
	int rc = arc_select(path, &lim, want_entry, take_entry, es, err);

	return rc < 0 ? rc : verify(es, err);
}

int serve_verify(const char *path, int *n_files, pl_err *err)
{
	entries es = { .path = path, .all = 1 };
	int rc = read_package(path, &es, err);

	if (n_files)
		*n_files = es.n;
	entries_release(&es);
	return rc;
}

/* The package's name and version, from its (verified) MANIFEST.json;
 * "model" and "1" when it names none. */
static int load_identity(serve_pkg *p, entries *es, pl_err *err)
{
	entry *man = find_entry(es, "MANIFEST.json");
	json_t *root = json_loadb(man->data, man->len, 0, NULL);
	const char *name = json_string_value(json_object_get(root, "name"));
	const char *version = json_string_value(json_object_get(root, "version"));

	p->name = strdup(name ? name : "model");
	p->version = strdup(version ? version : "1");
	json_decref(root);
	if (!p->name || !p->version)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	return 0;
}

static int load_model(serve_pkg *p, const entry *model, int threads, int batch, pl_err *err)
{
	nn_err e = { 0 };

	p->net = nn_model_load_mem(model->data, model->len, "model.pnn", threads, batch, &p->meta, &e);
	if (!p->net)
		return pl_errorf(err, PL_EDATA, "package: %s", e.msg);
	if (!(p->sample_probs = malloc((size_t)nn_n_classes(p->net) * sizeof(float))))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	return 0;
}

/* Reads the preprocessing parameters stored with the model. */
static int load_prep(serve_pkg *p, pl_err *err)
{
	json_t *extra = p->meta.extra ? json_loads(p->meta.extra, 0, NULL) : NULL;
	nn_shape s = nn_input_shape(p->net);
	int rc;

	if (!extra)
		return pl_errorf(err, PL_EDATA, "the model carries no preprocessing parameters");
	rc = preproc_from_json(json_object_get(extra, "preprocess"), &p->prep, err);
	p->n_files = (int)json_array_size(json_object_get(extra, "channel_files"));
	p->quantize = !json_is_string(json_object_get(extra, "dtype")) ||
		      !strcmp(json_string_value(json_object_get(extra, "dtype")), "u8");
	json_decref(extra);
	if (rc == 0 && (p->n_files < 1 || p->n_files > MAX_FILES || p->prep.size != s.h ||
			s.h != s.w))
		rc = pl_errorf(err, PL_EDATA, "the model's preprocessing does not match its input");
	return rc;
}

static int open_package(const char *path, int threads, int batch, serve_pkg **out, pl_err *err)
{
	entries es = { .path = path };
	serve_pkg *p = calloc(1, sizeof(*p));
	entry *model = NULL;
	int rc;

	*out = NULL;
	if (!p)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	rc = read_package(path, &es, err);
	if (rc == 0 && (!(model = find_entry(&es, "model.pnn")) || !model->data))
		rc = pl_errorf(err, PL_EDATA, "package '%s' has no model.pnn", path);
	if (rc == 0)
		rc = load_identity(p, &es, err);
	if (rc == 0)
		rc = load_model(p, model, threads, batch, err);
	if (rc == 0)
		rc = load_prep(p, err);
	entries_release(&es);
	if (rc < 0)
		serve_close(p);
	else
		*out = p;
	return rc;
}

int serve_open(const char *path, serve_pkg **out, pl_err *err)
{
	return open_package(path, 1, SMALL_BATCH, out, err);
}

int serve_open_threads(const char *path, int threads, serve_pkg **out, pl_err *err)
{
	return open_package(path, threads, BATCH, out, err);
}

void serve_close(serve_pkg *p)
{
	if (!p)
		return;
	nn_net_free(p->net);
	nn_meta_free(&p->meta);
	for (int i = 0; i < p->n_samples; i++)
		free(p->samples[i].name);
	free(p->samples);
	free(p->x);
	free(p->probs);
	free(p->sample_probs);
	free(p->name);
	free(p->version);
	free(p);
}

int serve_n_classes(const serve_pkg *p) { return nn_n_classes(p->net); }
const char *serve_class(const serve_pkg *p, int k) { return p->meta.class_names[k]; }
int serve_n_files(const serve_pkg *p) { return p->n_files; }

void serve_decode_limits(const serve_pkg *p, img_limits *lim)
{
	preproc_decode_limits(&p->prep, p->n_files, lim);
}

int serve_n_channels(const serve_pkg *p) { return nn_input_shape(p->net).c; }
int serve_side(const serve_pkg *p) { return nn_input_shape(p->net).h; }
const char *serve_name(const serve_pkg *p) { return p->name; }
const char *serve_version(const serve_pkg *p) { return p->version; }
int serve_threads(const serve_pkg *p) { return nn_threads(p->net); }

/* Makes room for one more sample of n_tiles tiles in the queue. */
static int grow_queue(serve_pkg *p, int n_tiles, pl_err *err)
{
	size_t tile = (size_t)serve_n_channels(p) * p->prep.size * p->prep.size;
	int k = nn_n_classes(p->net);

	if (p->n_samples == p->cap_samples) {
		int cap = p->cap_samples ? 2 * p->cap_samples : BATCH;
		queued *bigger = realloc(p->samples, (size_t)cap * sizeof(*bigger));
		if (!bigger)
			return pl_errorf(err, PL_ENOMEM, "out of memory queueing a sample");
		p->samples = bigger;
		p->cap_samples = cap;
	}
	if (p->n_tiles + n_tiles > p->cap_tiles) {
		int cap = p->n_tiles + n_tiles > 2 * p->cap_tiles ? p->n_tiles + n_tiles : 2 * p->cap_tiles;
		float *x = realloc(p->x, (size_t)cap * tile * sizeof(float));
		if (x)
			p->x = x;
		float *probs = x ? realloc(p->probs, (size_t)cap * k * sizeof(float)) : NULL;
		if (!probs)
			return pl_errorf(err, PL_ENOMEM, "out of memory queueing %d tiles", n_tiles);
		p->probs = probs;
		p->cap_tiles = cap;
	}
	return 0;
}

/* Rounds the tiles like the records were stored and standardises them with
 * the training statistics, as train saw them. */
static void normalise(const serve_pkg *p, float *tiles, int n_tiles)
{
	nn_shape s = nn_input_shape(p->net);
	size_t plane = (size_t)s.h * s.w;

	if (p->quantize)
		preproc_quantize_u8(tiles, NULL, (size_t)n_tiles * s.c * plane);
	for (int t = 0; t < n_tiles; t++)
		for (int ch = 0; ch < s.c; ch++) {
			float *v = tiles + ((size_t)t * s.c + ch) * plane;
			float m = p->meta.n_channels ? p->meta.mean[ch] : 0;
			float sd = p->meta.n_channels ? p->meta.std[ch] : 1;
			for (size_t i = 0; i < plane; i++)
				v[i] = (v[i] - m) / sd;
		}
}

int serve_queue(serve_pkg *p, const img *ims, const char *const *names, int n, pl_err *err)
{
	nn_shape s = nn_input_shape(p->net);
	preproc_opts opts = p->prep;
	preproc_result r;
	int rc;

	if (n != p->n_files)
		return pl_errorf(err, PL_EUSAGE, "the model takes %d channel file(s) per sample, "
				 "'%s' gives %d", p->n_files, names[0], n);
	/* an image already of the network's input size is one tile (a sample) */
	if (ims[0].w == s.w && ims[0].h == s.h)
		opts.tile = 0;
	if ((rc = preproc_images(&opts, ims, names, n, &r, err)) < 0)
		return rc;
	if (r.c != s.c)
		rc = pl_errorf(err, PL_EDATA, "'%s' gives %d channels, the model takes %d",
			       names[0], r.c, s.c);
	if (rc == 0)
		rc = grow_queue(p, r.n_tiles, err);
	if (rc == 0 && !(p->samples[p->n_samples].name = strdup(names[0])))
		rc = pl_errorf(err, PL_ENOMEM, "out of memory queueing '%s'", names[0]);
	if (rc == 0) {
		size_t tile = (size_t)s.c * s.h * s.w;
		normalise(p, r.tiles, r.n_tiles);
		memcpy(p->x + p->n_tiles * tile, r.tiles, r.n_tiles * tile * sizeof(float));
		p->samples[p->n_samples++].n_tiles = r.n_tiles;
		p->n_tiles += r.n_tiles;
	}
	preproc_result_release(&r);
	return rc;
}

int serve_queue_tensor(serve_pkg *p, const float *x, const char *name, pl_err *err)
{
	nn_shape s = nn_input_shape(p->net);
	size_t tile = (size_t)s.c * s.h * s.w;
	int rc = grow_queue(p, 1, err);

	for (size_t i = 0; rc == 0 && i < tile; i++)
		if (!(x[i] >= 0 && x[i] <= 1))
			rc = pl_errorf(err, PL_EDATA, "'%s': value %zu is %g, pixels are 0..1", name, i,
				       (double)x[i]);
	if (rc == 0 && !(p->samples[p->n_samples].name = strdup(name)))
		rc = pl_errorf(err, PL_ENOMEM, "out of memory queueing '%s'", name);
	if (rc < 0)
		return rc;
	memcpy(p->x + p->n_tiles * tile, x, tile * sizeof(float));
	normalise(p, p->x + p->n_tiles * tile, 1);
	p->samples[p->n_samples++].n_tiles = 1;
	p->n_tiles++;
	return 0;
}

int serve_best(const serve_pkg *p, const float *probs)
{
	int best = 0;

	for (int c = 1; c < nn_n_classes(p->net); c++)
		if (probs[c] > probs[best])
			best = c;
	return best;
}

json_t *serve_result_json(const serve_pkg *p, const char *name, const float *probs)
{
	json_t *row = json_object(), *scores = json_object();
	int k = nn_n_classes(p->net);

	for (int c = 0; c < k; c++)
		json_object_set_new(scores, serve_class(p, c), json_real(round(probs[c] * 1e6) / 1e6));
	if (name)
		json_object_set_new(row, "file", json_text(name));
	json_object_set_new(row, "label", json_string(serve_class(p, serve_best(p, probs))));
	json_object_set_new(row, "scores", scores);
	return row;
}

/* Splits the channels of im, a whole sample, into the single-channel images
 * of the model's n channel files (see serve_queue_image). */
static int split_channels(const img *im, const char *name, int n, img *out, pl_err *err)
{
	/* every channel when the counts match, else the colour ones (from G for two) */
	int colour = im->c == 2 || im->c == 4 ? im->c - 1 : im->c;
	int first = im->c != n && n == 2 && colour == 3 ? 1 : 0;
	int usable = im->c == n ? n : colour - first;
	size_t npx = (size_t)im->w * im->h;

	if (usable < n)
		return pl_errorf(err, PL_EUSAGE, "'%s' has %d channel(s), the model takes %d: give "
				 "one image holding them in order, or the channel files of the "
				 "sample with --channels a,b", name, im->c, n);
	for (int k = 0; k < n; k++) {
		out[k] = (img){ im->w, im->h, 1, im->maxval, malloc(npx * sizeof(float)) };
		if (!out[k].px)
			return pl_errorf(err, PL_ENOMEM, "out of memory splitting '%s'", name);
		for (size_t j = 0; j < npx; j++)
			out[k].px[j] = im->px[j * im->c + first + k];
	}
	return 0;
}

int serve_queue_image(serve_pkg *p, const img *im, const char *name, pl_err *err)
{
	img parts[MAX_FILES] = { { 0 } };
	const char *names[MAX_FILES];
	int n = p->n_files, rc;

	if (n == 1)
		return serve_queue(p, im, &name, 1, err);
	for (int k = 0; k < n; k++)
		names[k] = name;
	rc = split_channels(im, name, n, parts, err);
	if (rc == 0)
		rc = serve_queue(p, parts, names, n, err);
	for (int k = 0; k < n; k++)
		img_release(&parts[k]);
	return rc;
}

int serve_batch_full(const serve_pkg *p) { return p->n_tiles >= BATCH; }

int serve_run(serve_pkg *p, serve_emit_fn *emit, void *ctx, pl_err *err)
{
	int k = nn_n_classes(p->net), rc = 0;
	const float *tile_probs = p->probs;
	nn_err e = { 0 };

	if (p->n_tiles > 0 && nn_predict(p->net, p->x, p->n_tiles, p->probs, &e) < 0)
		rc = pl_errorf(err, PL_EFAIL, "%s", e.msg);
	for (int i = 0; i < p->n_samples; i++) {
		for (int c = 0; c < k && rc == 0; c++) {
			double sum = 0;
			for (int t = 0; t < p->samples[i].n_tiles; t++)
				sum += tile_probs[t * k + c];
			p->sample_probs[c] = (float)(sum / p->samples[i].n_tiles);
		}
		if (rc == 0)
			emit(ctx, p->samples[i].name, p->sample_probs);
		tile_probs += (size_t)p->samples[i].n_tiles * k;
		free(p->samples[i].name);
	}
	p->n_tiles = p->n_samples = 0;
	return rc;
}
