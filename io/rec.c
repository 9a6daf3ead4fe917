/* Record shards (format described in rec.h): a streaming writer, a reader
 * that checks everything it reads, and the shuffling batch loader. */
#include "fs.h"
#include "rec.h"
#include "tfrecord.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#ifdef __SSE4_2__
#include <nmmintrin.h>
#endif

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rec.c stores float pixels in host order and needs a little-endian host"
#endif

#define HDR_MAGIC "PLRECSHD"
#define END_MAGIC "PLRECEND"
#define SKIP_HDR 0x184D2A5Eu       /* zstd skippable frame magics */
#define SKIP_FTR 0x184D2A5Fu
#define HDR_BODY 32
#define HDR_SIZE (8 + HDR_BODY)
#define ENTRY_SIZE 16
#define TRAILER_SIZE 32
#define REC_HEAD 16                /* label, group, name_len, reserved */
#define MAX_RECORDS (1 << 26)      /* per shard; keeps the footer < 4 GiB */

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

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

uint32_t rec_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	crc = ~crc;
#ifdef __SSE4_2__
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		crc = (uint32_t)_mm_crc32_u64(crc, v);
	}
	for (; len > 0; p++, len--)
		crc = _mm_crc32_u8(crc, *p);
#else
	for (; len > 0; p++, len--) {
		crc ^= *p;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	}
#endif
	return ~crc;
}

int rec_shard_name_as(char *buf, size_t n, const char *split, int i, int m,
		      const char *ext)
{
	int len;

	if (i < 0 || m <= i || m > 99999)
		return -1;
	len = snprintf(buf, n, "%s-%05d-of-%05d%s", split, i, m, ext);
	return len < 0 || (size_t)len >= n ? -1 : 0;
}

int rec_shard_name(char *buf, size_t n, const char *split, int i, int m)
{
	return rec_shard_name_as(buf, n, split, i, m, ".rec.zst");
}

static size_t dtype_size(int dt)
{
	return dt == REC_U8 ? 1 : dt == REC_F32 ? 4 : 0;
}

/* Pixel bytes of one sample, or 0 when the type or shape is out of limits. */
static size_t sample_bytes(int dt, int64_t c, int64_t h, int64_t w)
{
	uint64_t bytes;

	if (!dtype_size(dt) || c < 1 || c > REC_MAX_CHANNELS || h < 1 ||
	    h > REC_MAX_SIDE || w < 1 || w > REC_MAX_SIDE)
		return 0;
	bytes = (uint64_t)c * (uint64_t)h * (uint64_t)w * dtype_size(dt);
	return bytes > REC_MAX_SAMPLE_BYTES ? 0 : (size_t)bytes;
}

/* Largest record payload for a sample of pix bytes. */
static size_t payload_cap(size_t pix)
{
	return REC_HEAD + pix + REC_MAX_NAME + 4;
}

/* ---------------------------------------------------------------- writer */

struct rec_writer {
	FILE *fp;           /* the shard */
	FILE *idx;          /* unnamed spill file for the index */
	char *path;
	rec_dtype dtype;
	int c, h, w;
	size_t pix_bytes;
	uint8_t *payload;   /* one record before compression */
	size_t payload_cap;
	uint8_t *cbuf;      /* one compressed record */
	size_t cbuf_cap;
	ZSTD_CCtx *cctx;
	uint64_t offset;    /* bytes written to fp */
	int64_t count;
	int failed;
	int regular;        /* path is a regular file: removed on failure */
};

/* An unnamed file in the directory of path (same file system as the shard),
 * or tmpfile() where O_TMPFILE is unsupported. */
static FILE *open_spill(const char *path)
{
	char *dir = strdup(path), *slash;
	FILE *fp = NULL;
	int fd;

	if (!dir)
		return NULL;
	slash = strrchr(dir, '/');
	if (!slash) {
		dir[0] = '.';     /* dir holds at least the one character of a file name */
		dir[1] = '\0';
	}
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	free(dir);
	if (fd >= 0) {
		fp = fdopen(fd, "w+b");
		if (!fp)
			close(fd);
		return fp;
	}
	return tmpfile();
}

static void writer_free(rec_writer *w, int remove_file)
{
	if (!w)
		return;
	if (w->fp)
		fclose(w->fp);
	if (w->idx)
		fclose(w->idx);
	if (remove_file && w->regular)
		unlink(w->path);
	ZSTD_freeCCtx(w->cctx);
	free(w->payload);
	free(w->cbuf);
	free(w->path);
	free(w);
}

