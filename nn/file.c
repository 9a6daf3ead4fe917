/* Model files and training checkpoints: a header (magic, format version,
 * payload length), the payload, and a CRC-32 of all that precedes it.
 * Little-endian, as written by the machines this runs on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "nn_impl.h"

#define MODEL_MAGIC "PLNNMODL"
#define CKPT_MAGIC "PLNNCKPT"
#define FORMAT_VERSION 1u
#define HEADER_BYTES 24
#define NO_STRING 0xffffffffu

typedef struct buf { unsigned char *p; size_t len, cap; int oom; } buf;
typedef struct rd { const unsigned char *p; size_t len, pos; int bad; } rd;

/* CRC-32 (IEEE) of n bytes: zlib's (a model of megabytes is checked in
 * a few milliseconds, which a forked predict process feels). */
static uint32_t file_crc(const unsigned char *p, size_t n)
{
	return (uint32_t)crc32_z(0, p, n);
}

static void put(buf *b, const void *src, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		unsigned char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_i32(buf *b, int v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_f32(buf *b, float v) { put(b, &v, 4); }

static void put_floats(buf *b, const float *v, size_t n)
{
	put_u64(b, n);
	put(b, v, n * sizeof(float));
}

static void put_str(buf *b, const char *s)
{
	if (!s) {
		put_u32(b, NO_STRING);
		return;
	}
	put_u32(b, (uint32_t)strlen(s));
	put(b, s, strlen(s));
}

static const void *get(rd *r, size_t n)
{
	if (r->bad || n > r->len - r->pos) {
		r->bad = 1;
		return NULL;
	}
	r->pos += n;
	return r->p + r->pos - n;
}

static uint32_t get_u32(rd *r) { const void *p = get(r, 4); uint32_t v = 0; if (p) memcpy(&v, p, 4); return v; }
static int get_i32(rd *r) { return (int)get_u32(r); }
static uint64_t get_u64(rd *r) { const void *p = get(r, 8); uint64_t v = 0; if (p) memcpy(&v, p, 8); return v; }
static float get_f32(rd *r) { const void *p = get(r, 4); float v = 0; if (p) memcpy(&v, p, 4); return v; }

/* Reads a float array of exactly n elements into dst. */
static void get_floats(rd *r, float *dst, size_t n)
{
	if (get_u64(r) != n) {
		r->bad = 1;
		return;
	}
	const void *p = get(r, n * sizeof(float));
	if (p && n)
		memcpy(dst, p, n * sizeof(float));
}

/* Returns a malloc'd copy of a string (NULL for an absent one). */
static char *get_str(rd *r)
{
	uint32_t n = get_u32(r);
	if (r->bad || n == NO_STRING)
		return NULL;
	const char *p = get(r, n);
	char *s = p ? malloc((size_t)n + 1) : NULL;
	if (!s) {
		r->bad = 1;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Starts a file image: magic, version, room for the payload length. */
static void begin(buf *b, const char *magic)
{
	put(b, magic, 8);
	put_u32(b, FORMAT_VERSION);
	put_u32(b, 0);
	put_u64(b, 0);
}

/* Fills in the payload length, appends the CRC and writes the file with
 * checked writes and fsync; removes a partial file on failure. */
static int finish_and_write(buf *b, const char *path, const char *what, nn_err *err)
{
	if (b->oom)
		return nn_errorf(err, NN_ENOMEM, "out of memory writing %s '%s'", what, path);
	uint64_t payload = b->len - HEADER_BYTES;
	memcpy(b->p + 16, &payload, 8);
	put_u32(b, file_crc(b->p, b->len));
	if (b->oom)
		return nn_errorf(err, NN_ENOMEM, "out of memory writing %s '%s'", what, path);
	FILE *f = fopen(path, "wb");
	if (!f)
		return nn_errorf(err, NN_EIO, "cannot create %s '%s': %s", what, path, strerror(errno));
	int ok = fwrite(b->p, 1, b->len, f) == b->len && fflush(f) == 0 && fsync(fileno(f)) == 0;
	int saved = errno;
	if (fclose(f) != 0 && ok) {
		ok = 0;
		saved = errno;
	}
	if (!ok) {
		unlink(path);
		return nn_errorf(err, NN_EIO, "cannot write %s '%s': %s", what, path, strerror(saved));
	}
	return 0;
}

/* Reads path whole and checks magic, version, length and checksum; on
 * success *r covers the payload and *data owns the bytes. */
/* Checks the header, length and checksum of a model or checkpoint image p
 * of len bytes (name for messages); r gets the payload. */
static int check_image(const unsigned char *p, size_t len, const char *name, const char *magic,
                       const char *what, rd *r, nn_err *err)
{
	uint32_t version, crc;
	uint64_t payload;

	if (len < 8 || memcmp(p, magic, 8) != 0)
		return nn_errorf(err, NN_EDATA, "'%s' is not a %s (wrong magic)", name, what);
	if (len < HEADER_BYTES + 4)
		return nn_errorf(err, NN_EDATA, "%s '%s' is truncated (%zu bytes)", what, name, len);
	memcpy(&version, p + 8, 4);
	memcpy(&payload, p + 16, 8);
	if (version > FORMAT_VERSION)
		return nn_errorf(err, NN_EDATA, "%s '%s' has format version %u, newer than this program "
		                 "reads (%u); use a newer pipeline", what, name, version, FORMAT_VERSION);
	if (version == 0)
		return nn_errorf(err, NN_EDATA, "%s '%s' is corrupt (format version 0)", what, name);
	if (payload > len - HEADER_BYTES - 4)
		return nn_errorf(err, NN_EDATA, "%s '%s' is truncated (%zu of %llu bytes)", what, name,
		                 len, (unsigned long long)payload + HEADER_BYTES + 4);
	if (payload < len - HEADER_BYTES - 4)
		return nn_errorf(err, NN_EDATA, "%s '%s' is corrupt (%zu bytes after the end)", what, name,
		                 (size_t)(len - HEADER_BYTES - 4 - payload));
	memcpy(&crc, p + len - 4, 4);
	if (crc != file_crc(p, len - 4))
		return nn_errorf(err, NN_EDATA, "%s '%s' is corrupt (checksum mismatch)", what, name);
	*r = (rd){ p + HEADER_BYTES, (size_t)payload, 0, 0 };
	return 0;
}

/* Reads the whole file at path with one allocation of its size. */
static int read_whole(const char *path, const char *what, unsigned char **data, size_t *len,
                      nn_err *err)
{
	FILE *f = fopen(path, "rb");
	long size;

	*data = NULL;
	if (!f)
		return nn_errorf(err, NN_EIO, "cannot open %s '%s': %s", what, path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return nn_errorf(err, NN_EIO, "cannot read %s '%s': %s", what, path, strerror(errno));
	}
	if (!(*data = malloc(size ? (size_t)size : 1))) {
		fclose(f);
		return nn_errorf(err, NN_ENOMEM, "out of memory reading '%s'", path);
	}
	*len = fread(*data, 1, (size_t)size, f);
	int failed = ferror(f);
	fclose(f);
	if (failed)
		return nn_errorf(err, NN_EIO, "cannot read %s '%s'", what, path);
	return 0;
}

static int read_checked(const char *path, const char *magic, const char *what,
                        unsigned char **data, rd *r, nn_err *err)
{
	size_t len = 0;
	int rc = read_whole(path, what, data, &len, err);

	return rc ? rc : check_image(*data, len, path, magic, what, r, err);
}

static void put_net_id(buf *b, const nn_net *net)
{
	put_str(b, net->arch);
	put_i32(b, net->in.c);
	put_i32(b, net->in.h);
	put_i32(b, net->in.w);
	put_i32(b, net->n_classes);
}

int nn_model_save(const nn_net *net, const nn_meta *meta, const char *path, nn_err *err)
{
	buf b = { 0 };
	int rc, n_names = meta && meta->class_names ? meta->n_classes : 0;
	int n_ch = meta && meta->mean && meta->std ? meta->n_channels : 0;
	if (meta && meta->class_names && meta->n_classes != net->n_classes)
		return nn_errorf(err, NN_EUSAGE, "cannot write model '%s': %d class names for a net with %d "
		                 "classes", path, meta->n_classes, net->n_classes);
	begin(&b, MODEL_MAGIC);
	put_net_id(&b, net);
	put_i32(&b, n_names);
	for (int i = 0; i < n_names; i++)
		put_str(&b, meta->class_names[i] ? meta->class_names[i] : "");
	put_i32(&b, n_ch);
	for (int i = 0; i < n_ch; i++) {
		put_f32(&b, meta->mean[i]);
		put_f32(&b, meta->std[i]);
	}
	put_str(&b, meta ? meta->extra : NULL);
	put_floats(&b, net->params, net->n_params);
	put_floats(&b, net->stats, net->n_stats);
	rc = finish_and_write(&b, path, "model file", err);
	free(b.p);
	return rc;
}

void nn_meta_free(nn_meta *meta)
{
	if (!meta)
		return;
	for (int i = 0; meta->class_names && i < meta->n_classes; i++)
		free(meta->class_names[i]);
	free(meta->class_names);
	free(meta->mean);
	free(meta->std);
	free(meta->extra);
	memset(meta, 0, sizeof(*meta));
}

/* Parses the meta part of a model payload into m. */
static void read_meta(rd *r, nn_meta *m)
{
	int n = get_i32(r);
	if (r->bad || n < 0 || (size_t)n > r->len / 4) {
		r->bad = 1;
		return;
	}
	m->class_names = calloc((size_t)n + 1, sizeof(char *));
	m->n_classes = n;
	for (int i = 0; m->class_names && i < n && !r->bad; i++)
		if (!(m->class_names[i] = get_str(r)))
			r->bad = 1;
	int c = get_i32(r);
	if (r->bad || c < 0 || (size_t)c > r->len / 8) {
		r->bad = 1;
		return;
	}
	m->n_channels = c;
	m->mean = calloc((size_t)c + 1, sizeof(float));
	m->std = calloc((size_t)c + 1, sizeof(float));
	if (!m->class_names || !m->mean || !m->std) {
		r->bad = 1;
		return;
	}
	for (int i = 0; i < c; i++) {
		m->mean[i] = get_f32(r);
		m->std[i] = get_f32(r);
	}
	m->extra = get_str(r);
}

nn_net *nn_model_load_mem(const void *image, size_t len, const char *name, int threads,
                          int max_batch, nn_meta *meta, nn_err *err)
{
	nn_net *net = NULL;
	nn_meta m = { 0 };
	char *arch = NULL;
	rd r;
	if (check_image(image, len, name, MODEL_MAGIC, "model file", &r, err) != 0)
		goto out;
	arch = get_str(&r);
	nn_shape in;
	in.c = get_i32(&r);
	in.h = get_i32(&r);
	in.w = get_i32(&r);
	int n_classes = get_i32(&r);
	read_meta(&r, &m);
	if (r.bad || !arch) {
		nn_errorf(err, NN_EDATA, "model file '%s' is corrupt (bad header fields)", name);
		goto out;
	}
	nn_err e2 = { 0 };
	if (!(net = nn_net_build(arch, in, n_classes, 0, threads, max_batch, 0,
	                         (r.len - r.pos) / sizeof(float) + 1, &e2))) {
		nn_errorf(err, e2.code == NN_ENOMEM ? NN_ENOMEM : NN_EDATA, "model file '%s': %s", name, e2.msg);
		goto out;
	}
	get_floats(&r, net->params, net->n_params);
	get_floats(&r, net->stats, net->n_stats);
	if (r.bad || r.pos != r.len) {
		nn_errorf(err, NN_EDATA, "model file '%s' is corrupt (weights do not match '%s')", name, arch);
		nn_net_free(net);
		net = NULL;
		goto out;
	}
	if (meta) {
		*meta = m;
		memset(&m, 0, sizeof(m));
	}
out:
	nn_meta_free(&m);
	free(arch);
	return net;
}

nn_net *nn_model_load(const char *path, int threads, int max_batch, nn_meta *meta, nn_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	nn_net *net = NULL;

	if (read_whole(path, "model file", &data, &len, err) == 0)
		net = nn_model_load_mem(data, len, path, threads, max_batch, meta, err);
	free(data);
	return net;
}

static void put_opt(buf *b, const nn_opt *o)
{
	put_i32(b, o->kind);
	put_f32(b, o->lr);
	put_f32(b, o->momentum);
	put_i32(b, o->nesterov);
	put_f32(b, o->beta1);
	put_f32(b, o->beta2);
	put_f32(b, o->eps);
	put_f32(b, o->weight_decay);
	put_i32(b, o->schedule);
	put_i32(b, o->step_epochs);
	put_f32(b, o->step_gamma);
	put_i32(b, o->warmup_epochs);
	put_i32(b, o->epochs);
}

static void get_opt(rd *r, nn_opt *o)
{
	o->kind = get_i32(r);
	o->lr = get_f32(r);
	o->momentum = get_f32(r);
	o->nesterov = get_i32(r);
	o->beta1 = get_f32(r);
	o->beta2 = get_f32(r);
	o->eps = get_f32(r);
	o->weight_decay = get_f32(r);
	o->schedule = get_i32(r);
	o->step_epochs = get_i32(r);
	o->step_gamma = get_f32(r);
	o->warmup_epochs = get_i32(r);
	o->epochs = get_i32(r);
}

int nn_checkpoint_save(const nn_net *net, const void *blob, size_t blob_len,
                       const char *path, nn_err *err)
{
	buf b = { 0 };
	begin(&b, CKPT_MAGIC);
	put_net_id(&b, net);
	put_floats(&b, net->params, net->n_params);
	put_floats(&b, net->stats, net->n_stats);
	put_opt(&b, &net->opt);
	put_u64(&b, net->opt_t);
	put_u64(&b, net->drop_rng);
	put_i32(&b, net->has_opt);
	if (net->has_opt) {
		put_floats(&b, net->opt_m, net->n_params);
		put_floats(&b, net->opt_v, net->n_params);
	}
	put_u64(&b, blob ? blob_len : 0);
	if (blob)
		put(&b, blob, blob_len);
	int rc = finish_and_write(&b, path, "checkpoint", err);
	free(b.p);
	return rc;
}

/* Restores the optimiser part of a checkpoint payload into net. */
static void get_opt_state(rd *r, nn_net *net)
{
	get_opt(r, &net->opt);
	net->opt_t = get_u64(r);
	net->drop_rng = get_u64(r);
	int has = get_i32(r);
	if (r->bad || !has)
		return;
	if (!net->has_opt) {
		net->opt_m = calloc(net->n_params ? net->n_params : 1, sizeof(float));
		net->opt_v = calloc(net->n_params ? net->n_params : 1, sizeof(float));
		if (!net->opt_m || !net->opt_v) {
			r->bad = 1;
			return;
		}
		net->has_opt = 1;
	}
	get_floats(r, net->opt_m, net->n_params);
	get_floats(r, net->opt_v, net->n_params);
}

int nn_checkpoint_load(nn_net *net, const char *path, void **blob, size_t *blob_len, nn_err *err)
{
	unsigned char *data = NULL;
	char *arch = NULL;
	void *copy = NULL;
	int rc;
	rd r;
	if ((rc = read_checked(path, CKPT_MAGIC, "checkpoint", &data, &r, err)) != 0)
		goto out;
	arch = get_str(&r);
	int c = get_i32(&r), h = get_i32(&r), w = get_i32(&r), k = get_i32(&r);
	if (r.bad || !arch || strcmp(arch, net->arch) || c != net->in.c || h != net->in.h ||
	    w != net->in.w || k != net->n_classes) {
		rc = nn_errorf(err, NN_EDATA, "checkpoint '%s' was made for another network ('%s', input "
		               "%dx%dx%d, %d classes); delete it to start afresh", path, arch ? arch : "?",
		               c, h, w, k);
		goto out;
	}
	get_floats(&r, net->params, net->n_params);
	get_floats(&r, net->stats, net->n_stats);
	get_opt_state(&r, net);
	uint64_t n = get_u64(&r);
	const void *p = get(&r, n);
	if (r.bad || r.pos != r.len || (n && !(copy = malloc(n)))) {
		rc = nn_errorf(err, NN_EDATA, "checkpoint '%s' is corrupt (bad fields)", path);
		goto out;
	}
	if (n)
		memcpy(copy, p, n);
	if (blob) {
		*blob = copy;
		copy = NULL;
	}
	if (blob_len)
		*blob_len = n;
out:
	free(copy);
	free(arch);
	free(data);
	return rc;
}
