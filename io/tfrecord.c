/* TFRecord shards (format described in tfrecord.h): a streaming writer,
 * plain or gzip, and a reader that indexes the framing once and decodes
 * each Example's PNG back to the stored pixels. */
#include "fs.h"
#include "tfrecord.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "example.pb-c.h"
#include "img.h"

#define N_KEYS 9
#define FRAME_HEAD 12   /* u64 length, u32 masked crc of it */

/* Fuzzing builds ignore checksums so the fuzzer reaches the code behind them. */
static int crc_bad(uint32_t stored, uint32_t computed)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	(void)stored;
	(void)computed;
	return 0;
#else
	return stored != computed;
#endif
}

uint32_t tfr_mask_crc(uint32_t crc)
{
	return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

int tfr_is_shard_name(const char *path)
{
	return ends_with(path, TFR_EXT) || ends_with(path, TFR_EXT_GZ);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Pixel bytes of one sample of the shape, or 0 when out of limits. */
static size_t sample_bytes(rec_dtype dt, int c, int h, int w)
{
	uint64_t n;

	if ((dt != REC_U8 && dt != REC_F32) || c < 1 || c > REC_MAX_CHANNELS || h < 1 ||
	    h > REC_MAX_SIDE || w < 1 || w > REC_MAX_SIDE)
		return 0;
	n = (uint64_t)c * h * w * (dt == REC_U8 ? 1 : 4);
	return n > REC_MAX_SAMPLE_BYTES ? 0 : (size_t)n;
}

/* The PNG of a sample: up to 4 channels interleaved, more stacked as gray. */
static void png_shape(int c, int h, int *png_c, int *png_h)
{
	*png_c = c <= 4 ? c : 1;
	*png_h = c <= 4 ? h : c * h;
}

/* ---------------------------------------------------------------- writer */

struct tfr_writer {
	FILE *fp;
	char *path;
	int gz;                 /* a gzip stream through zs */
	z_stream zs;
	uint8_t zout[65536];
	rec_dtype dtype;
	int c, h, w;
	size_t n_values;        /* c * h * w */
	void *png_px;           /* the sample in PNG order: u8 or u16 */
	char *const *classes;
	int n_classes;
	uint8_t *msg;           /* one packed Example */
	size_t msg_cap;
	uint64_t bytes;         /* written to fp */
	int64_t count;
	int failed, regular;
};

static void writer_free(tfr_writer *w, int remove_file)
{
	if (!w)
		return;
	if (w->fp)
		fclose(w->fp);
	if (remove_file && w->regular)
		unlink(w->path);
	if (w->gz)
		deflateEnd(&w->zs);
	free(w->png_px);
	free(w->msg);
	free(w->path);
	free(w);
}

static int put_file(tfr_writer *w, const void *buf, size_t n, pl_err *err)
{
	if (n && fwrite(buf, 1, n, w->fp) != n) {
		w->failed = 1;
		return pl_errorf(err, PL_EIO, "cannot write '%s': %s", w->path, strerror(errno));
	}
	w->bytes += n;
	return 0;
}

/* Sends n bytes through the sink (deflate first when gzip); flush ends the
 * gzip stream. */
static int put(tfr_writer *w, const void *buf, size_t n, int flush, pl_err *err)
{
	int zrc;

	if (!w->gz)
		return put_file(w, buf, n, err);
	w->zs.next_in = (Bytef *)buf;
	w->zs.avail_in = (uInt)n;
	do {
		w->zs.next_out = w->zout;
		w->zs.avail_out = sizeof(w->zout);
		zrc = deflate(&w->zs, flush ? Z_FINISH : Z_NO_FLUSH);
		if (zrc == Z_STREAM_ERROR) {
			w->failed = 1;
			return pl_errorf(err, PL_EFAIL, "cannot compress '%s'", w->path);
		}
		if (put_file(w, w->zout, sizeof(w->zout) - w->zs.avail_out, err) < 0)
			return -PL_EIO;
	} while (w->zs.avail_out == 0 || (flush && zrc != Z_STREAM_END));
	return 0;
}

tfr_writer *tfr_writer_open(const char *path, rec_dtype dt, int c, int h, int w,
			    char *const *classes, int n_classes, pl_err *err)
{
	size_t pix = sample_bytes(dt, c, h, w);
	tfr_writer *wr;
	struct stat st;

	if (!pix) {
		pl_errorf(err, PL_EUSAGE, "cannot create shard '%s': sample shape %dx%dx%d "
			  "is not supported", path, c, h, w);
		return NULL;
	}
	wr = calloc(1, sizeof(*wr));
	if (!wr || !(wr->path = strdup(path)))
		goto nomem;
	wr->dtype = dt;
	wr->c = c;
	wr->h = h;
	wr->w = w;
	wr->n_values = (size_t)c * h * w;
	wr->classes = classes;
	wr->n_classes = n_classes;
	wr->png_px = malloc(wr->n_values * (dt == REC_U8 ? 1 : 2));
	if (!wr->png_px)
		goto nomem;
	if (ends_with(path, ".gz")) {
		/* windowBits 15 + 16: a gzip stream, as TF's GZIP option reads */
		if (deflateInit2(&wr->zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			goto nomem;
		wr->gz = 1;
	}
	wr->fp = fopen(path, "wb");
	if (!wr->fp) {
		pl_errorf(err, PL_EIO, "cannot create shard '%s': %s", path, strerror(errno));
		writer_free(wr, 0);
		return NULL;
	}
	wr->regular = fstat(fileno(wr->fp), &st) == 0 && S_ISREG(st.st_mode);
	return wr;
nomem:
	pl_errorf(err, PL_ENOMEM, "cannot create shard '%s': out of memory", path);
	writer_free(wr, 0);
	return NULL;
}

/* Fills w->png_px with the sample in PNG order (HWC, or the CHW planes
 * stacked when there are more than 4 channels); returns the index of the
 * first f32 value outside 0..1 (which 16 bits cannot hold), or -1. */
static int64_t to_png_order(tfr_writer *w, const void *pixels)
{
	int64_t outside = -1;

	size_t plane = (size_t)w->h * w->w;
	int stacked = w->c > 4;

	for (size_t k = 0; k < w->n_values; k++) {
		size_t ch = k / plane, at = k % plane;
		size_t dst = stacked ? k : at * (size_t)w->c + ch;
		if (w->dtype == REC_U8) {
			((uint8_t *)w->png_px)[dst] = ((const uint8_t *)pixels)[k];
		} else {
			float v = ((const float *)pixels)[k];
			if (!(v >= 0.0f && v <= 1.0f)) {
				outside = outside < 0 ? (int64_t)k : outside;
				v = 0.0f;
			}
			((uint16_t *)w->png_px)[dst] = (uint16_t)lrintf(v * 65535.0f);
		}
	}
	return outside;
}

/* The keys of one Example, pointing into the caller's values. */
typedef struct example_parts {
	Tensorflow__Features__FeatureEntry entry[N_KEYS], *entries[N_KEYS];
	Tensorflow__Feature feature[N_KEYS];
	Tensorflow__BytesList bytes[N_KEYS];
	Tensorflow__Int64List ints[N_KEYS];
	ProtobufCBinaryData bin[N_KEYS];
	int64_t val[N_KEYS];
	int n;
} example_parts;

static void add_bytes(example_parts *p, const char *key, const void *data, size_t len)
{
	int k = p->n++;

	tensorflow__features__feature_entry__init(&p->entry[k]);
	tensorflow__feature__init(&p->feature[k]);
	tensorflow__bytes_list__init(&p->bytes[k]);
	p->bin[k].data = (uint8_t *)data;
	p->bin[k].len = len;
	p->bytes[k].n_value = 1;
	p->bytes[k].value = &p->bin[k];
	p->feature[k].kind_case = TENSORFLOW__FEATURE__KIND_BYTES_LIST;
	p->feature[k].bytes_list = &p->bytes[k];
	p->entry[k].key = (char *)key;
	p->entry[k].value = &p->feature[k];
	p->entries[k] = &p->entry[k];
}

static void add_int(example_parts *p, const char *key, int64_t v)
{
	int k = p->n++;

	tensorflow__features__feature_entry__init(&p->entry[k]);
	tensorflow__feature__init(&p->feature[k]);
	tensorflow__int64_list__init(&p->ints[k]);
	p->val[k] = v;
	p->ints[k].n_value = 1;
	p->ints[k].value = &p->val[k];
	p->feature[k].kind_case = TENSORFLOW__FEATURE__KIND_INT64_LIST;
	p->feature[k].int64_list = &p->ints[k];
	p->entry[k].key = (char *)key;
	p->entry[k].value = &p->feature[k];
	p->entries[k] = &p->entry[k];
}

/* Packs the Example of one sample into w->msg; returns its size or 0. */
static size_t pack_example(tfr_writer *w, int32_t label, int32_t group, const char *name,
			   const uint8_t *png, size_t png_len)
{
	Tensorflow__Example ex = TENSORFLOW__EXAMPLE__INIT;
	Tensorflow__Features feats = TENSORFLOW__FEATURES__INIT;
	const char *text = w->classes[label];
	example_parts p;
	size_t need;

	memset(&p, 0, sizeof(p));
	add_bytes(&p, "image/encoded", png, png_len);
	add_bytes(&p, "image/format", "png", 3);
	add_int(&p, "image/height", w->h);
	add_int(&p, "image/width", w->w);
	add_int(&p, "image/channels", w->c);
	add_int(&p, "image/class/label", label);
	add_bytes(&p, "image/class/text", text, strlen(text));
	add_int(&p, "image/group", group);
	add_bytes(&p, "image/filename", name ? name : "", name ? strlen(name) : 0);
	feats.n_feature = (size_t)p.n;
	feats.feature = p.entries;
	ex.features = &feats;
	need = tensorflow__example__get_packed_size(&ex);
	if (need > w->msg_cap) {
		uint8_t *m = realloc(w->msg, need);
		if (!m)
			return 0;
		w->msg = m;
		w->msg_cap = need;
	}
	return tensorflow__example__pack(&ex, w->msg);
}

/* Frames one record: length, its masked CRC, data, the data's masked CRC. */
static int put_record(tfr_writer *w, const uint8_t *data, size_t len, pl_err *err)
{
	uint8_t head[FRAME_HEAD], tail[4];

	put_le(head, len, 8);
	put_le(head + 8, tfr_mask_crc(rec_crc32c(0, head, 8)), 4);
	put_le(tail, tfr_mask_crc(rec_crc32c(0, data, len)), 4);
	if (put(w, head, sizeof(head), 0, err) < 0 || put(w, data, len, 0, err) < 0 ||
	    put(w, tail, sizeof(tail), 0, err) < 0)
		return -PL_EIO;
	return 0;
}

int tfr_write(tfr_writer *w, int32_t label, int32_t group, const char *name,
	      const void *pixels, pl_err *err)
{
	uint8_t *png = NULL;
	size_t png_len = 0, len;
	int png_c, png_h, rc;
	int64_t bad;

	if (w->failed)
		return pl_errorf(err, PL_EFAIL, "shard '%s': cannot write after an earlier error",
				 w->path);
	if (label < 0 || label >= w->n_classes)
		return pl_errorf(err, PL_EDATA, "shard '%s': label %d is not one of the %d classes",
				 w->path, (int)label, w->n_classes);
	bad = to_png_order(w, pixels);
	if (bad >= 0)
		return pl_errorf(err, PL_EDATA, "shard '%s': sample '%s' has the value %g, outside "
				 "0..1, which a 16-bit png cannot hold", w->path, name ? name : "",
				 (double)((const float *)pixels)[bad]);
	png_shape(w->c, w->h, &png_c, &png_h);
	rc = img_encode_png(w->png_px, w->w, png_h, png_c, w->dtype == REC_U8 ? 8 : 16,
			    name ? name : w->path, &png, &png_len, err);
	if (rc < 0) {
		w->failed = 1;
		return rc;
	}
	len = pack_example(w, label, group, name, png, png_len);
	free(png);
	if (!len || len > TFR_MAX_RECORD) {
		w->failed = 1;
		return pl_errorf(err, len ? PL_EDATA : PL_ENOMEM, "shard '%s': cannot encode "
				 "record %lld (%s)", w->path, (long long)w->count,
				 len ? "over the record size limit" : "out of memory");
	}
	rc = put_record(w, w->msg, len, err);
	if (rc == 0)
		w->count++;
	return rc;
}

int64_t tfr_writer_count(const tfr_writer *w)
{
	return w->count;
}

int tfr_writer_close(tfr_writer *w, uint64_t *bytes_out, pl_err *err)
{
	FILE *fp;
	int rc = 0;

	if (!w)
		return pl_errorf(err, PL_EFAIL, "no shard writer to close");
	if (w->failed)
		rc = pl_errorf(err, PL_EFAIL, "shard '%s' is incomplete after an earlier error",
			       w->path);
	if (rc == 0 && w->gz)
		rc = put(w, NULL, 0, 1, err);
	if (rc < 0)
		goto out;
	fp = w->fp;
	w->fp = NULL;
	if ((rc = fs_fclose_synced(fp, w->path, err)) < 0)
		goto out;
	if (bytes_out)
		*bytes_out = w->bytes;
out:
	writer_free(w, rc < 0);
	return rc;
}

void tfr_writer_abort(tfr_writer *w)
{
	writer_free(w, 1);
}

/* ---------------------------------------------------------------- reader */

struct tfr_reader {
	int fd;                 /* the shard, or its inflated copy */
	char *path;
	int64_t count;
	uint64_t *offset;       /* of each record's data */
	uint32_t *length;       /* of each record's data */
	rec_dtype dtype;
	int c, h, w;
	uint8_t *buf;           /* one record's data */
	size_t buf_cap;
	void *pixels;           /* one sample, CHW */
	char name[REC_MAX_NAME + 1];
};

static int read_at(tfr_reader *r, void *buf, size_t n, uint64_t off, pl_err *err)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t got = pread(r->fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return pl_errorf(err, PL_EIO, "cannot read shard '%s': %s", r->path,
					 strerror(errno));
		if (got == 0)
			return pl_errorf(err, PL_EDATA, "shard '%s' is truncated", r->path);
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

/* Inflates the gzip shard at path into an unnamed temporary file. */
static int inflate_copy(tfr_reader *r, const char *path, pl_err *err)
{
	uint8_t chunk[65536];
	gzFile gz = gzopen(path, "rb");
	FILE *tmp = gz ? tmpfile() : NULL;
	int got, rc = 0, zerr;

	if (!gz || !tmp) {
		rc = pl_errorf(err, PL_EIO, "cannot open shard '%s': %s", path, strerror(errno));
		goto out;
	}
	while ((got = gzread(gz, chunk, sizeof(chunk))) > 0)
		if (fwrite(chunk, 1, (size_t)got, tmp) != (size_t)got) {
			rc = pl_errorf(err, PL_EIO, "cannot inflate shard '%s' into a temporary "
				       "file: %s", path, strerror(errno));
			goto out;
		}
	if (got < 0) {
		rc = pl_errorf(err, PL_EDATA, "shard '%s': corrupt gzip data (%s)", path,
			       gzerror(gz, &zerr));
		goto out;
	}
	if (fflush(tmp) != 0 || (r->fd = dup(fileno(tmp))) < 0)
		rc = pl_errorf(err, PL_EIO, "cannot inflate shard '%s': %s", path, strerror(errno));
out:
	if (tmp)
		fclose(tmp);
	if (gz)
		gzclose(gz);
	return rc;
}

static int grow_buf(tfr_reader *r, size_t n, pl_err *err)
{
	uint8_t *p;

	if (n <= r->buf_cap)
		return 0;
	p = realloc(r->buf, n);
	if (!p)
		return pl_errorf(err, PL_ENOMEM, "shard '%s': out of memory for a record of %zu "
				 "bytes", r->path, n);
	r->buf = p;
	r->buf_cap = n;
	return 0;
}

/* Reads and checks the data of the record framed at *pos; advances *pos. */
static int walk_record(tfr_reader *r, uint64_t *pos, uint64_t size, pl_err *err)
{
	uint8_t head[FRAME_HEAD], tail[4];
	uint64_t len;
	int64_t i = r->count;
	int rc;

	if (size - *pos < FRAME_HEAD)
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: truncated length",
				 r->path, (long long)i);
	if ((rc = read_at(r, head, sizeof(head), *pos, err)) < 0)
		return rc;
	if (crc_bad((uint32_t)get_le(head + 8, 4), tfr_mask_crc(rec_crc32c(0, head, 8))))
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: length checksum "
				 "mismatch (the file is corrupt)", r->path, (long long)i);
	len = get_le(head, 8);
	if (len > TFR_MAX_RECORD || len + FRAME_HEAD + 4 > size - *pos)
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: length %llu does not "
				 "fit the file", r->path, (long long)i, (unsigned long long)len);
	if ((rc = grow_buf(r, len ? len : 1, err)) < 0 ||
	    (rc = read_at(r, r->buf, len, *pos + FRAME_HEAD, err)) < 0 ||
	    (rc = read_at(r, tail, 4, *pos + FRAME_HEAD + len, err)) < 0)
		return rc;
	if (crc_bad((uint32_t)get_le(tail, 4), tfr_mask_crc(rec_crc32c(0, r->buf, len))))
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: data checksum mismatch "
				 "(the file is corrupt)", r->path, (long long)i);
	r->offset[i] = *pos + FRAME_HEAD;
	r->length[i] = (uint32_t)len;
	r->count++;
	*pos += FRAME_HEAD + len + 4;
	return 0;
}

/* Walks the whole file, indexing every record. */
static int build_index(tfr_reader *r, pl_err *err)
{
	struct stat st;
	uint64_t pos = 0, size;
	int64_t cap = 0;
	int rc = 0;

	if (fstat(r->fd, &st) != 0)
		return pl_errorf(err, PL_EIO, "cannot read shard '%s': %s", r->path,
				 strerror(errno));
	size = (uint64_t)st.st_size;
	while (rc == 0 && pos < size) {
		if (r->count == cap) {
			int64_t ncap = cap ? 2 * cap : 1024;
			uint64_t *off = realloc(r->offset, (size_t)ncap * sizeof(*off));
			uint32_t *len = off ? realloc(r->length, (size_t)ncap * sizeof(*len)) : NULL;
			if (off)
				r->offset = off;
			if (len)
				r->length = len;
			if (!off || !len)
				return pl_errorf(err, PL_ENOMEM, "shard '%s': out of memory for "
						 "the index", r->path);
			cap = ncap;
		}
		rc = walk_record(r, &pos, size, err);
	}
	return rc;
}

tfr_reader *tfr_reader_open(const char *path, pl_err *err)
{
	tfr_reader *r = calloc(1, sizeof(*r));
	struct stat st;
	rec_sample first;

	if (!r || !(r->path = strdup(path))) {
		free(r);
		pl_errorf(err, PL_ENOMEM, "cannot open shard '%s': out of memory", path);
		return NULL;
	}
	r->fd = -1;
	if (ends_with(path, ".gz")) {
		if (inflate_copy(r, path, err) < 0)
			goto fail;
	} else if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(r->fd, &st) != 0) {
		pl_errorf(err, PL_EIO, "cannot open shard '%s': %s", path, strerror(errno));
		goto fail;
	} else if (!S_ISREG(st.st_mode)) {
		pl_errorf(err, PL_EDATA, "shard '%s' is not a regular file", path);
		goto fail;
	}
	if (build_index(r, err) < 0)
		goto fail;
	if (r->count > 0 && tfr_read(r, 0, &first, err) < 0)
		goto fail;
	return r;
fail:
	tfr_reader_close(r);
	return NULL;
}

