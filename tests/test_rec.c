/* Tests of io/rec: shard round trips, corruption detection, the loader's
 * epochs and batches, streaming memory use, and the fuzz corpus. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <zstd.h>

#include "../io/rec.h"
#include "../nn/nn.h"
#include "check.h"

static char corpus_dir[4096];

/* Pixel value k of record id in a u8 shard. */
static uint8_t u8_pixel(int id, int k)
{
	return (uint8_t)((id * 37 + k * 11) & 0xff);
}

static float f32_pixel(int id, int k)
{
	return (float)id * 0.5f - (float)k * 0.25f + 1e-3f * (float)(k * k);
}

/* Writes records first..first+n-1 (label = id % 3, group = id / 4 or -1 for
 * odd ids, name "img<id>#tile<id%16>") of shape c x h x w. */
static int write_shard(const char *path, rec_dtype dt, int c, int h, int w,
		       int first, int n)
{
	int px = c * h * w;
	uint8_t *u8 = malloc((size_t)px);
	float *f32 = malloc((size_t)px * sizeof(float));
	pl_err err = {0};
	rec_writer *wr = rec_writer_open(path, dt, c, h, w, 3, &err);
	int rc = wr ? 0 : -1;

	for (int id = first; rc == 0 && id < first + n; id++) {
		char name[64];
		for (int k = 0; k < px; k++) {
			u8[k] = u8_pixel(id, k);
			f32[k] = f32_pixel(id, k);
		}
		snprintf(name, sizeof(name), "img%d#tile%d", id, id % 16);
		rc = rec_write(wr, id % 3, id % 2 ? -1 : id / 4, name,
			       dt == REC_U8 ? (void *)u8 : (void *)f32, &err);
	}
	if (wr && rc == 0)
		rc = rec_writer_close(wr, NULL, &err);
	else
		rec_writer_abort(wr);
	if (rc)
		fprintf(stderr, "write_shard %s: %s\n", path, err.msg);
	free(u8);
	free(f32);
	return rc;
}

/* Checks that s is record id as written by write_shard. */
static int sample_ok(const rec_sample *s, int id)
{
	char name[64];
	int px = s->c * s->h * s->w;

	snprintf(name, sizeof(name), "img%d#tile%d", id, id % 16);
	if (s->label != id % 3 || s->group != (id % 2 ? -1 : id / 4) ||
	    strcmp(s->name, name) != 0)
		return 0;
	for (int k = 0; k < px; k++) {
		if (s->dtype == REC_U8 && ((const uint8_t *)s->data)[k] != u8_pixel(id, k))
			return 0;
		if (s->dtype == REC_F32 && ((const float *)s->data)[k] != f32_pixel(id, k))
			return 0;
	}
	return 1;
}