static int write_bytes(rec_writer *w, FILE *fp, const void *buf, size_t n,
		       pl_err *err)
{
	if (n && fwrite(buf, 1, n, fp) != n) {
		w->failed = 1;
		return pl_errorf(err, PL_EIO, "cannot write '%s': %s", w->path,
				 strerror(errno));
	}
	return 0;
}

static int write_header(rec_writer *w, pl_err *err)
{
	uint8_t hdr[HDR_SIZE] = {0}, *body = hdr + 8;

	put_u32(hdr, SKIP_HDR);
	put_u32(hdr + 4, HDR_BODY);
	memcpy(body, HDR_MAGIC, 8);
	put_u32(body + 8, REC_VERSION);
	put_u32(body + 12, (uint32_t)w->dtype);
	put_u32(body + 16, (uint32_t)w->c);
	put_u32(body + 20, (uint32_t)w->h);
	put_u32(body + 24, (uint32_t)w->w);
	put_u32(body + 28, rec_crc32c(0, body, 28));
	w->offset = HDR_SIZE;
	return write_bytes(w, w->fp, hdr, sizeof(hdr), err);
}

rec_writer *rec_writer_open(const char *path, rec_dtype dt, int c, int h,
			    int w, int level, pl_err *err)
{
	size_t pix = sample_bytes(dt, c, h, w);
	rec_writer *wr;
	struct stat st;

	if (!pix) {
		pl_errorf(err, PL_EUSAGE, "cannot create shard '%s': sample shape "
			  "%dx%dx%d (dtype %d) is not supported (limits: %d channels, "
			  "%d pixels a side, %u bytes)", path, c, h, w, (int)dt,
			  REC_MAX_CHANNELS, REC_MAX_SIDE, REC_MAX_SAMPLE_BYTES);
		return NULL;
	}
	wr = calloc(1, sizeof(*wr));
	if (!wr || !(wr->path = strdup(path)))
		goto nomem;
	wr->dtype = dt;
	wr->c = c;
	wr->h = h;
	wr->w = w;
	wr->pix_bytes = pix;
	wr->payload_cap = payload_cap(pix);
	wr->cbuf_cap = ZSTD_compressBound(wr->payload_cap);
	wr->payload = malloc(wr->payload_cap);
	wr->cbuf = malloc(wr->cbuf_cap);
	wr->cctx = ZSTD_createCCtx();
	if (!wr->payload || !wr->cbuf || !wr->cctx)
		goto nomem;
	ZSTD_CCtx_setParameter(wr->cctx, ZSTD_c_compressionLevel, level);
	wr->fp = fopen(path, "wb");
	if (!wr->fp) {
		pl_errorf(err, PL_EIO, "cannot create shard '%s': %s", path,
			  strerror(errno));
		goto fail;
	}
	wr->regular = fstat(fileno(wr->fp), &st) == 0 && S_ISREG(st.st_mode);
	wr->idx = open_spill(path);
	if (!wr->idx) {
		pl_errorf(err, PL_EIO, "cannot create a temporary index file "
			  "for '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (write_header(wr, err) < 0)
		goto fail;
	return wr;
nomem:
	pl_errorf(err, PL_ENOMEM, "cannot create shard '%s': out of memory", path);
fail:
	if (wr)
		writer_free(wr, 1);
	return NULL;
}

int rec_write(rec_writer *w, int32_t label, int32_t group, const char *name,
	      const void *pixels, pl_err *err)
{
	size_t name_len = name ? strlen(name) : 0, plen, csize;
	uint8_t entry[ENTRY_SIZE], *p = w->payload;

	if (w->failed)
		return pl_errorf(err, PL_EFAIL, "shard '%s': cannot write after "
				 "an earlier error", w->path);
	if (name_len > REC_MAX_NAME)
		return pl_errorf(err, PL_EDATA, "shard '%s': record name '%.60s...' "
				 "is %zu bytes, the limit is %d", w->path, name,
				 name_len, REC_MAX_NAME);
	if (w->count >= MAX_RECORDS)
		return pl_errorf(err, PL_EDATA, "shard '%s' is full (%d records); "
				 "use more shards", w->path, MAX_RECORDS);
	put_u32(p, (uint32_t)label);
	put_u32(p + 4, (uint32_t)group);
	put_u32(p + 8, (uint32_t)name_len);
	put_u32(p + 12, 0);
	memcpy(p + REC_HEAD, pixels, w->pix_bytes);
	if (name_len)
		memcpy(p + REC_HEAD + w->pix_bytes, name, name_len);
	plen = REC_HEAD + w->pix_bytes + name_len;
	put_u32(p + plen, rec_crc32c(0, p, plen));
	plen += 4;
	csize = ZSTD_compress2(w->cctx, w->cbuf, w->cbuf_cap, p, plen);
	if (ZSTD_isError(csize)) {
		w->failed = 1;
		return pl_errorf(err, PL_EFAIL, "shard '%s': cannot compress record "
				 "%lld: %s", w->path, (long long)w->count,
				 ZSTD_getErrorName(csize));
	}
	put_u64(entry, w->offset);
	put_u32(entry + 8, (uint32_t)csize);
	put_u32(entry + 12, rec_crc32c(0, w->cbuf, csize));
	if (write_bytes(w, w->fp, w->cbuf, csize, err) < 0 ||
	    write_bytes(w, w->idx, entry, sizeof(entry), err) < 0)
		return -PL_EIO;
	w->offset += csize;
	w->count++;
	return 0;
}

int64_t rec_writer_count(const rec_writer *w)
{
	return w->count;
}

/* Copies the spilled index into the footer frame and appends the trailer. */
static int write_footer(rec_writer *w, pl_err *err)
{
	uint64_t index_len = (uint64_t)w->count * ENTRY_SIZE, copied = 0;
	uint64_t footer_off = w->offset;
	uint8_t frame[8], trailer[TRAILER_SIZE], chunk[16384];
	uint32_t index_crc = 0;

	put_u32(frame, SKIP_FTR);
	put_u32(frame + 4, (uint32_t)(index_len + TRAILER_SIZE));
	if (write_bytes(w, w->fp, frame, sizeof(frame), err) < 0)
		return -PL_EIO;
	if (fflush(w->idx) != 0 || fseek(w->idx, 0, SEEK_SET) != 0) {
		w->failed = 1;
		return pl_errorf(err, PL_EIO, "cannot write the index of '%s': %s",
				 w->path, strerror(errno));
	}
	while (copied < index_len) {
		size_t want = index_len - copied < sizeof(chunk) ?
			      (size_t)(index_len - copied) : sizeof(chunk);
		if (fread(chunk, 1, want, w->idx) != want) {
			w->failed = 1;
			return pl_errorf(err, PL_EIO, "cannot read back the index "
					 "of '%s'", w->path);
		}
		index_crc = rec_crc32c(index_crc, chunk, want);
		if (write_bytes(w, w->fp, chunk, want, err) < 0)
			return -PL_EIO;
		copied += want;
	}
	put_u64(trailer, (uint64_t)w->count);
	put_u64(trailer + 8, footer_off);
	put_u32(trailer + 16, index_crc);
	put_u32(trailer + 20, rec_crc32c(0, trailer, 20));
	memcpy(trailer + 24, END_MAGIC, 8);
	if (write_bytes(w, w->fp, trailer, sizeof(trailer), err) < 0)
		return -PL_EIO;
	w->offset += sizeof(frame) + index_len + TRAILER_SIZE;
	return 0;
}

int rec_writer_close(rec_writer *w, uint64_t *bytes_out, pl_err *err)
{
	FILE *fp;
	int rc;

	if (!w)
		return pl_errorf(err, PL_EFAIL, "no shard writer to close");
	if (w->failed) {
		rc = pl_errorf(err, PL_EFAIL, "shard '%s' is incomplete after an "
			       "earlier error", w->path);
		goto out;
	}
	rc = write_footer(w, err);
	if (rc < 0)
		goto out;
	fp = w->fp;
	w->fp = NULL;
	if ((rc = fs_fclose_synced(fp, w->path, err)) < 0)
		goto out;
	if (bytes_out)
		*bytes_out = w->offset;
out:
	writer_free(w, rc < 0);
	return rc;
}

void rec_writer_abort(rec_writer *w)
{
	writer_free(w, 1);
}

/* ---------------------------------------------------------------- reader */

/* Decompression state and buffers, shared by the shards of a loader. */
struct rec_scratch {
	ZSTD_DCtx *dctx;
	uint8_t *cbuf;
	size_t cbuf_cap;
	uint8_t *payload;
	size_t payload_cap;
	char name[REC_MAX_NAME + 1];
};

struct rec_reader {
	int fd;
	char *path;
	rec_dtype dtype;
	int c, h, w;
	size_t pix_bytes;
	int64_t count;
	uint8_t *index;               /* count entries of ENTRY_SIZE bytes */
	struct rec_scratch *scratch;
	int own_scratch;
	tfr_reader *tf;               /* a TFRecord shard: reads go to it */
};

static void scratch_free(struct rec_scratch *s)
{
	if (!s)
		return;
	ZSTD_freeDCtx(s->dctx);
	free(s->cbuf);
	free(s->payload);
	free(s);
}

static struct rec_scratch *scratch_new(size_t pix)
{
	struct rec_scratch *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->payload_cap = payload_cap(pix);
	s->cbuf_cap = ZSTD_compressBound(s->payload_cap);
	s->payload = malloc(s->payload_cap);
	s->cbuf = malloc(s->cbuf_cap);
	s->dctx = ZSTD_createDCtx();
	if (!s->payload || !s->cbuf || !s->dctx) {
		scratch_free(s);
		return NULL;
	}
	return s;
}

/* Reads exactly n bytes at off: 0, -PL_EIO (errno kept) or -PL_EDATA at EOF. */
static int pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t got = pread(fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -PL_EIO;
		if (got == 0)
			return -PL_EDATA;
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

static int read_at(rec_reader *r, void *buf, size_t n, uint64_t off,
		   pl_err *err)
{
	int rc = pread_full(r->fd, buf, n, off);

	if (rc == -PL_EIO)
		return pl_errorf(err, PL_EIO, "cannot read shard '%s': %s",
				 r->path, strerror(errno));
	if (rc < 0)
		return pl_errorf(err, PL_EDATA, "shard '%s' is truncated", r->path);
	return 0;
}

static int read_header(rec_reader *r, pl_err *err)
{
	uint8_t hdr[HDR_SIZE], *body = hdr + 8;
	uint32_t version;
	int rc = read_at(r, hdr, sizeof(hdr), 0, err);

	if (rc < 0)
		return rc;
	if (get_u32(hdr) != SKIP_HDR || get_u32(hdr + 4) != HDR_BODY ||
	    memcmp(body, HDR_MAGIC, 8) != 0)
		return pl_errorf(err, PL_EDATA, "'%s' is not a record shard "
				 "(wrong magic)", r->path);
	if (crc_bad(get_u32(body + 28), rec_crc32c(0, body, 28)))
		return pl_errorf(err, PL_EDATA, "shard '%s': header checksum "
				 "mismatch (the file is corrupt)", r->path);
	version = get_u32(body + 8);
	if (version > REC_VERSION)
		return pl_errorf(err, PL_EDATA, "shard '%s' has format version %u; "
				 "this build reads up to version %d (update "
				 "pipeline or run prepare again)", r->path, version,
				 REC_VERSION);
	if (version == 0)
		return pl_errorf(err, PL_EDATA, "shard '%s': bad format version 0",
				 r->path);
	r->dtype = (rec_dtype)get_u32(body + 12);
	r->pix_bytes = sample_bytes(get_u32(body + 12), get_u32(body + 16),
				    get_u32(body + 20), get_u32(body + 24));
	if (!r->pix_bytes)
		return pl_errorf(err, PL_EDATA, "shard '%s': dtype %u or sample "
				 "shape %ux%ux%u out of limits", r->path,
				 get_u32(body + 12), get_u32(body + 16),
				 get_u32(body + 20), get_u32(body + 24));
	r->c = (int)get_u32(body + 16);
	r->h = (int)get_u32(body + 20);
	r->w = (int)get_u32(body + 24);
	return 0;
}

/* Checks that the index entries tile the record area [HDR_SIZE, end). */
static int check_index(rec_reader *r, uint64_t end, size_t cbuf_cap,
		       pl_err *err)
{
	uint64_t pos = HDR_SIZE;

	for (int64_t i = 0; i < r->count; i++) {
		const uint8_t *e = r->index + i * ENTRY_SIZE;
		uint32_t csize = get_u32(e + 8);
		if (get_u64(e) != pos || csize == 0 || csize > cbuf_cap ||
		    csize > end - pos)
			return pl_errorf(err, PL_EDATA, "shard '%s': index entry "
					 "%lld is inconsistent (the file is corrupt)",
					 r->path, (long long)i);
		pos += csize;
	}
	if (pos != end)
		return pl_errorf(err, PL_EDATA, "shard '%s': the index does not "
				 "cover the records (the file is corrupt)", r->path);
	return 0;
}

static int read_footer(rec_reader *r, uint64_t size, size_t cbuf_cap,
		       pl_err *err)
{
	uint8_t t[TRAILER_SIZE], frame[8];
	uint64_t count, footer_off, index_len;
	int rc;

	if (size < HDR_SIZE + 8 + TRAILER_SIZE)
		return pl_errorf(err, PL_EDATA, "shard '%s' is truncated or was not "
				 "closed (no footer); run prepare again", r->path);
	rc = read_at(r, t, sizeof(t), size - TRAILER_SIZE, err);
	if (rc < 0)
		return rc;
	if (memcmp(t + 24, END_MAGIC, 8) != 0)
		return pl_errorf(err, PL_EDATA, "shard '%s' is truncated or was not "
				 "closed (no footer); run prepare again", r->path);
	if (crc_bad(get_u32(t + 20), rec_crc32c(0, t, 20)))
		return pl_errorf(err, PL_EDATA, "shard '%s': footer checksum "
				 "mismatch (the file is corrupt)", r->path);
	count = get_u64(t);
	footer_off = get_u64(t + 8);
	index_len = count * ENTRY_SIZE;
	if (count > MAX_RECORDS || footer_off < HDR_SIZE ||
	    footer_off > size || size - footer_off != 8 + index_len + TRAILER_SIZE)
		return pl_errorf(err, PL_EDATA, "shard '%s': bad footer (count "
				 "%llu, offset %llu, file size %llu)", r->path,
				 (unsigned long long)count,
				 (unsigned long long)footer_off,
				 (unsigned long long)size);
	rc = read_at(r, frame, sizeof(frame), footer_off, err);
	if (rc < 0)
		return rc;
	if (get_u32(frame) != SKIP_FTR ||
	    get_u32(frame + 4) != index_len + TRAILER_SIZE)
		return pl_errorf(err, PL_EDATA, "shard '%s': bad footer frame",
				 r->path);
	r->count = (int64_t)count;
	r->index = malloc(index_len ? index_len : 1);
	if (!r->index)
		return pl_errorf(err, PL_ENOMEM, "shard '%s': out of memory for "
				 "the index of %llu records", r->path,
				 (unsigned long long)count);
	rc = read_at(r, r->index, index_len, footer_off + 8, err);
	if (rc < 0)
		return rc;
	if (crc_bad(get_u32(t + 16), rec_crc32c(0, r->index, index_len)))
		return pl_errorf(err, PL_EDATA, "shard '%s': index checksum "
				 "mismatch (the file is corrupt)", r->path);
	return check_index(r, footer_off, cbuf_cap, err);
}

/* Opens the TFRecord shard at path into r. An empty shard takes like's
 * shape; a non-empty one gives it to an empty like. */
static int open_tfrecord(rec_reader *r, rec_reader *like, pl_err *err)
{
	r->tf = tfr_reader_open(r->path, err);
	if (!r->tf)
		return -err->code;
	r->count = tfr_reader_count(r->tf);
	r->dtype = tfr_reader_dtype(r->tf);
	tfr_reader_shape(r->tf, &r->c, &r->h, &r->w);
	if (like && r->count == 0) {
		r->dtype = like->dtype;
		rec_reader_shape(like, &r->c, &r->h, &r->w);
	} else if (like && like->count == 0 && like->tf) {
		like->dtype = r->dtype;
		rec_reader_shape(r, &like->c, &like->h, &like->w);
	}
	return 0;
}

/* Opens path; with like != NULL the shard must have like's dtype and shape
 * and shares like's scratch buffers. */
static rec_reader *reader_open(const char *path, rec_reader *like, pl_err *err)
{
	rec_reader *r = calloc(1, sizeof(*r));
	struct stat st;

	if (!r || !(r->path = strdup(path))) {
		free(r);
		pl_errorf(err, PL_ENOMEM, "cannot open shard '%s': out of memory",
			  path);
		return NULL;
	}
	r->fd = -1;
	if (tfr_is_shard_name(path)) {
		if (open_tfrecord(r, like, err) < 0)
			goto fail;
		goto check_like;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0 || fstat(r->fd, &st) != 0) {
		pl_errorf(err, PL_EIO, "cannot open shard '%s': %s", path,
			  strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		pl_errorf(err, PL_EDATA, "shard '%s' is not a regular file", path);
		goto fail;
	}
	if (read_header(r, err) < 0)
		goto fail;
check_like:
	if (like && (like->dtype != r->dtype || like->c != r->c ||
		     like->h != r->h || like->w != r->w)) {
		pl_errorf(err, PL_EDATA, "shard '%s' holds %s samples of %dx%dx%d "
			  "but '%s' holds %s samples of %dx%dx%d; shards of one set "
			  "must match", path, r->dtype == REC_U8 ? "u8" : "f32",
			  r->c, r->h, r->w, like->path,
			  like->dtype == REC_U8 ? "u8" : "f32", like->c, like->h,
			  like->w);
		goto fail;
	}
	if (r->tf)
		return r;
	r->own_scratch = !like || !like->scratch;   /* a TFRecord like has none */
	r->scratch = r->own_scratch ? scratch_new(r->pix_bytes) : like->scratch;
	if (!r->scratch) {
		pl_errorf(err, PL_ENOMEM, "cannot open shard '%s': out of memory",
			  path);
		goto fail;
	}
	if (read_footer(r, (uint64_t)st.st_size, r->scratch->cbuf_cap, err) < 0)
		goto fail;
	return r;
fail:
	rec_reader_close(r);
	return NULL;
}

rec_reader *rec_reader_open(const char *path, pl_err *err)
{
	return reader_open(path, NULL, err);
}

int64_t rec_reader_count(const rec_reader *r)
{
	return r->count;
}

void rec_reader_shape(const rec_reader *r, int *c, int *h, int *w)
{
	*c = r->c;
	*h = r->h;
	*w = r->w;
}

rec_dtype rec_reader_dtype(const rec_reader *r)
{
	return r->dtype;
}

/* Reads and decompresses record i into the scratch payload; returns the
 * payload size or a negative code. */
static int64_t load_payload(rec_reader *r, int64_t i, pl_err *err)
{
	struct rec_scratch *s = r->scratch;
	const uint8_t *e = r->index + i * ENTRY_SIZE;
	uint32_t csize = get_u32(e + 8);
	unsigned long long fsize;
	size_t dsize;
	int rc = read_at(r, s->cbuf, csize, get_u64(e), err);

	if (rc < 0)
		return rc;
	if (crc_bad(get_u32(e + 12), rec_crc32c(0, s->cbuf, csize)))
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: checksum "
				 "mismatch (the file is corrupt; run prepare "
				 "again)", r->path, (long long)i);
	fsize = ZSTD_getFrameContentSize(s->cbuf, csize);
	if (fsize == ZSTD_CONTENTSIZE_ERROR || fsize == ZSTD_CONTENTSIZE_UNKNOWN ||
	    fsize < REC_HEAD + r->pix_bytes + 4 || fsize > s->payload_cap)
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: bad "
				 "decompressed size", r->path, (long long)i);
	dsize = ZSTD_decompressDCtx(s->dctx, s->payload, s->payload_cap,
				    s->cbuf, csize);
	if (ZSTD_isError(dsize))
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: cannot "
				 "decompress: %s", r->path, (long long)i,
				 ZSTD_getErrorName(dsize));
	if (dsize != fsize)
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: "
				 "decompressed size %zu, the frame says %llu",
				 r->path, (long long)i, dsize, fsize);
	return (int64_t)dsize;
}