int64_t tfr_reader_count(const tfr_reader *r)
{
	return r->count;
}

void tfr_reader_shape(const tfr_reader *r, int *c, int *h, int *w)
{
	*c = r->c;
	*h = r->h;
	*w = r->w;
}

rec_dtype tfr_reader_dtype(const tfr_reader *r)
{
	return r->dtype;
}

/* The one value of feature key in ex, of the kind wanted; NULL when absent. */
static const Tensorflow__Feature *find_key(const Tensorflow__Example *ex, const char *key,
					   Tensorflow__Feature__KindCase kind)
{
	const Tensorflow__Features *f = ex->features;

	for (size_t k = 0; f && k < f->n_feature; k++) {
		const Tensorflow__Feature *v = f->feature[k]->value;
		if (strcmp(f->feature[k]->key, key) != 0 || !v || v->kind_case != kind)
			continue;
		if (kind == TENSORFLOW__FEATURE__KIND_BYTES_LIST && v->bytes_list->n_value == 1)
			return v;
		if (kind == TENSORFLOW__FEATURE__KIND_INT64_LIST && v->int64_list->n_value == 1)
			return v;
	}
	return NULL;
}

static int get_int(const Tensorflow__Example *ex, const char *key, int64_t lo, int64_t hi,
		   int64_t *out)
{
	const Tensorflow__Feature *v = find_key(ex, key, TENSORFLOW__FEATURE__KIND_INT64_LIST);

	if (!v || v->int64_list->value[0] < lo || v->int64_list->value[0] > hi)
		return -1;
	*out = v->int64_list->value[0];
	return 0;
}

