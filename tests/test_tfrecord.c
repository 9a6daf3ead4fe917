/* Tests of io/tfrecord: the masked CRC, round trips of u8 and f32 samples
 * of 1 to 5 channels (5: planes stacked in a gray PNG), plain and gzip, an
 * empty shard, corruption detection, and the record loader over a mix of
 * TFRecord and rec shards. */
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

#include "../io/img.h"
#include "../io/rec.h"
#include "../io/tfrecord.h"
#include "check.h"

static char *classes[] = { "cat", "dog", "eel" };
static char check_cwd[2048];

static uint8_t u8_pixel(int id, int k)
{
	return (uint8_t)((id * 37 + k * 11) & 0xff);
}

/* f32 values on the 16-bit grid, so that they come back exactly. */
static float f32_pixel(int id, int k)
{
	return (float)((id * 7919 + k * 131) % 65536) / 65535.0f;
}

/* Writes n records (label id % 3, group id - 1, name "img<id>") of c x h x w. */
static int write_shard(const char *path, rec_dtype dt, int c, int h, int w, int n)
{
	int px = c * h * w, rc;
	uint8_t *u8 = malloc((size_t)px);
	float *f32 = malloc((size_t)px * sizeof(float));
	pl_err err = { 0 };
	tfr_writer *wr = tfr_writer_open(path, dt, c, h, w, classes, 3, &err);

	rc = wr ? 0 : -1;
	for (int id = 0; rc == 0 && id < n; id++) {
		char name[32];
		for (int k = 0; k < px; k++) {
			u8[k] = u8_pixel(id, k);
			f32[k] = f32_pixel(id, k);
		}
		snprintf(name, sizeof(name), "img%d", id);
		rc = tfr_write(wr, id % 3, id - 1, name, dt == REC_U8 ? (void *)u8 : (void *)f32,
			       &err);
	}
	if (wr && rc == 0)
		rc = tfr_writer_close(wr, NULL, &err);
	else
		tfr_writer_abort(wr);
	if (rc < 0)
		fprintf(stderr, "write_shard: %s\n", err.msg);
	free(u8);
	free(f32);
	return rc;
}

static void test_mask(void)
{
	/* CRC32C("123456789") = 0xe3069283; masked by TensorFlow's rule */
	uint32_t crc = rec_crc32c(0, "123456789", 9);

	CHECK(crc == 0xe3069283u, "crc %08x", crc);
	CHECK(tfr_mask_crc(crc) == (((crc >> 15) | (crc << 17)) + 0xa282ead8u), "mask");
	CHECK(tfr_is_shard_name("a/train-00000-of-00002.tfrecord"), "plain name");
	CHECK(tfr_is_shard_name("train-00000-of-00002.tfrecord.gz"), "gz name");
	CHECK(!tfr_is_shard_name("train-00000-of-00002.rec.zst"), "rec name");
}

/* Writes and reads back n records of shape c x 5 x 4 at path. */
static void roundtrip(const char *path, rec_dtype dt, int c, int n)
{
	pl_err err = { 0 };
	tfr_reader *r;
	int rc, bad = 0, cc, hh, ww;

	CHECK(write_shard(path, dt, c, 5, 4, n) == 0, "%s: write", path);
	r = tfr_reader_open(path, &err);
	CHECK(r != NULL, "%s: open: %s", path, err.msg);
	if (!r)
		return;
	tfr_reader_shape(r, &cc, &hh, &ww);
	CHECK(tfr_reader_count(r) == n && cc == c && hh == 5 && ww == 4 &&
	      tfr_reader_dtype(r) == dt, "%s: %lld records of %dx%dx%d", path,
	      (long long)tfr_reader_count(r), cc, hh, ww);
	for (int id = n - 1; id >= 0; id--) {
		rec_sample s;
		char name[32];
		snprintf(name, sizeof(name), "img%d", id);
		rc = tfr_read(r, id, &s, &err);
		CHECK(rc == 0, "%s: read %d: %s", path, id, err.msg);
		if (rc < 0)
			break;
		CHECK(s.label == id % 3 && s.group == id - 1 && !strcmp(s.name, name),
		      "%s: record %d: label %d group %d name %s", path, id, s.label, s.group, s.name);
		for (int k = 0; k < c * 5 * 4; k++)
			bad += dt == REC_U8 ? ((const uint8_t *)s.data)[k] != u8_pixel(id, k)
					    : ((const float *)s.data)[k] != f32_pixel(id, k);
	}
	CHECK(bad == 0, "%s: %d pixels differ", path, bad);
	CHECK(tfr_read(r, n, &(rec_sample){ 0 }, &err) == -PL_EFAIL, "read past the end");
	tfr_reader_close(r);
}