int rec_read(rec_reader *r, int64_t i, rec_sample *out, pl_err *err)
{
	struct rec_scratch *s = r->scratch;
	int64_t dsize;
	uint32_t name_len;

	if (r->tf)
		return tfr_read(r->tf, i, out, err);
	if (i < 0 || i >= r->count)
		return pl_errorf(err, PL_EFAIL, "shard '%s': no record %lld (it "
				 "has %lld)", r->path, (long long)i,
				 (long long)r->count);
	dsize = load_payload(r, i, err);
	if (dsize < 0)
		return (int)dsize;
	name_len = get_u32(s->payload + 8);
	if (name_len > REC_MAX_NAME ||
	    (uint64_t)dsize != REC_HEAD + r->pix_bytes + name_len + 4)
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: size "
				 "%lld does not match its shape", r->path,
				 (long long)i, (long long)dsize);
	if (crc_bad(get_u32(s->payload + dsize - 4),
		    rec_crc32c(0, s->payload, (size_t)dsize - 4)))
		return pl_errorf(err, PL_EDATA, "shard '%s' record %lld: checksum "
				 "mismatch (the file is corrupt; run prepare "
				 "again)", r->path, (long long)i);
	memcpy(s->name, s->payload + REC_HEAD + r->pix_bytes, name_len);
	s->name[name_len] = '\0';
	out->label = (int32_t)get_u32(s->payload);
	out->group = (int32_t)get_u32(s->payload + 4);
	out->name = s->name;
	out->c = r->c;
	out->h = r->h;
	out->w = r->w;
	out->dtype = r->dtype;
	out->data = s->payload + REC_HEAD;
	return 0;
}