static const ProtobufCBinaryData *get_bytes(const Tensorflow__Example *ex, const char *key)
{
	const Tensorflow__Feature *v = find_key(ex, key, TENSORFLOW__FEATURE__KIND_BYTES_LIST);

	return v ? &v->bytes_list->value[0] : NULL;
}

/* Takes the shape and dtype of the first record, or checks later ones. */
static int check_shape(tfr_reader *r, int64_t i, int c, int h, int w, const img *im,
		       pl_err *err)
{
	int png_c, png_h;
	rec_dtype dt = im->maxval == 255.0f ? REC_U8 : REC_F32;

	png_shape(c, h, &png_c, &png_h);
	if (im->c != png_c || im->h != png_h || im->w != w || !sample_bytes(dt, c, h, w) ||
	    (im->maxval != 255.0f && im->maxval != 65535.0f))
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: its png (%dx%d, %d "
				 "channels, maxval %g) does not hold a %dx%dx%d sample", r->path,
				 (long long)i, im->w, im->h, im->c, (double)im->maxval, c, h, w);
	if (!r->pixels) {
		r->pixels = malloc(sample_bytes(dt, c, h, w));
		if (!r->pixels)
			return pl_errorf(err, PL_ENOMEM, "shard '%s': out of memory", r->path);
		r->c = c;
		r->h = h;
		r->w = w;
		r->dtype = dt;
	}
	if (r->c != c || r->h != h || r->w != w || r->dtype != dt)
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: %s sample of %dx%dx%d, "
				 "the first record's is %s of %dx%dx%d", r->path, (long long)i,
				 dt == REC_U8 ? "u8" : "f32", c, h, w,
				 r->dtype == REC_U8 ? "u8" : "f32", r->c, r->h, r->w);
	return 0;
}