static void test_roundtrips(void)
{
	roundtrip("g.tfrecord", REC_U8, 1, 7);
	roundtrip("ga.tfrecord", REC_U8, 2, 5);
	roundtrip("rgb.tfrecord.gz", REC_U8, 3, 9);
	roundtrip("rgba.tfrecord", REC_F32, 4, 4);
	roundtrip("five.tfrecord", REC_U8, 5, 3);
	roundtrip("five16.tfrecord.gz", REC_F32, 5, 3);
}

static void test_stacked_png(void)
{
	FILE *fp;
	uint8_t b[4096];
	size_t n, at = 0;

	CHECK(write_shard("s.tfrecord", REC_U8, 5, 5, 4, 1) == 0, "write");
	fp = fopen("s.tfrecord", "rb");
	n = fp ? fread(b, 1, sizeof(b), fp) : 0;
	if (fp)
		fclose(fp);
	while (at + 26 < n && memcmp(b + at, "\x89PNG", 4) != 0)
		at++;
	CHECK(at + 26 < n, "a png in the record");
	/* IHDR: width 4, height 5 * 5 stacked planes, 8-bit gray */
	CHECK(b[at + 19] == 4 && b[at + 23] == 25 && b[at + 24] == 8 && b[at + 25] == 0,
	      "ihdr %d %d %d %d", b[at + 19], b[at + 23], b[at + 24], b[at + 25]);
}

static void test_empty_and_bad_label(void)
{
	pl_err err = { 0 };
	tfr_writer *w = tfr_writer_open("e.tfrecord", REC_U8, 1, 2, 2, classes, 3, &err);
	tfr_reader *r;
	uint8_t px[4] = { 0 };
	struct stat st;

	CHECK(w != NULL, "open: %s", err.msg);
	if (!w)
		return;
	CHECK(tfr_write(w, 3, -1, "x", px, &err) == -PL_EDATA && strstr(err.msg, "label 3"),
	      "label 3 of 3 classes: %s", err.msg);
	CHECK_OK(tfr_writer_close(w, NULL, &err), &err);
	CHECK(stat("e.tfrecord", &st) == 0 && st.st_size == 0, "empty shard");
	r = tfr_reader_open("e.tfrecord", &err);
	CHECK(r && tfr_reader_count(r) == 0, "empty opens: %s", err.msg);
	tfr_reader_close(r);
	w = tfr_writer_open("f.tfrecord", REC_F32, 1, 2, 2, classes, 3, &err);
	CHECK(w && tfr_write(w, 0, -1, "hot", (float[4]){ 0, 0.5f, 1.5f, 1 }, &err) == -PL_EDATA &&
	      strstr(err.msg, "'hot' has the value 1.5"), "f32 over 1: %s", err.msg);
	tfr_writer_abort(w);
	CHECK(stat("f.tfrecord", &st) != 0, "an aborted shard is removed");
	CHECK(tfr_writer_open("z.tfrecord", REC_U8, 0, 2, 2, classes, 3, &err) == NULL &&
	      err.code == PL_EUSAGE, "0 channels refused");
}

/* Flips one bit at byte off of path. */
static void flip(const char *path, long off)
{
	FILE *fp = fopen(path, "r+b");
	int ch;

	if (!fp)
		return;
	fseek(fp, off, SEEK_SET);
	ch = fgetc(fp);
	fseek(fp, off, SEEK_SET);
	fputc(ch ^ 0x10, fp);
	fclose(fp);
}

static void test_corrupt(void)
{
	pl_err err = { 0 };
	struct stat st;

	CHECK(write_shard("c.tfrecord", REC_U8, 3, 5, 4, 4) == 0, "write");
	stat("c.tfrecord", &st);
	flip("c.tfrecord", 3);
	CHECK(tfr_reader_open("c.tfrecord", &err) == NULL && err.code == PL_EDATA &&
	      strstr(err.msg, "'c.tfrecord' record 0: length checksum mismatch"),
	      "length: %s", err.msg);
	flip("c.tfrecord", 3);
	flip("c.tfrecord", (long)st.st_size / 2);
	CHECK(tfr_reader_open("c.tfrecord", &err) == NULL && err.code == PL_EDATA &&
	      strstr(err.msg, "data checksum mismatch"), "data: %s", err.msg);
	flip("c.tfrecord", (long)st.st_size / 2);
	CHECK(truncate("c.tfrecord", st.st_size - 3) == 0, "truncate");
	CHECK(tfr_reader_open("c.tfrecord", &err) == NULL && err.code == PL_EDATA &&
	      strstr(err.msg, "record 3"), "truncated: %s", err.msg);
	CHECK(write_shard("c.tfrecord.gz", REC_U8, 3, 5, 4, 4) == 0, "write gz");
	CHECK(truncate("c.tfrecord.gz", 40) == 0, "truncate gz");
	CHECK(tfr_reader_open("c.tfrecord.gz", &err) == NULL && err.code == PL_EDATA,
	      "truncated gzip: %s", err.msg);
}