void rec_reader_close(rec_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	tfr_reader_close(r->tf);
	if (r->own_scratch)
		scratch_free(r->scratch);
	free(r->index);
	free(r->path);
	free(r);
}

/* ---------------------------------------------------------------- loader */

struct rec_loader {
	rec_reader **shards;    /* shards[0] owns the shared scratch */
	int n_shards;
	int64_t *starts;        /* n_shards + 1 prefix sums of counts */
	int64_t count;
	size_t plane;           /* h * w */
	float *lut;             /* u8: c * 256 converted values */
	float *mean, *inv_std;  /* f32: per channel; NULL = none */
	const int64_t *order;   /* the epoch's order (the caller's); NULL = stored order */
	int64_t pos;
	int64_t *batch_idx;     /* last batch: positions ... */
	size_t *name_off;       /* ... and name offsets into names */
	char *names;
	size_t names_cap;
	int batch_n, batch_cap;
};

/* Fills the u8 lookup table for the current normalisation. */
static void fill_lut(rec_loader *l)
{
	const rec_reader *r = l->shards[0];

	for (int ch = 0; ch < r->c; ch++) {
		float m = l->mean ? l->mean[ch] : 0.0f;
		float is = l->mean ? l->inv_std[ch] : 1.0f;
		for (int v = 0; v < 256; v++)
			l->lut[ch * 256 + v] = ((float)v / 255.0f - m) * is;
	}
}