static void test_crc32c(void)
{
	CHECK(rec_crc32c(0, "123456789", 9) == 0xE3069283u, "%08x",
	      rec_crc32c(0, "123456789", 9));
	CHECK(rec_crc32c(rec_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u,
	      "continued crc differs");
	CHECK(rec_crc32c(0, "", 0) == 0, "empty crc");
}

static void test_shard_name(void)
{
	char buf[64];

	CHECK(rec_shard_name(buf, sizeof(buf), "train", 3, 16) == 0, "name");
	CHECK(strcmp(buf, "train-00003-of-00016.rec.zst") == 0, "%s", buf);
	CHECK(rec_shard_name(buf, 10, "train", 3, 16) == -1, "too small fits");
	CHECK(rec_shard_name(buf, sizeof(buf), "val", 4, 4) == -1, "i == m ok");
}

static void roundtrip(rec_dtype dt, int c, int h, int w, int n)
{
	pl_err err = {0};
	rec_reader *r;
	rec_sample s;
	int rc, bad = 0, cc, hh, ww;

	CHECK(write_shard("s.rec.zst", dt, c, h, w, 0, n) == 0, "write");
	r = rec_reader_open("s.rec.zst", &err);
	CHECK(r != NULL, "open: %s", err.msg);
	if (!r)
		return;
	CHECK(rec_reader_count(r) == n, "count %lld", (long long)rec_reader_count(r));
	CHECK(rec_reader_dtype(r) == dt, "dtype");
	rec_reader_shape(r, &cc, &hh, &ww);
	CHECK(cc == c && hh == h && ww == w, "shape %dx%dx%d", cc, hh, ww);
	for (int i = n - 1; i >= 0; i--) {   /* random access: backwards */
		rc = rec_read(r, i, &s, &err);
		if (rc != 0 || !sample_ok(&s, i) || s.c != c || s.h != h || s.w != w)
			bad++;
	}
	CHECK(bad == 0, "%d records differ (%s)", bad, err.msg);
	for (int k = 0; k < 3 * n; k++) {     /* random access: jumps */
		int i = (k * 7919) % n;
		if (rec_read(r, i, &s, &err) != 0 || !sample_ok(&s, i))
			bad++;
	}
	CHECK(bad == 0, "%d jumps differ", bad);
	CHECK(rec_read(r, n, &s, &err) < 0, "read past the end");
	CHECK(rec_read(r, -1, &s, &err) < 0, "read before the start");
	rec_reader_close(r);
}

static void test_roundtrip_u8(void)
{
	roundtrip(REC_U8, 3, 5, 7, 50);
}

static void test_roundtrip_f32(void)
{
	roundtrip(REC_F32, 2, 4, 4, 33);
}

static void test_names_and_empty(void)
{
	char name[REC_MAX_NAME + 2];
	uint8_t px[4] = {1, 2, 3, 4};
	pl_err err = {0};
	rec_writer *w = rec_writer_open("n.rec.zst", REC_U8, 1, 2, 2, 1, &err);
	rec_reader *r;
	rec_sample s;
	uint64_t bytes = 0;

	CHECK(w != NULL, "open: %s", err.msg);
	if (!w)
		return;
	memset(name, 'x', sizeof(name));
	name[REC_MAX_NAME] = '\0';
	CHECK_OK(rec_write(w, 1, -1, name, px, &err), &err);
	CHECK_OK(rec_write(w, 2, 7, NULL, px, &err), &err);
	name[REC_MAX_NAME] = 'y';
	name[REC_MAX_NAME + 1] = '\0';
	CHECK(rec_write(w, 3, 7, name, px, &err) == -PL_EDATA, "long name");
	CHECK(strstr(err.msg, "limit") != NULL, "%s", err.msg);
	CHECK(rec_writer_count(w) == 2, "count");
	CHECK_OK(rec_writer_close(w, &bytes, &err), &err);
	r = rec_reader_open("n.rec.zst", &err);
	CHECK(r != NULL, "open: %s", err.msg);
	if (!r)
		return;
	CHECK_OK(rec_read(r, 0, &s, &err), &err);
	CHECK(strlen(s.name) == REC_MAX_NAME && s.label == 1 && s.group == -1, "r0");
	CHECK_OK(rec_read(r, 1, &s, &err), &err);
	CHECK(s.name[0] == '\0' && s.label == 2 && s.group == 7, "r1");
	CHECK(memcmp(s.data, px, 4) == 0, "pixels");
	rec_reader_close(r);

	CHECK(write_shard("e.rec.zst", REC_F32, 1, 3, 3, 0, 0) == 0, "empty shard");
	r = rec_reader_open("e.rec.zst", &err);
	CHECK(r && rec_reader_count(r) == 0, "empty: %s", err.msg);
	rec_reader_close(r);
	CHECK(rec_writer_open("x.rec.zst", REC_U8, 0, 3, 3, 1, &err) == NULL,
	      "zero channels accepted");
	CHECK(rec_writer_open("x.rec.zst", 7, 1, 3, 3, 1, &err) == NULL,
	      "bad dtype accepted");
	CHECK(rec_writer_open("nodir/x.rec.zst", REC_U8, 1, 3, 3, 1, &err) == NULL &&
	      err.code == PL_EIO && strstr(err.msg, "nodir/x.rec.zst"), "%s", err.msg);
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int read_file(const char *path, uint8_t **buf, long *len)
{
	FILE *fp = fopen(path, "rb");

	*len = file_size(path);
	*buf = malloc((size_t)*len + 1);
	if (!fp || !*buf || fread(*buf, 1, (size_t)*len, fp) != (size_t)*len) {
		if (fp)
			fclose(fp);
		return -1;
	}
	fclose(fp);
	return 0;
}

static int write_file(const char *path, const void *buf, long len)
{
	FILE *fp = fopen(path, "wb");
	int ok = fp && fwrite(buf, 1, (size_t)len, fp) == (size_t)len;

	if (fp && fclose(fp) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void set32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Offset and size of record i, parsed from the footer of buf. */
static void entry_of(const uint8_t *buf, long len, int i, uint64_t *off,
		     uint32_t *csize)
{
	uint64_t footer = le64(buf + len - 24);
	const uint8_t *e = buf + footer + 8 + (uint64_t)i * 16;

	*off = le64(e);
	*csize = le32(e + 8);
}

static int expect_fail(const char *path, int64_t rec, const char *needle)
{
	pl_err err = {0};
	rec_reader *r = rec_reader_open(path, &err);
	rec_sample s;
	int rc = 0;

	if (r && rec >= 0)
		rc = rec_read(r, rec, &s, &err);
	rec_reader_close(r);
	if (r && rec < 0)
		return 0;
	if ((r && rc == 0) || err.code != PL_EDATA || !strstr(err.msg, path) ||
	    (needle && !strstr(err.msg, needle))) {
		fprintf(stderr, "  got code %d: %s\n", err.code, err.msg);
		return 0;
	}
	return 1;
}

static void test_corrupt_record(void)
{
	uint8_t *buf;
	long len;
	uint64_t off;
	uint32_t csize;
	pl_err err = {0};
	rec_reader *r;
	rec_sample s;

	CHECK(write_shard("c.rec.zst", REC_U8, 2, 8, 8, 0, 10) == 0, "write");
	CHECK(read_file("c.rec.zst", &buf, &len) == 0, "read");
	entry_of(buf, len, 5, &off, &csize);
	buf[off + csize / 2] ^= 0x10;
	CHECK(write_file("c.rec.zst", buf, len) == 0, "write back");
	CHECK(expect_fail("c.rec.zst", 5, "record 5: checksum"), "flip not caught");
	r = rec_reader_open("c.rec.zst", &err);
	CHECK(r && rec_read(r, 4, &s, &err) == 0 && sample_ok(&s, 4) &&
	      rec_read(r, 6, &s, &err) == 0 && sample_ok(&s, 6),
	      "neighbours unreadable: %s", err.msg);
	rec_reader_close(r);
	free(buf);
}

/* Replaces record 0 of a one-record shard with payload p (plen bytes,
 * compressed here), rewriting the index and trailer checksums. */
static int forge_record(const char *path, const uint8_t *p, size_t plen)
{
	uint8_t *buf, out[8192], frame[4096];
	long len, n = 0;
	size_t csize = ZSTD_compress(frame, sizeof(frame), p, plen, 1);
	uint8_t *e, *t;

	if (ZSTD_isError(csize) || read_file(path, &buf, &len) != 0)
		return -1;
	memcpy(out, buf, 40);
	memcpy(out + 40, frame, csize);
	n = 40 + (long)csize;
	set32(out + n, 0x184D2A5Fu);
	set32(out + n + 4, 16 + 32);
	e = out + n + 8;
	memset(e, 0, 16);
	e[0] = 40;
	set32(e + 8, (uint32_t)csize);
	set32(e + 12, rec_crc32c(0, frame, csize));
	t = e + 16;
	memset(t, 0, 32);
	t[0] = 1;
	t[8] = (uint8_t)n;
	t[9] = (uint8_t)(n >> 8);
	set32(t + 16, rec_crc32c(0, e, 16));
	set32(t + 20, rec_crc32c(0, t, 20));
	memcpy(t + 24, "PLRECEND", 8);
	free(buf);
	return write_file(path, out, n + 8 + 16 + 32);
}

static void test_forged_payloads(void)
{
	uint8_t p[16 + 16 + 5 + 4] = {0};   /* 1x4x4 u8, name "hello" */
	pl_err err = {0};
	rec_reader *r;
	rec_sample s;

	set32(p + 8, 5);
	memset(p + 16, 9, 16);
	memcpy(p + 32, "hello", 5);
	set32(p + 37, rec_crc32c(0, p, 37));
	CHECK(write_shard("f.rec.zst", REC_U8, 1, 4, 4, 0, 1) == 0, "write");
	CHECK(forge_record("f.rec.zst", p, sizeof(p)) == 0, "forge");
	r = rec_reader_open("f.rec.zst", &err);
	CHECK(r && rec_read(r, 0, &s, &err) == 0 && strcmp(s.name, "hello") == 0 &&
	      ((const uint8_t *)s.data)[15] == 9, "forged record: %s", err.msg);
	rec_reader_close(r);
	p[20] ^= 1;                          /* payload changed, crc kept */
	CHECK(forge_record("f.rec.zst", p, sizeof(p)) == 0, "forge");
	CHECK(expect_fail("f.rec.zst", 0, "record 0: checksum"), "inner crc");
	p[20] ^= 1;
	set32(p + 8, 4);                     /* name length disagrees */
	set32(p + 37, rec_crc32c(0, p, 37));
	CHECK(forge_record("f.rec.zst", p, sizeof(p)) == 0, "forge");
	CHECK(expect_fail("f.rec.zst", 0, "record 0"), "size mismatch");
	CHECK(forge_record("f.rec.zst", p, 20) == 0, "forge");
	CHECK(expect_fail("f.rec.zst", 0, "decompressed size"), "short payload");
}

static void test_truncated(void)
{
	uint8_t *buf;
	long len, cuts[] = {1, 7, 32, 100, -1, -2, -40};

	CHECK(write_shard("t.rec.zst", REC_U8, 1, 16, 16, 0, 20) == 0, "write");
	CHECK(read_file("t.rec.zst", &buf, &len) == 0, "read");
	for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
		long keep = cuts[k] > 0 ? cuts[k] : len + cuts[k];
		CHECK(write_file("cut.rec.zst", buf, keep) == 0, "write");
		CHECK(expect_fail("cut.rec.zst", -1, NULL), "cut to %ld accepted", keep);
	}
	CHECK(write_file("cut.rec.zst", buf, 0) == 0, "write");
	CHECK(expect_fail("cut.rec.zst", -1, "truncated"), "empty accepted");
	free(buf);
}

static void test_magic_version(void)
{
	uint8_t *buf;
	long len;
	const char *text = "label,file\n1,a.png\n0,b.png\n1,c.png\n0,d.png\n"
			   "1,e.png\n0,f.png\n1,g.png\n";

	CHECK(write_file("m.rec.zst", text, (long)strlen(text)) == 0, "w");
	CHECK(expect_fail("m.rec.zst", -1, "not a record shard"), "text accepted");
	CHECK(write_shard("v.rec.zst", REC_U8, 1, 4, 4, 0, 3) == 0, "write");
	CHECK(read_file("v.rec.zst", &buf, &len) == 0, "read");
	buf[8 + 8] = 2;                      /* version 2, header crc fixed */
	set32(buf + 8 + 28, rec_crc32c(0, buf + 8, 28));
	CHECK(write_file("v2.rec.zst", buf, len) == 0, "write");
	CHECK(expect_fail("v2.rec.zst", -1, "version 2"), "newer version");
	buf[8 + 8] = 1;
	buf[8 + 20] = 0xff;                  /* height 255 -> crc catches it */
	CHECK(write_file("v3.rec.zst", buf, len) == 0, "write");
	CHECK(expect_fail("v3.rec.zst", -1, "header checksum"), "header crc");
	buf[8 + 20] = 4;
	buf[8 + 23] = 0x7f;                  /* height 2^31: over the limits */
	set32(buf + 8 + 28, rec_crc32c(0, buf + 8, 28));
	CHECK(write_file("v4.rec.zst", buf, len) == 0, "write");
	CHECK(expect_fail("v4.rec.zst", -1, "limits"), "huge shape");
	buf[8 + 23] = 0;
	buf[len - 32] ^= 1;                  /* count in the trailer */
	set32(buf + 8 + 28, rec_crc32c(0, buf + 8, 28));
	CHECK(write_file("v5.rec.zst", buf, len) == 0, "write");
	CHECK(expect_fail("v5.rec.zst", -1, "footer checksum"), "trailer crc");
	free(buf);
}

static void test_full_disk(void)
{
	uint8_t px[64 * 64];
	pl_err err = {0};
	rec_writer *w;
	int rc = 0;

	if (access("/dev/full", W_OK) != 0)
		return;
	memset(px, 3, sizeof(px));
	w = rec_writer_open("/dev/full", REC_U8, 1, 64, 64, 1, &err);
	CHECK(w != NULL, "open: %s", err.msg);
	if (!w)
		return;
	for (int i = 0; i < 200 && rc == 0; i++) {
		px[i] = (uint8_t)(i * 13);  /* keep records distinct */
		rc = rec_write(w, 0, 0, "x", px, &err);
	}
	if (rc == 0)
		rc = rec_writer_close(w, NULL, &err);
	else
		CHECK(rec_writer_close(w, NULL, &err) < 0, "close after error");
	CHECK(rc == -PL_EIO && strstr(err.msg, "/dev/full"), "%d %s", rc, err.msg);
	CHECK(access("/dev/full", F_OK) == 0, "device removed");
}

static long rss_pages(void)
{
	long size = 0, resident = 0;
	FILE *fp = fopen("/proc/self/statm", "r");

	if (!fp)
		return -1;
	if (fscanf(fp, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(fp);
	return resident;
}

static void test_streaming_memory(void)
{
	uint8_t px[3 * 8 * 8];
	pl_err err = {0};
	rec_writer *w = rec_writer_open("big.rec.zst", REC_U8, 3, 8, 8, 1, &err);
	long before = 0, after;
	rec_reader *r;
	rec_sample s;
	int rc = 0;

	CHECK(w != NULL, "open: %s", err.msg);
	if (!w)
		return;
	for (int i = 0; i < 21000 && rc == 0; i++) {
		char name[48];
		for (size_t k = 0; k < sizeof(px); k++)
			px[k] = (uint8_t)(i * 31 + k);
		snprintf(name, sizeof(name), "images/W%05d_nuclei.bmp#tile%d", i, i % 16);
		if (i == 1000)
			before = rss_pages();
		rc = rec_write(w, i % 2, i / 16, name, px, &err);
	}
	after = rss_pages();
	CHECK(rc == 0, "write: %s", err.msg);
	/* 20k index entries alone would be 320 KiB (80 pages) */
	CHECK(after - before < 32, "rss grew by %ld pages", after - before);
	CHECK_OK(rec_writer_close(w, NULL, &err), &err);
	r = rec_reader_open("big.rec.zst", &err);
	CHECK(r && rec_reader_count(r) == 21000, "reopen: %s", err.msg);
	CHECK(r && rec_read(r, 20999, &s, &err) == 0 && s.group == 20999 / 16 &&
	      strstr(s.name, "W20999"), "last record: %s", err.msg);
	rec_reader_close(r);
}

/* Collects the ids (labels are id % 3, so ids come from the names) of an
 * epoch in training's order for (seed, epoch), or as stored when !shuffle;
 * returns the number of records delivered or -1. */
static int epoch_ids(rec_loader *l, uint64_t seed, int epoch, int shuffle,
		     int batch, int *ids, int *sizes, int *bad)
{
	int c, h, w, n, total = 0, nb = 0;
	float *x;
	int32_t labels[64], groups[64];
	static int64_t order[64];
	pl_err err = {0};

	rec_loader_shape(l, &c, &h, &w);
	x = malloc((size_t)batch * c * h * w * sizeof(float));
	if (!x || rec_loader_count(l) > 64)
		return -1;
	nn_epoch_order(order, rec_loader_count(l), seed, epoch);
	rec_loader_epoch(l, shuffle ? order : NULL);
	*bad = 0;
	while (rec_loader_next(l, batch, x, labels, groups, &n, &err) == 0 && n > 0) {
		for (int k = 0; k < n; k++) {
			int id = atoi(rec_loader_name(l, k) + 3);
			ids[total + k] = id;
			if (labels[k] != id % 3 || groups[k] != (id % 2 ? -1 : id / 4) ||
			    rec_loader_index(l, k) != id)
				(*bad)++;
			for (int p = 0; p < c * h * w; p++) {
				float want = rec_loader_dtype(l) == REC_U8 ?
					     u8_pixel(id, p) / 255.0f : f32_pixel(id, p);
				if (fabsf(x[(size_t)k * c * h * w + p] - want) > 1e-6f)
					(*bad)++;
			}
		}
		sizes[nb++] = n;
		total += n;
	}
	sizes[nb] = 0;
	CHECK(rec_loader_name(l, 0) == NULL, "names after the end");
	free(x);
	return err.code ? -1 : total;
}

static rec_loader *open_set(const char *const *paths, int n)
{
	pl_err err = {0};
	rec_loader *l = rec_loader_open(paths, n, &err);

	CHECK(l != NULL, "loader: %s", err.msg);
	return l;
}

/* The loader delivers exactly the order it is given (here: backwards)
 * and refuses a position outside the records. */
static void loader_follows_order(rec_loader *l)
{
	int64_t order[30];
	float x[30 * 18];
	int32_t labels[30];
	pl_err err = {0};
	int n = 0, bad = 0;

	for (int i = 0; i < 30; i++)
		order[i] = 29 - i;
	rec_loader_epoch(l, order);
	CHECK_OK(rec_loader_next(l, 30, x, labels, NULL, &n, &err), &err);
	for (int i = 0; i < n; i++)
		bad += rec_loader_index(l, i) != 29 - i ||
		       atoi(rec_loader_name(l, i) + 3) != 29 - i;
	CHECK(n == 30 && bad == 0, "%d of %d records out of the order given", bad, n);
	order[3] = 30;
	rec_loader_epoch(l, order);
	CHECK(rec_loader_next(l, 8, x, labels, NULL, &n, &err) == -PL_EUSAGE &&
	      strstr(err.msg, "position 3") && strstr(err.msg, "record 30"), "%s", err.msg);
}

static void test_loader_epochs(void)
{
	const char *four[] = {"a.rec.zst", "b.rec.zst", "c.rec.zst", "d.rec.zst"};
	const char *two[] = {"p.rec.zst", "q.rec.zst"};
	int ids[30], ids2[30], ids3[30], sizes[16], bad, seen[30] = {0}, dup = 0;
	rec_loader *l, *l2;

	CHECK(write_shard("a.rec.zst", REC_U8, 2, 3, 3, 0, 10) == 0 &&
	      write_shard("b.rec.zst", REC_U8, 2, 3, 3, 10, 7) == 0 &&
	      write_shard("c.rec.zst", REC_U8, 2, 3, 3, 17, 0) == 0 &&
	      write_shard("d.rec.zst", REC_U8, 2, 3, 3, 17, 13) == 0 &&
	      write_shard("p.rec.zst", REC_U8, 2, 3, 3, 0, 15) == 0 &&
	      write_shard("q.rec.zst", REC_U8, 2, 3, 3, 15, 15) == 0, "write");
	if (!(l = open_set(four, 4)) || !(l2 = open_set(two, 2))) {
		rec_loader_close(l);
		return;
	}
	CHECK(rec_loader_count(l) == 30, "count %lld", (long long)rec_loader_count(l));
	CHECK(epoch_ids(l, 5, 0, 1, 8, ids, sizes, &bad) == 30 && bad == 0,
	      "epoch: %d bad", bad);
	CHECK(sizes[0] == 8 && sizes[1] == 8 && sizes[2] == 8 && sizes[3] == 6 &&
	      sizes[4] == 0, "batch sizes %d %d %d %d", sizes[0], sizes[1],
	      sizes[2], sizes[3]);
	for (int i = 0; i < 30; i++) {
		if (ids[i] < 0 || ids[i] >= 30 || seen[ids[i]]++)
			dup++;
	}
	CHECK(dup == 0, "%d records missing or repeated", dup);
	CHECK(epoch_ids(l, 5, 0, 1, 7, ids2, sizes, &bad) == 30, "again");
	CHECK(memcmp(ids, ids2, sizeof(ids)) == 0, "same seed, other order");
	CHECK(epoch_ids(l2, 5, 0, 1, 30, ids3, sizes, &bad) == 30 && bad == 0, "2");
	CHECK(memcmp(ids, ids3, sizeof(ids)) == 0, "order depends on sharding");
	CHECK(epoch_ids(l, 5, 1, 1, 8, ids2, sizes, &bad) == 30, "epoch 1");
	CHECK(memcmp(ids, ids2, sizeof(ids)) != 0, "epoch 1 has epoch 0's order");
	CHECK(epoch_ids(l, 6, 0, 1, 8, ids2, sizes, &bad) == 30, "seed 6");
	CHECK(memcmp(ids, ids2, sizeof(ids)) != 0, "seed 6 has seed 5's order");
	CHECK(epoch_ids(l, 5, 0, 0, 64, ids2, sizes, &bad) == 30 && bad == 0 &&
	      sizes[0] == 30 && sizes[1] == 0, "sequential");
	for (int i = 0; i < 30; i++)
		CHECK(ids2[i] == i, "sequential %d is %d", i, ids2[i]);
	loader_follows_order(l);
	rec_loader_close(l);
	rec_loader_close(l2);
}

static void test_loader_norm(void)
{
	const char *u8[] = {"u.rec.zst"}, *f32[] = {"f.rec.zst"};
	float mean[2] = {0.5f, -1.0f}, std[2] = {0.25f, 2.0f}, zero[2] = {1, 0};
	float x[4 * 2 * 3 * 3];
	int32_t labels[4];
	int n, bad = 0;
	pl_err err = {0};
	rec_loader *l;

	CHECK(write_shard("u.rec.zst", REC_U8, 2, 3, 3, 0, 4) == 0 &&
	      write_shard("f.rec.zst", REC_F32, 2, 3, 3, 0, 4) == 0, "write");
	for (int t = 0; t < 2; t++) {
		if (!(l = open_set(t ? f32 : u8, 1)))
			return;
		CHECK(rec_loader_set_norm(l, mean, zero, &err) == -PL_EDATA &&
		      strstr(err.msg, "channel 1") && strstr(err.msg, "deviation 0"),
		      "std 0: %s", err.msg);
		CHECK(rec_loader_set_norm(l, mean, NULL, &err) == -PL_EUSAGE, "mean without std");
		CHECK_OK(rec_loader_set_norm(l, mean, std, &err), &err);
		rec_loader_epoch(l, NULL);
		CHECK_OK(rec_loader_next(l, 4, x, labels, NULL, &n, &err), &err);
		CHECK(n == 4, "n %d", n);
		for (int k = 0; k < 4 * 18; k++) {
			int id = k / 18, p = k % 18, ch = p / 9;
			float v = t ? f32_pixel(id, p) : u8_pixel(id, p) / 255.0f;
			if (fabsf(x[k] - (v - mean[ch]) / std[ch]) > 1e-5f)
				bad++;
		}
		CHECK(bad == 0, "%d values not normalised", bad);
		CHECK_OK(rec_loader_set_norm(l, NULL, NULL, &err), &err);
		rec_loader_epoch(l, NULL);
		CHECK_OK(rec_loader_next(l, 2, x, labels, NULL, &n, &err), &err);
		CHECK(fabsf(x[5] - (t ? f32_pixel(0, 5) : u8_pixel(0, 5) / 255.0f))
		      < 1e-7f, "norm not removed");
		CHECK(rec_loader_next(l, 0, x, labels, NULL, &n, &err) < 0, "batch 0");
		rec_loader_close(l);
	}
}

static void test_loader_errors(void)
{
	const char *mixed[] = {"s1.rec.zst", "s2.rec.zst"};
	const char *missing[] = {"s1.rec.zst", "none.rec.zst"};
	const char *corrupt[] = {"s1.rec.zst"};
	pl_err err = {0};
	float x[8 * 16];
	int32_t labels[8];
	uint8_t *buf;
	long len;
	uint64_t off;
	uint32_t csize;
	int n, rc = 0;
	rec_loader *l;

	CHECK(write_shard("s1.rec.zst", REC_U8, 1, 4, 4, 0, 8) == 0 &&
	      write_shard("s2.rec.zst", REC_U8, 1, 4, 5, 0, 3) == 0, "write");
	CHECK(rec_loader_open(mixed, 2, &err) == NULL && err.code == PL_EDATA &&
	      strstr(err.msg, "s1.rec.zst") && strstr(err.msg, "s2.rec.zst"),
	      "shape mismatch: %s", err.msg);
	CHECK(rec_loader_open(missing, 2, &err) == NULL && err.code == PL_EIO &&
	      strstr(err.msg, "none.rec.zst"), "missing: %s", err.msg);
	CHECK(rec_loader_open(mixed, 0, &err) == NULL, "no shards accepted");
	CHECK(read_file("s1.rec.zst", &buf, &len) == 0, "read");
	entry_of(buf, len, 6, &off, &csize);
	buf[off + 1] ^= 0x01;
	CHECK(write_file("s1.rec.zst", buf, len) == 0, "write");
	free(buf);
	if (!(l = open_set(corrupt, 1)))
		return;
	rec_loader_epoch(l, NULL);
	while (rc == 0 && rec_loader_next(l, 8, x, labels, NULL, &n, &err) == 0 && n)
		rc = 1;
	CHECK(err.code == PL_EDATA && strstr(err.msg, "s1.rec.zst") &&
	      strstr(err.msg, "record 6"), "%s", err.msg);
	rec_loader_close(l);
}

/* Every file of the rec corpus opens and reads cleanly or fails with a
 * message; the sanitizer build catches anything worse. */
static void test_corpus(void)
{
	char dir[4200], path[8400];
	DIR *d;
	struct dirent *de;
	int files = 0;

	snprintf(dir, sizeof(dir), "%s/tests/corpus/rec", corpus_dir);
	d = opendir(dir);
	CHECK(d != NULL, "no corpus at %s", dir);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *paths[1] = {path};
		pl_err err = {0};
		rec_reader *r;
		rec_loader *l;
		rec_sample s;
		int rc = 0, n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		files++;
		r = rec_reader_open(path, &err);
		for (int64_t i = 0; r && rc == 0 && i < rec_reader_count(r); i++)
			rc = rec_read(r, i, &s, &err);
		CHECK(r ? rc == 0 || (err.code == PL_EDATA && err.msg[0])
			: err.code != 0 && err.msg[0], "%s: %s", de->d_name, err.msg);
		if (r && (l = rec_loader_open(paths, 1, &err)) != NULL) {
			int c, h, w;
			float *x;
			int32_t labels[4];
			rec_loader_shape(l, &c, &h, &w);
			x = malloc((size_t)4 * c * h * w * sizeof(float));
			rec_loader_epoch(l, NULL);
			while (x && rec_loader_next(l, 4, x, labels, NULL, &n, &err) == 0 && n)
				;
			free(x);
			rec_loader_close(l);
		}
		rec_reader_close(r);
	}
	closedir(d);
	CHECK(files > 0, "empty corpus");
}

int main(void)
{
	const char *root = getenv("PL_ROOT");

	if (root)
		snprintf(corpus_dir, sizeof(corpus_dir), "%s", root);
	else if (!getcwd(corpus_dir, sizeof(corpus_dir)))
		return 2;
	RUN(test_crc32c);
	RUN(test_shard_name);
	RUN(test_roundtrip_u8);
	RUN(test_roundtrip_f32);
	RUN(test_names_and_empty);
	RUN(test_corrupt_record);
	RUN(test_forged_payloads);
	RUN(test_truncated);
	RUN(test_magic_version);
	RUN(test_full_disk);
	RUN(test_streaming_memory);
	RUN(test_loader_epochs);
	RUN(test_loader_norm);
	RUN(test_loader_errors);
	RUN(test_corpus);
	return check_report("test_rec");
}