/* Copies the decoded PNG into r->pixels in CHW order. */
static void from_png_order(tfr_reader *r, const img *im)
{
	size_t plane = (size_t)r->h * r->w, n = plane * r->c;
	int stacked = r->c > 4;

	for (size_t k = 0; k < n; k++) {
		size_t ch = k / plane, at = k % plane;
		float v = im->px[stacked ? k : at * (size_t)r->c + ch];
		if (r->dtype == REC_U8)
			((uint8_t *)r->pixels)[k] = (uint8_t)v;
		else
			((float *)r->pixels)[k] = v / 65535.0f;
	}
}

/* Fills out from the unpacked Example ex of record i. */
static int read_example(tfr_reader *r, int64_t i, const Tensorflow__Example *ex,
			rec_sample *out, pl_err *err)
{
	const ProtobufCBinaryData *png = get_bytes(ex, "image/encoded"), *name;
	int64_t h, w, c, label, group;
	img im = { 0 };
	int rc;

	name = get_bytes(ex, "image/filename");
	if (!png || get_int(ex, "image/height", 1, REC_MAX_SIDE, &h) < 0 ||
	    get_int(ex, "image/width", 1, REC_MAX_SIDE, &w) < 0 ||
	    get_int(ex, "image/channels", 1, REC_MAX_CHANNELS, &c) < 0 ||
	    get_int(ex, "image/class/label", 0, INT32_MAX, &label) < 0 ||
	    get_int(ex, "image/group", -1, INT32_MAX, &group) < 0 || !name ||
	    name->len > REC_MAX_NAME)
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: not an image Example "
				 "(a key of image/encoded, height, width, channels, class/label, "
				 "group, filename is missing or out of range)", r->path,
				 (long long)i);
	rc = img_decode_mem(png->data, png->len, r->path, NULL, &im, err);
	if (rc == 0)
		rc = check_shape(r, i, (int)c, (int)h, (int)w, &im, err);
	if (rc == 0) {
		from_png_order(r, &im);
		memcpy(r->name, name->data, name->len);
		r->name[name->len] = '\0';
		out->label = (int32_t)label;
		out->group = (int32_t)group;
		out->name = r->name;
		out->c = r->c;
		out->h = r->h;
		out->w = r->w;
		out->dtype = r->dtype;
		out->data = r->pixels;
	}
	img_release(&im);
	return rc;
}