rec_loader *rec_loader_open(const char *const *paths, int n_paths, pl_err *err)
{
	rec_loader *l;
	const rec_reader *r0;

	if (n_paths < 1) {
		pl_errorf(err, PL_EUSAGE, "no record shards to load");
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l || !(l->shards = calloc((size_t)n_paths, sizeof(*l->shards))) ||
	    !(l->starts = calloc((size_t)n_paths + 1, sizeof(*l->starts)))) {
		pl_errorf(err, PL_ENOMEM, "cannot open %d shards: out of memory",
			  n_paths);
		goto fail;
	}
	for (int i = 0; i < n_paths; i++) {
		l->shards[i] = reader_open(paths[i], i ? l->shards[0] : NULL, err);
		if (!l->shards[i])
			goto fail;
		l->n_shards = i + 1;
		l->starts[i + 1] = l->starts[i] + l->shards[i]->count;
	}
	l->count = l->starts[n_paths];
	r0 = l->shards[0];
	l->plane = (size_t)r0->h * (size_t)r0->w;
	l->lut = malloc((size_t)r0->c * 256 * sizeof(float));
	l->inv_std = malloc((size_t)r0->c * sizeof(float));
	if (!l->lut || !l->inv_std) {
		pl_errorf(err, PL_ENOMEM, "cannot open shards: out of memory");
		goto fail;
	}
	fill_lut(l);
	return l;
fail:
	rec_loader_close(l);
	return NULL;
}