/* The loader reads TFRecord shards, an empty one first, next to rec ones. */
static void test_loader_mix(void)
{
	const char *paths[] = { "e.tfrecord", "a.tfrecord", "b.rec.zst" };
	pl_err err = { 0 };
	rec_writer *rw = rec_writer_open("b.rec.zst", REC_U8, 2, 5, 4, 1, &err);
	uint8_t px[40];
	float x[3 * 40];
	int32_t labels[8], groups[8];
	rec_loader *l;
	int n = 0, c, h, w;

	CHECK(write_shard("e.tfrecord", REC_U8, 2, 5, 4, 0) == 0, "empty");
	CHECK(write_shard("a.tfrecord", REC_U8, 2, 5, 4, 2) == 0, "two");
	for (int k = 0; k < 40; k++)
		px[k] = u8_pixel(9, k);
	CHECK(rw && rec_write(rw, 2, 7, "r", px, &err) == 0 &&
	      rec_writer_close(rw, NULL, &err) == 0, "rec shard: %s", err.msg);
	l = rec_loader_open(paths, 3, &err);
	CHECK(l != NULL, "loader: %s", err.msg);
	if (!l)
		return;
	rec_loader_shape(l, &c, &h, &w);
	CHECK(rec_loader_count(l) == 3 && c == 2 && h == 5 && w == 4, "3 of 2x5x4");
	rec_loader_epoch(l, NULL);
	CHECK_OK(rec_loader_next(l, 8, x, labels, groups, &n, &err), &err);
	CHECK(n == 3 && labels[0] == 0 && labels[1] == 1 && labels[2] == 2 && groups[2] == 7,
	      "labels %d %d %d", labels[0], labels[1], labels[2]);
	CHECK(fabsf(x[40 + 7] - (float)u8_pixel(1, 7) / 255.0f) < 1e-6f, "pixel of record 1");
	CHECK(!strcmp(rec_loader_name(l, 1), "img1"), "name %s", rec_loader_name(l, 1));
	rec_loader_close(l);
}

static void test_png_memory(void)
{
	uint16_t px16[6] = { 0, 1, 256, 65535, 4660, 22136 };
	uint8_t *png = NULL;
	size_t len = 0;
	pl_err err = { 0 };
	img im = { 0 };

	CHECK_OK(img_encode_png(px16, 3, 2, 1, 16, "m", &png, &len, &err), &err);
	CHECK_OK(img_decode_mem(png, len, "m", NULL, &im, &err), &err);
	CHECK(im.w == 3 && im.h == 2 && im.c == 1 && im.maxval == 65535.0f, "shape");
	for (int k = 0; im.px && k < 6; k++)
		CHECK(im.px[k] == px16[k], "sample %d: %g", k, (double)im.px[k]);
	img_release(&im);
	free(png);
	CHECK(img_encode_png(px16, 3, 2, 1, 12, "m", &png, &len, &err) == -PL_EUSAGE, "12-bit");
	CHECK(img_encode_png(px16, 3, 2, 5, 8, "m", &png, &len, &err) == -PL_EUSAGE, "5 ch");
}

/* The committed fuzz seed (2 records of 2x4x3, written by this reader's
 * writer) still reads back: the format does not drift. */
static void test_corpus_seed(void)
{
	char path[4096];
	const char *root = getenv("PL_ROOT");
	pl_err err = { 0 };
	tfr_reader *r;
	rec_sample s;

	if (snprintf(path, sizeof(path), "%s/tests/corpus/tfrecord/two-records-2x4x3",
		     root ? root : check_cwd) >= (int)sizeof(path))
		return;
	r = tfr_reader_open(path, &err);
	CHECK(r && tfr_reader_count(r) == 2, "%s: %s", path, err.msg);
	if (!r)
		return;
	CHECK(tfr_read(r, 1, &s, &err) == 0 && s.label == 1 && s.group == -1 &&
	      !strcmp(s.name, "b/y.png#1") && s.c == 2 && s.h == 4 && s.w == 3 &&
	      ((const uint8_t *)s.data)[23] == 230, "record 1: %s", err.msg);
	tfr_reader_close(r);
}

int main(void)
{
	if (!getcwd(check_cwd, sizeof(check_cwd)))
		return 2;
	RUN(test_mask);
	RUN(test_roundtrips);
	RUN(test_stacked_png);
	RUN(test_empty_and_bad_label);
	RUN(test_corrupt);
	RUN(test_loader_mix);
	RUN(test_png_memory);
	RUN(test_corpus_seed);
	return check_report("test_tfrecord");
}