int tfr_read(tfr_reader *r, int64_t i, rec_sample *out, pl_err *err)
{
	Tensorflow__Example *ex;
	uint32_t len;
	int rc;

	if (i < 0 || i >= r->count)
		return pl_errorf(err, PL_EFAIL, "shard '%s': no record %lld (it has %lld)",
				 r->path, (long long)i, (long long)r->count);
	len = r->length[i];
	if ((rc = grow_buf(r, (size_t)len + 4, err)) < 0 ||
	    (rc = read_at(r, r->buf, (size_t)len + 4, r->offset[i], err)) < 0)
		return rc;
	if (crc_bad((uint32_t)get_le(r->buf + len, 4), tfr_mask_crc(rec_crc32c(0, r->buf, len))))
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: data checksum mismatch "
				 "(the file is corrupt; run prepare again)", r->path, (long long)i);
	ex = tensorflow__example__unpack(NULL, len, r->buf);
	if (!ex)
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: not a tf.train.Example",
				 r->path, (long long)i);
	rc = read_example(r, i, ex, out, err);
	tensorflow__example__free_unpacked(ex, NULL);
	return rc;
}

void tfr_reader_close(tfr_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->offset);
	free(r->length);
	free(r->buf);
	free(r->pixels);
	free(r->path);
	free(r);
}