int64_t rec_loader_count(const rec_loader *l)
{
	return l->count;
}

void rec_loader_shape(const rec_loader *l, int *c, int *h, int *w)
{
	rec_reader_shape(l->shards[0], c, h, w);
}

rec_dtype rec_loader_dtype(const rec_loader *l)
{
	return l->shards[0]->dtype;
}

int rec_loader_set_norm(rec_loader *l, const float *mean, const float *std, pl_err *err)
{
	int c = l->shards[0]->c;

	if (!mean) {
		free(l->mean);
		l->mean = NULL;
		fill_lut(l);
		return 0;
	}
	if (!std)
		return pl_errorf(err, PL_EUSAGE, "standardisation: means without standard deviations");
	for (int ch = 0; ch < c; ch++)
		if (!(std[ch] > 0.0f) || !isfinite(std[ch]) || !isfinite(mean[ch]))
			return pl_errorf(err, PL_EDATA, "standardisation of channel %d: mean %g, "
					 "standard deviation %g (need finite values and a "
					 "positive deviation)", ch, (double)mean[ch], (double)std[ch]);
	if (!l->mean && !(l->mean = malloc((size_t)c * sizeof(float))))
		return pl_errorf(err, PL_ENOMEM, "out of memory for the standardisation");
	for (int ch = 0; ch < c; ch++) {
		l->mean[ch] = mean[ch];
		l->inv_std[ch] = 1.0f / std[ch];
	}
	fill_lut(l);
	return 0;
}

void rec_loader_epoch(rec_loader *l, const int64_t *order)
{
	l->pos = 0;
	l->batch_n = 0;
	l->order = order;
}

/* Shard holding position g: the last s with starts[s] <= g (never empty). */
static int find_shard(const rec_loader *l, int64_t g)
{
	int lo = 0, hi = l->n_shards;

	while (hi - lo > 1) {
		int mid = lo + (hi - lo) / 2;
		if (l->starts[mid] <= g)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static void convert(const rec_loader *l, const rec_sample *s, float *x)
{
	size_t plane = l->plane;

	for (int ch = 0; ch < s->c; ch++) {
		float *dst = x + (size_t)ch * plane;
		if (s->dtype == REC_U8) {
			const uint8_t *src = (const uint8_t *)s->data + ch * plane;
			const float *lut = l->lut + ch * 256;
			for (size_t k = 0; k < plane; k++)
				dst[k] = lut[src[k]];
		} else if (l->mean) {
			const float *src = (const float *)s->data + ch * plane;
			float m = l->mean[ch], is = l->inv_std[ch];
			for (size_t k = 0; k < plane; k++)
				dst[k] = (src[k] - m) * is;
		} else {
			memcpy(dst, (const float *)s->data + ch * plane,
			       plane * sizeof(float));
		}
	}
}

/* Grows the per-batch bookkeeping to n records. */
static int reserve_batch(rec_loader *l, int n, pl_err *err)
{
	int64_t *idx;
	size_t *off;

	if (n <= l->batch_cap)
		return 0;
	idx = realloc(l->batch_idx, (size_t)n * sizeof(*idx));
	if (idx)
		l->batch_idx = idx;
	off = realloc(l->name_off, (size_t)n * sizeof(*off));
	if (off)
		l->name_off = off;
	if (!idx || !off)
		return pl_errorf(err, PL_ENOMEM, "cannot load a batch of %d "
				 "records: out of memory", n);
	l->batch_cap = n;
	return 0;
}

/* Appends a record name to the batch name buffer; returns its offset. */
static int add_name(rec_loader *l, size_t *used, const char *name,
		    size_t *off, pl_err *err)
{
	size_t len = strlen(name) + 1;

	if (*used + len > l->names_cap) {
		size_t cap = l->names_cap ? l->names_cap : 4096;
		char *p;
		while (cap < *used + len)
			cap *= 2;
		p = realloc(l->names, cap);
		if (!p)
			return pl_errorf(err, PL_ENOMEM, "out of memory for "
					 "record names");
		l->names = p;
		l->names_cap = cap;
	}
	memcpy(l->names + *used, name, len);
	*off = *used;
	*used += len;
	return 0;
}

int rec_loader_next(rec_loader *l, int max_n, float *x, int32_t *labels,
		    int32_t *groups, int *n_out, pl_err *err)
{
	size_t chw = l->plane * (size_t)l->shards[0]->c, names_used = 0;
	int64_t left = l->count - l->pos;
	int n = max_n < left ? max_n : (int)left, rc;

	*n_out = 0;
	l->batch_n = 0;
	if (max_n < 1)
		return pl_errorf(err, PL_EUSAGE, "batch size %d must be positive",
				 max_n);
	rc = reserve_batch(l, n, err);
	for (int k = 0; rc == 0 && k < n; k++) {
		int64_t g = l->order ? l->order[l->pos + k] : l->pos + k;
		int s;
		rec_sample smp;
		if (g < 0 || g >= l->count) {
			rc = pl_errorf(err, PL_EUSAGE, "epoch order: position %lld of %lld is record "
				       "%lld, not one of 0..%lld", (long long)(l->pos + k),
				       (long long)l->count, (long long)g, (long long)l->count - 1);
			break;
		}
		s = find_shard(l, g);
		rc = rec_read(l->shards[s], g - l->starts[s], &smp, err);
		if (rc == 0)
			rc = add_name(l, &names_used, smp.name, &l->name_off[k], err);
		if (rc < 0)
			break;
		convert(l, &smp, x + (size_t)k * chw);
		labels[k] = smp.label;
		if (groups)
			groups[k] = smp.group;
		l->batch_idx[k] = g;
	}
	if (rc < 0)
		return rc;
	l->pos += n;
	l->batch_n = n;
	*n_out = n;
	return 0;
}

const char *rec_loader_name(const rec_loader *l, int i)
{
	return i >= 0 && i < l->batch_n ? l->names + l->name_off[i] : NULL;
}

int64_t rec_loader_index(const rec_loader *l, int i)
{
	return i >= 0 && i < l->batch_n ? l->batch_idx[i] : -1;
}

void rec_loader_close(rec_loader *l)
{
	if (!l)
		return;
	for (int i = l->n_shards - 1; i >= 0; i--)
		rec_reader_close(l->shards[i]);
	free(l->shards);
	free(l->starts);
	free(l->lut);
	free(l->mean);
	free(l->inv_std);
	free(l->batch_idx);
	free(l->name_off);
	free(l->names);
	free(l);
}
