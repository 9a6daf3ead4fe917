/* Tests of io/img.h: writers, PNG/JPEG/BMP decoders against known pixels and
 * against what PIL reads, and refusal of truncated, corrupt and hostile
 * files. Fixtures are written at test time by this program or by PIL. */
#include <dirent.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/img.h"
#include "check.h"

#define PY "/usr/bin/python3"

static int write_bytes(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(buf, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static uint8_t *read_bytes(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Runs a Python script (with PIL and numpy) in the current directory. */
static int run_py(const char *script)
{
	if (write_bytes("gen.py", script, strlen(script)) != 0)
		return -1;
	return system(PY " gen.py");
}

/* Python helper that dumps what PIL reads: "w h c maxval" then samples. */
static const char py_dump[] =
	"import numpy as np\n"
	"from PIL import Image\n"
	"def dump(path, out=None):\n"
	"    im = Image.open(path)\n"
	"    if im.mode == 'P':\n"
	"        im = im.convert('RGBA' if 'transparency' in im.info else 'RGB')\n"
	"    if im.mode == '1':\n"
	"        im = im.convert('L')\n"
	"    a = np.array(im)\n"
	"    mx = 65535 if a.dtype in (np.uint16, np.int32) else 255\n"
	"    if a.ndim == 2:\n"
	"        a = a[:, :, None]\n"
	"    h, w, c = a.shape\n"
	"    with open(out or path + '.exp', 'w') as f:\n"
	"        f.write('%d %d %d %d\\n' % (w, h, c, mx))\n"
	"        f.write(' '.join(str(int(v)) for v in a.reshape(-1)))\n";

/* Compares a decoded image with a PIL dump (values scaled by maxval);
 * returns the largest difference in 0..255 units, or 1e9 on shape mismatch. */
static double compare_exp(const img *im, const char *exp_path)
{
	FILE *f = fopen(exp_path, "r");
	int w, h, c, mx;
	double worst = 0;
	size_t i, n;

	if (!f || fscanf(f, "%d %d %d %d", &w, &h, &c, &mx) != 4) {
		if (f)
			fclose(f);
		return 1e9;
	}
	if (w != im->w || h != im->h || c != im->c) {
		fprintf(stderr, "shape %dx%dx%d, PIL %dx%dx%d\n", im->w, im->h, im->c, w, h, c);
		fclose(f);
		return 1e9;
	}
	n = (size_t)w * h * c;
	for (i = 0; i < n; i++) {
		double e, d;

		if (fscanf(f, "%lf", &e) != 1) {
			worst = 1e9;
			break;
		}
		d = im->px[i] / im->maxval * 255.0 - e / mx * 255.0;
		if (d < 0)
			d = -d;
		if (d > worst)
			worst = d;
	}
	fclose(f);
	return worst;
}

/* A deterministic test pattern of w*h*c bytes. */
static uint8_t *pattern(int w, int h, int c)
{
	uint8_t *px = malloc((size_t)w * h * c);
	size_t i;

	for (i = 0; i < (size_t)w * h * c; i++)
		px[i] = (uint8_t)(i * 37 + i / 7);
	return px;
}

/* 1 when im holds exactly the bytes px (maxval 255). */
static int same_bytes(const img *im, const uint8_t *px, int w, int h, int c)
{
	size_t i;

	if (im->w != w || im->h != h || im->c != c || im->maxval != 255.0f)
		return 0;
	for (i = 0; i < (size_t)w * h * c; i++)
		if (im->px[i] != px[i])
			return 0;
	return 1;
}

static void test_write_bmp_roundtrip(void)
{
	static const int sizes[][2] = { { 5, 3 }, { 1, 1 }, { 8, 2 }, { 31, 17 } };
	pl_err err = { 0 };
	size_t k, len = 0;
	int c;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (c = 1; c <= 3; c += 2) {
			int w = sizes[k][0], h = sizes[k][1];
			uint8_t *px = pattern(w, h, c), *file;
			img im = { 0 };

			CHECK_OK(img_write_bmp("out.bmp", px, w, h, c, &err), &err);
			file = read_bytes("out.bmp", &len);
			CHECK(file && len == 54 + (c == 1 ? 1024u : 0u) + (size_t)((w * c + 3) / 4 * 4) * h,
			      "bmp %dx%dx%d has %zu bytes", w, h, c, len);
			CHECK(file && file[28] == 8 * c && file[22] == h, "bpp/height in header");
			free(file);
			CHECK_OK(img_decode_file("out.bmp", NULL, &im, &err), &err);
			CHECK(same_bytes(&im, px, w, h, c), "bmp round trip %dx%dx%d", w, h, c);
			img_release(&im);
			free(px);
		}
	}
}

static void test_write_png_roundtrip(void)
{
	pl_err err = { 0 };
	int c;

	for (c = 1; c <= 4; c++) {
		int w = 13, h = 7;
		uint8_t *px = pattern(w, h, c);
		img im = { 0 };

		CHECK_OK(img_write_png("out.png", px, w, h, c, &err), &err);
		CHECK_OK(img_decode_file("out.png", NULL, &im, &err), &err);
		CHECK(same_bytes(&im, px, w, h, c), "png round trip c=%d", c);
		img_release(&im);
		free(px);
	}
}

/* PIL reads what the writers wrote and sees the same pixels. */
static void test_writers_read_by_pil(void)
{
	char script[4096];
	pl_err err = { 0 };
	uint8_t *g = pattern(9, 5, 1), *rgb = pattern(9, 5, 3), *ga = pattern(9, 5, 2);
	const char *names[] = { "g.bmp", "rgb.bmp", "g.png", "ga.png", "rgb.png" };
	size_t i;

	CHECK_OK(img_write_bmp("g.bmp", g, 9, 5, 1, &err), &err);
	CHECK_OK(img_write_bmp("rgb.bmp", rgb, 9, 5, 3, &err), &err);
	CHECK_OK(img_write_png("g.png", g, 9, 5, 1, &err), &err);
	CHECK_OK(img_write_png("ga.png", ga, 9, 5, 2, &err), &err);
	CHECK_OK(img_write_png("rgb.png", rgb, 9, 5, 3, &err), &err);
	snprintf(script, sizeof(script), "%s\nfor p in %s:\n    dump(p)\n", py_dump,
		 "['g.bmp', 'rgb.bmp', 'g.png', 'ga.png', 'rgb.png']");
	CHECK(run_py(script) == 0, "python dump");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char exp[64];
		const uint8_t *src = i == 0 || i == 2 ? g : i == 3 ? ga : rgb;
		int c = i == 0 || i == 2 ? 1 : i == 3 ? 2 : 3;
		size_t k, bad = 0;
		FILE *f;
		int w, h, cc, mx, v;

		snprintf(exp, sizeof(exp), "%s.exp", names[i]);
		f = fopen(exp, "r");
		CHECK(f && fscanf(f, "%d %d %d %d", &w, &h, &cc, &mx) == 4, "%s", exp);
		if (!f)
			continue;
		CHECK(w == 9 && h == 5 && cc == c, "%s: PIL shape %dx%dx%d", names[i], w, h, cc);
		for (k = 0; k < (size_t)9 * 5 * c; k++)
			if (fscanf(f, "%d", &v) != 1 || v != src[k])
				bad++;
		fclose(f);
		CHECK(bad == 0, "%s: %zu samples differ in PIL", names[i], bad);
	}
	free(g);
	free(rgb);
	free(ga);
}

static void test_write_errors(void)
{
	pl_err err = { 0 };
	uint8_t px[12] = { 0 };

	CHECK(img_write_png("/dev/full", px, 2, 2, 3, &err) == -PL_EIO, "png to /dev/full");
	CHECK(strstr(err.msg, "'/dev/full'") != NULL, "msg: %s", err.msg);
	CHECK(img_write_bmp("/dev/full", px, 2, 2, 3, &err) == -PL_EIO, "bmp to /dev/full");
	CHECK(strstr(err.msg, "'/dev/full'") != NULL, "msg: %s", err.msg);
	CHECK(img_write_png("no/such/dir.png", px, 2, 2, 1, &err) == -PL_EIO, "missing dir");
	CHECK(strstr(err.msg, "'no/such/dir.png'") != NULL, "msg: %s", err.msg);
	CHECK(img_write_bmp("no/such/dir.bmp", px, 2, 2, 1, &err) == -PL_EIO, "missing dir");
	CHECK(img_write_bmp("x.bmp", px, 2, 2, 2, &err) == -PL_EUSAGE, "bmp c=2");
	CHECK(img_write_bmp("x.bmp", px, 0, 2, 1, &err) == -PL_EUSAGE, "bmp w=0");
	CHECK(img_write_png("x.png", px, 2, 2, 5, &err) == -PL_EUSAGE, "png c=5");
	CHECK(img_write_png("x.png", px, 2, -1, 1, &err) == -PL_EUSAGE, "png h=-1");
	CHECK(access("x.png", F_OK) != 0 && access("x.bmp", F_OK) != 0, "no files left");
}

/* ---- PNG: every colour type, bit depth and interlacing, via libpng ---- */

typedef struct png_spec {
	int ct, bd, interlace, trns;
} png_spec;

enum { PW = 13, PH = 11 };

static int spp_of(int ct)
{
	return ct == 0 ? 1 : ct == 2 ? 3 : ct == 3 ? 1 : ct == 4 ? 2 : 4;
}

/* The stored sample k of pixel (x, y). */
static unsigned sample(const png_spec *s, int x, int y, int k)
{
	if (s->bd == 16)
		return (unsigned)(x * 7919 + y * 10463 + k * 31337 + x * y * 3) & 0xffff;
	return (unsigned)(x * 7 + y * 13 + k * 5 + x * y) % (1u << s->bd);
}

static void pal_entry(int i, uint8_t rgb[3])
{
	rgb[0] = (uint8_t)(i * 53);
	rgb[1] = (uint8_t)(i * 101 + 7);
	rgb[2] = (uint8_t)(i * 197 + 3);
}

static int write_spec_png(const char *path, const png_spec *s)
{
	static png_color pal[256];
	static uint8_t alpha[5];
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	png_color_16 tc;
	uint8_t rows[PH][PW * 8];
	png_bytep ptrs[PH];
	int spp = spp_of(s->ct), x, y, k, i;
	FILE *f = fopen(path, "wb");

	if (!f || setjmp(png_jmpbuf(png))) {
		if (f)
			fclose(f);
		png_destroy_write_struct(&png, &info);
		return -1;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, PW, PH, s->bd, s->ct,
		     s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (s->ct == 3) {
		for (i = 0; i < 256; i++) {
			uint8_t rgb[3];

			pal_entry(i, rgb);
			pal[i].red = rgb[0];
			pal[i].green = rgb[1];
			pal[i].blue = rgb[2];
		}
		png_set_PLTE(png, info, pal, 1 << s->bd);
		for (i = 0; i < 5; i++)
			alpha[i] = (uint8_t)(i * 71);
		if (s->trns)
			png_set_tRNS(png, info, alpha, s->bd < 4 ? 1 << s->bd : 5, NULL);
	} else if (s->trns) {
		memset(&tc, 0, sizeof(tc));
		tc.gray = (png_uint_16)sample(s, 1, 0, 0);
		tc.red = (png_uint_16)sample(s, 1, 0, 0);
		tc.green = (png_uint_16)sample(s, 1, 0, 1);
		tc.blue = (png_uint_16)sample(s, 1, 0, 2);
		png_set_tRNS(png, info, NULL, 0, &tc);
	}
	memset(rows, 0, sizeof(rows));
	for (y = 0; y < PH; y++) {
		for (x = 0; x < PW; x++) {
			for (k = 0; k < spp; k++) {
				unsigned v = sample(s, x, y, k), bit = (unsigned)(x * spp + k) * s->bd;

				if (s->bd == 16) {
					rows[y][2 * (x * spp + k)] = (uint8_t)(v >> 8);
					rows[y][2 * (x * spp + k) + 1] = (uint8_t)v;
				} else {
					rows[y][bit / 8] |= (uint8_t)(v << (8 - s->bd - bit % 8));
				}
			}
		}
		ptrs[y] = rows[y];
	}
	png_set_rows(png, info, ptrs);
	png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
	png_destroy_write_struct(&png, &info);
	return fclose(f) == 0 ? 0 : -1;
}

/* The decoded value of channel k at (x, y), with the expected c and maxval. */
static double expected_png(const png_spec *s, int x, int y, int k, int *c, double *mx)
{
	int spp = spp_of(s->ct);

	*mx = s->bd == 16 ? 65535 : s->bd < 8 && s->ct == 0 ? (1 << s->bd) - 1 : 255;
	if (s->ct == 3) {
		uint8_t rgb[3];
		unsigned idx = sample(s, x, y, 0);

		*c = s->trns ? 4 : 3;
		pal_entry((int)idx, rgb);
		if (k < 3)
			return rgb[k];
		return idx < (s->bd < 4 ? 1u << s->bd : 5u) ? idx * 71 % 256 : 255;
	}
	*c = spp + (s->trns ? 1 : 0);
	if (k < spp)
		return sample(s, x, y, k);
	/* tRNS alpha: transparent where every sample equals pixel (1, 0) */
	for (int j = 0; j < spp; j++)
		if (sample(s, x, y, j) != sample(s, 1, 0, j))
			return *mx;
	return 0;
}

static void check_spec_png(const png_spec *s)
{
	pl_err err = { 0 };
	img im = { 0 };
	int c, x, y, k, bad = 0;
	double mx;

	CHECK(write_spec_png("t.png", s) == 0, "write ct=%d bd=%d", s->ct, s->bd);
	CHECK_OK(img_decode_file("t.png", NULL, &im, &err), &err);
	expected_png(s, 0, 0, 0, &c, &mx);
	CHECK(im.w == PW && im.h == PH && im.c == c && im.maxval == (float)mx,
	      "ct=%d bd=%d il=%d trns=%d: got %dx%dx%d max %g, want c=%d max %g",
	      s->ct, s->bd, s->interlace, s->trns, im.w, im.h, im.c, im.maxval, c, mx);
	if (im.c == c && im.w == PW && im.h == PH)
		for (y = 0; y < PH; y++)
			for (x = 0; x < PW; x++)
				for (k = 0; k < c; k++)
					bad += im.px[((size_t)y * PW + x) * c + k] !=
					       (float)expected_png(s, x, y, k, &c, &mx);
	CHECK(bad == 0, "ct=%d bd=%d il=%d trns=%d: %d samples differ",
	      s->ct, s->bd, s->interlace, s->trns, bad);
	img_release(&im);
}

static void test_png_all_types(void)
{
	static const int depths[7][6] = {
		[0] = { 1, 2, 4, 8, 16, 0 }, [2] = { 8, 16, 0 }, [3] = { 1, 2, 4, 8, 0 },
		[4] = { 8, 16, 0 }, [6] = { 8, 16, 0 },
	};
	int ct, i, il, trns;

	for (ct = 0; ct <= 6; ct++)
		for (i = 0; depths[ct][i]; i++)
			for (il = 0; il <= 1; il++)
				for (trns = 0; trns <= (ct == 0 || ct == 2 || ct == 3); trns++) {
					png_spec s = { ct, depths[ct][i], il, trns };

					check_spec_png(&s);
				}
}

/* PNGs written by PIL decode to what PIL reads. */
static void test_png_pil(void)
{
	static const char *names[] = { "m1.png", "L.png", "LA.png", "RGB.png", "RGBA.png",
				       "P.png", "Pt.png", "I16.png", "P4.png" };
	char script[8192];
	size_t i;

	snprintf(script, sizeof(script), "%s\n"
		 "y, x = np.mgrid[0:23, 0:37]\n"
		 "v = ((x * 7 + y * 11 + x * y) %% 256).astype(np.uint8)\n"
		 "Image.fromarray(v > 100).save('m1.png')\n"
		 "Image.fromarray(v).save('L.png')\n"
		 "Image.fromarray(np.dstack([v, 255 - v])).save('LA.png')\n"
		 "Image.fromarray(np.dstack([v, v // 2, 255 - v])).save('RGB.png')\n"
		 "Image.fromarray(np.dstack([v, v // 2, 255 - v, v // 3])).save('RGBA.png')\n"
		 "p = Image.fromarray(np.dstack([v, v // 2, 255 - v])).quantize(40)\n"
		 "p.save('P.png')\n"
		 "p.save('Pt.png', transparency=3)\n"
		 "p.quantize(12).save('P4.png', bits=4)\n"
		 "Image.fromarray((v.astype(np.uint16) * 257 + x).astype(np.uint16)).save('I16.png')\n"
		 "for n in %s:\n    dump(n)\n", py_dump,
		 "['m1.png', 'L.png', 'LA.png', 'RGB.png', 'RGBA.png', 'P.png', 'Pt.png', 'I16.png', 'P4.png']");
	CHECK(run_py(script) == 0, "python png fixtures");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		pl_err err = { 0 };
		img im = { 0 };
		char exp[64];

		snprintf(exp, sizeof(exp), "%s.exp", names[i]);
		CHECK_OK(img_decode_file(names[i], NULL, &im, &err), &err);
		CHECK(compare_exp(&im, exp) < 1e-3, "%s differs from PIL", names[i]);
		img_release(&im);
	}
}

/* ---- JPEG ---- */

static void test_jpeg_pil(void)
{
	static const char *names[] = { "g.jpg", "c.jpg", "p.jpg", "pg.jpg", "c444.jpg" };
	char script[4096];
	pl_err err = { 0 };
	img im = { 0 };
	size_t i;

	snprintf(script, sizeof(script), "%s\n"
		 "y, x = np.mgrid[0:45, 0:67]\n"
		 "v = ((x * 3 + y * 5) %% 256).astype(np.uint8)\n"
		 "rgb = Image.fromarray(np.dstack([v, 255 - v, (x * 2) %% 256]).astype(np.uint8))\n"
		 "Image.fromarray(v).save('g.jpg', quality=90)\n"
		 "rgb.save('c.jpg', quality=85)\n"
		 "rgb.save('p.jpg', quality=85, progressive=True)\n"
		 "Image.fromarray(v).save('pg.jpg', quality=80, progressive=True)\n"
		 "rgb.save('c444.jpg', quality=95, subsampling=0)\n"
		 "rgb.convert('CMYK').save('cmyk.jpg')\n"
		 "for n in %s:\n    dump(n)\n", py_dump,
		 "['g.jpg', 'c.jpg', 'p.jpg', 'pg.jpg', 'c444.jpg']");
	CHECK(run_py(script) == 0, "python jpeg fixtures");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char exp[64];
		double d;

		snprintf(exp, sizeof(exp), "%s.exp", names[i]);
		CHECK_OK(img_decode_file(names[i], NULL, &im, &err), &err);
		CHECK(im.w == 67 && im.h == 45 && im.maxval == 255.0f, "%s size", names[i]);
		CHECK(im.c == (names[i][0] == 'g' || names[i][1] == 'g' ? 1 : 3), "%s c=%d",
		      names[i], im.c);
		d = compare_exp(&im, exp);
		CHECK(d <= 2.0, "%s differs from PIL by %g", names[i], d);
		img_release(&im);
	}
	/* CMYK (Adobe's inverted form, as PIL writes it) comes out as RGB, as
	 * PIL converts it; YCCK takes the same path after libjpeg's conversion */
	snprintf(script, sizeof(script), "%s\nImage.open('cmyk.jpg').convert('RGB').save('cmyk.png')\n"
		 "dump('cmyk.png', 'cmyk.jpg.exp')\n", py_dump);
	CHECK(run_py(script) == 0, "cmyk reference");
	CHECK_OK(img_decode_file("cmyk.jpg", NULL, &im, &err), &err);
	CHECK(im.c == 3 && im.w == 67, "cmyk: c=%d w=%d", im.c, im.w);
	if (im.c == 3)
		CHECK(compare_exp(&im, "cmyk.jpg.exp") <= 2.0, "cmyk differs from PIL's RGB by %g",
		      compare_exp(&im, "cmyk.jpg.exp"));
	img_release(&im);
}

/* With a fit target a JPEG is decoded at the smallest DCT scale not below
 * it, as PIL's draft() does; other formats and a zero target are full size. */
static void test_jpeg_fit(void)
{
	static const struct { int fit_w, fit_h, w, h; } cases[] = {
		{ 64, 64, 100, 75 }, { 50, 38, 50, 38 }, { 51, 38, 100, 75 }, { 200, 150, 200, 150 },
		{ 201, 150, 400, 300 }, { 0, 0, 400, 300 }, { 500, 500, 400, 300 }, { 64, 0, 100, 75 },
	};
	static const char *names[] = { "f.jpg", "fg.jpg", "fp.jpg" };
	char script[4096];
	pl_err err = { 0 };
	img im = { 0 };

	snprintf(script, sizeof(script), "%s\n"
		 "y, x = np.mgrid[0:300, 0:400]\n"
		 "v = ((x * 3 + y * 5 + (x * y) // 50) %% 256).astype(np.uint8)\n"
		 "rgb = Image.fromarray(np.dstack([v, 255 - v, (x * 2) %% 256]).astype(np.uint8))\n"
		 "rgb.save('f.jpg', quality=90)\n"
		 "Image.fromarray(v).save('fg.jpg', quality=90)\n"
		 "rgb.save('fp.jpg', quality=90, progressive=True)\n"
		 "rgb.save('f.png')\n"
		 "for n in ['f.jpg', 'fg.jpg', 'fp.jpg']:\n"
		 "    d = Image.open(n)\n"
		 "    d.draft(d.mode, (64, 64))\n"
		 "    d.load()\n"
		 "    d.save(n + '.png')\n"
		 "    dump(n + '.png', n + '.exp')\n", py_dump);
	CHECK(run_py(script) == 0, "python jpeg fit fixtures");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		img_limits lim = { .fit_w = cases[i].fit_w, .fit_h = cases[i].fit_h };

		CHECK_OK(img_decode_file("f.jpg", &lim, &im, &err), &err);
		CHECK(im.w == cases[i].w && im.h == cases[i].h && im.c == 3,
		      "fit %dx%d: %dx%dx%d, want %dx%d", cases[i].fit_w, cases[i].fit_h, im.w, im.h,
		      im.c, cases[i].w, cases[i].h);
		img_release(&im);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		img_limits lim = { .fit_w = 64, .fit_h = 64 };
		char exp[64];
		double d;

		snprintf(exp, sizeof(exp), "%s.exp", names[i]);
		CHECK_OK(img_decode_file(names[i], &lim, &im, &err), &err);
		d = compare_exp(&im, exp);
		CHECK(d <= 2.0, "%s at 1/4 differs from PIL's draft() by %g", names[i], d);
		img_release(&im);
	}
	{
		img_limits lim = { .fit_w = 64, .fit_h = 64 };

		CHECK_OK(img_decode_file("f.png", &lim, &im, &err), &err);
		CHECK(im.w == 400 && im.h == 300, "png with a fit target: %dx%d", im.w, im.h);
		img_release(&im);
	}
}

/* ---- BMP: files built byte by byte ---- */

typedef struct bmp_spec {
	int w, h, bpp, hsize, top_down;
	int grey;        /* palette entries r = g = b */
	int comp;        /* 0 BI_RGB, 3 BI_BITFIELDS */
	int alpha;       /* bitfields with an alpha mask */
} bmp_spec;

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static int bmp_pal_n(const bmp_spec *s)
{
	return s->bpp == 8 ? 200 : 1 << s->bpp;
}

static void bmp_pal(const bmp_spec *s, int i, uint8_t rgb[3])
{
	if (s->grey)
		memset(rgb, (int)(uint8_t)(i * 37 + 5), 3);
	else
		pal_entry(i, rgb);
}

static int bmp_index(const bmp_spec *s, int x, int y)
{
	return (x * 3 + y * 5 + x * y) % bmp_pal_n(s);
}

static uint8_t bmp_direct(int x, int y, int k)
{
	return (uint8_t)(k == 0 ? x * 7 + y * 3 : k == 1 ? x * 11 + y * 13 + 1 :
			 k == 2 ? x * x + y : x * y * 5 + 9);
}

/* Builds the BMP of spec s into a heap buffer; returns its length. */
static size_t make_bmp(const bmp_spec *s, uint8_t **out)
{
	int pal_n = s->bpp <= 8 ? bmp_pal_n(s) : 0, entry = s->hsize == 12 ? 3 : 4;
	size_t masks = s->comp == 3 && s->hsize == 40 ? 12 : 0;
	size_t pal_off = 14 + (size_t)s->hsize + masks, off = pal_off + (size_t)pal_n * entry;
	size_t stride = ((size_t)s->w * s->bpp + 31) / 32 * 4, len = off + stride * s->h;
	uint8_t *b = calloc(len, 1);
	int x, y, i;

	b[0] = 'B';
	b[1] = 'M';
	put32(b + 2, (uint32_t)len);
	put32(b + 10, (uint32_t)off);
	put32(b + 14, (uint32_t)s->hsize);
	if (s->hsize == 12) {
		put16(b + 18, (uint32_t)s->w);
		put16(b + 20, (uint32_t)s->h);
		put16(b + 22, 1);
		put16(b + 24, (uint32_t)s->bpp);
	} else {
		put32(b + 18, (uint32_t)s->w);
		put32(b + 22, (uint32_t)(s->top_down ? -s->h : s->h));
		put16(b + 26, 1);
		put16(b + 28, (uint32_t)s->bpp);
		put32(b + 30, (uint32_t)s->comp);
		put32(b + 46, s->bpp == 8 ? (uint32_t)pal_n : 0);
		if (s->comp == 3) {
			put32(b + 54, 0x00ff0000);
			put32(b + 58, 0x0000ff00);
			put32(b + 62, 0x000000ff);
			if (s->hsize >= 56)
				put32(b + 66, s->alpha ? 0xff000000u : 0);
		}
	}
	for (i = 0; i < pal_n; i++) {
		uint8_t rgb[3];

		bmp_pal(s, i, rgb);
		b[pal_off + (size_t)i * entry] = rgb[2];
		b[pal_off + (size_t)i * entry + 1] = rgb[1];
		b[pal_off + (size_t)i * entry + 2] = rgb[0];
	}
	for (y = 0; y < s->h; y++) {
		uint8_t *row = b + off + stride * (size_t)(s->top_down ? y : s->h - 1 - y);

		for (x = 0; x < s->w; x++) {
			if (s->bpp <= 8) {
				int bit = x * s->bpp;

				row[bit / 8] |= (uint8_t)(bmp_index(s, x, y) << (8 - s->bpp - bit % 8));
			} else {
				uint8_t *p = row + (size_t)x * (s->bpp / 8);

				p[0] = bmp_direct(x, y, 2);
				p[1] = bmp_direct(x, y, 1);
				p[2] = bmp_direct(x, y, 0);
				if (s->bpp == 32)
					p[3] = bmp_direct(x, y, 3);
			}
		}
	}
	*out = b;
	return len;
}

static void check_spec_bmp(const bmp_spec *s)
{
	int c = s->bpp <= 8 ? (s->grey ? 1 : 3) : s->alpha ? 4 : 3, x, y, k, bad = 0;
	pl_err err = { 0 };
	img im = { 0 };
	uint8_t *b;
	size_t len = make_bmp(s, &b);

	CHECK_OK(img_decode_mem(b, len, "t.bmp", NULL, &im, &err), &err);
	CHECK(im.w == s->w && im.h == s->h && im.c == c && im.maxval == 255.0f,
	      "bpp=%d hsize=%d td=%d: got %dx%dx%d, want c=%d", s->bpp, s->hsize,
	      s->top_down, im.w, im.h, im.c, c);
	if (im.c == c && im.w == s->w && im.h == s->h) {
		for (y = 0; y < s->h; y++) {
			for (x = 0; x < s->w; x++) {
				uint8_t want[4];

				if (s->bpp <= 8)
					bmp_pal(s, bmp_index(s, x, y), want);
				else
					for (k = 0; k < 4; k++)
						want[k] = bmp_direct(x, y, k);
				for (k = 0; k < c; k++)
					bad += im.px[((size_t)y * s->w + x) * c + k] != want[k];
			}
		}
	}
	CHECK(bad == 0, "bpp=%d hsize=%d td=%d comp=%d: %d samples differ", s->bpp,
	      s->hsize, s->top_down, s->comp, bad);
	img_release(&im);
	free(b);
}

static void test_bmp_all_types(void)
{
	static const int hsizes[] = { 12, 40, 108, 124 };
	static const int depths[] = { 1, 2, 4, 8, 24, 32 };
	size_t i, j;
	int td, grey, w;

	for (i = 0; i < 4; i++)
		for (j = 0; j < 6; j++)
			for (td = 0; td <= (hsizes[i] != 12); td++)
				for (grey = 0; grey <= (depths[j] <= 8); grey++)
					for (w = 1; w <= 19; w += 9) {
						bmp_spec s = { w, 7, depths[j], hsizes[i], td, grey, 0, 0 };

						check_spec_bmp(&s);
					}
	for (i = 1; i < 4; i++) {
		bmp_spec s = { 11, 5, 32, hsizes[i], 0, 0, 3, 0 };

		check_spec_bmp(&s);
		s.alpha = hsizes[i] >= 56;
		s.top_down = 1;
		check_spec_bmp(&s);
	}
	/* the limit counts the 3 channels a colour palette decodes to */
	bmp_spec pal = { 30, 30, 8, 40, 0, 0, 0, 0 }, gray = { 30, 30, 8, 40, 0, 1, 0, 0 };
	img_limits lim = { .max_pixels = 1000 };
	uint8_t *buf = NULL;
	size_t len = make_bmp(&pal, &buf);
	img im = { 0 };
	pl_err err = { 0 };
	CHECK(img_decode_mem(buf, len, "pal.bmp", &lim, &im, &err) == -PL_EDATA &&
	      strstr(err.msg, "with 3 channels is over the limit of 1000"), "colour palette: %s", err.msg);
	img_release(&im);
	free(buf);
	len = make_bmp(&gray, &buf);
	CHECK(img_decode_mem(buf, len, "gray.bmp", &lim, &im, &err) == 0 && im.c == 1,
	      "gray palette under the limit: %s", err.msg);
	img_release(&im);
	free(buf);
}

/* PIL reads our hand-made BMPs the same way. */
static void test_bmp_pil(void)
{
	static const bmp_spec specs[] = {
		{ 13, 6, 1, 40, 0, 0, 0, 0 }, { 13, 6, 4, 40, 1, 0, 0, 0 },
		{ 13, 6, 8, 40, 0, 0, 0, 0 }, { 13, 6, 24, 124, 1, 0, 0, 0 },
		{ 13, 6, 24, 12, 0, 0, 0, 0 }, { 13, 6, 32, 40, 0, 0, 0, 0 },
		{ 13, 6, 32, 108, 0, 0, 3, 1 }, { 13, 6, 8, 108, 1, 0, 0, 0 },
	};
	char script[4096], name[32], exp[40];
	pl_err err = { 0 };
	size_t i, len;
	uint8_t *b;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		snprintf(name, sizeof(name), "s%zu.bmp", i);
		len = make_bmp(&specs[i], &b);
		CHECK(write_bytes(name, b, len) == 0, "write %s", name);
		free(b);
	}
	/* and BMPs written by PIL: s8 1-bit, s9 grey, s10 palette, s11 RGB, s12 RGBA */
	snprintf(script, sizeof(script), "%s\n"
		 "y, x = np.mgrid[0:37, 0:29]\n"
		 "v = ((x * 7 + y * 11 + x * y) %% 256).astype(np.uint8)\n"
		 "rgb = Image.fromarray(np.dstack([v, v // 2, 255 - v]))\n"
		 "Image.fromarray(v > 90).save('s8.bmp')\n"
		 "Image.fromarray(v).save('s9.bmp')\n"
		 "rgb.quantize(50).save('s10.bmp')\n"
		 "rgb.save('s11.bmp')\n"
		 "Image.fromarray(np.dstack([v, v // 2, 255 - v, v // 3])).save('s12.bmp')\n"
		 "for i in range(13):\n    dump('s%%d.bmp' %% i)\n", py_dump);
	CHECK(run_py(script) == 0, "python bmp dump");
	for (i = 0; i < 13; i++) {
		img im = { 0 };

		snprintf(name, sizeof(name), "s%zu.bmp", i);
		snprintf(exp, sizeof(exp), "%s.exp", name);
		CHECK_OK(img_decode_file(name, NULL, &im, &err), &err);
		CHECK(compare_exp(&im, exp) < 1e-3, "%s differs from PIL", name);
		img_release(&im);
	}
}

/* Decodes buf and expects failure with code and a message containing what. */
static void expect_fail(const void *buf, size_t len, const img_limits *lim,
			int code, const char *what)
{
	pl_err err = { 0 };
	img im = { 0 };
	int rc = img_decode_mem(buf, len, "x.bmp", lim, &im, &err);

	CHECK(rc == -code, "want %d for '%s', got %d: %s", -code, what, rc, err.msg);
	CHECK(strstr(err.msg, what) != NULL, "message '%s' lacks '%s'", err.msg, what);
	CHECK(im.px == NULL && im.w == 0, "image left behind");
}

static void test_bmp_hostile(void)
{
	bmp_spec s8 = { 10, 4, 8, 40, 0, 0, 0, 0 }, s24 = { 10, 4, 24, 40, 0, 0, 0, 0 };
	uint8_t *b, *c;
	size_t len = make_bmp(&s8, &b), len24 = make_bmp(&s24, &c);

	put32(b + 10, (uint32_t)len + 10);               /* offset past the end */
	expect_fail(b, len, NULL, PL_EDATA, "'x.bmp': truncated bmp data");
	put32(b + 10, 20);                               /* offset inside header */
	expect_fail(b, len, NULL, PL_EDATA, "overlaps");
	put32(b + 10, 54 + 800);
	put32(b + 46, 300);                              /* palette count > 256, no room */
	expect_fail(b, len, NULL, PL_EDATA, "palette of 300 entries runs past the end");
	put32(b + 46, 200);
	expect_fail(b, 54 + 400, NULL, PL_EDATA, "palette of 200 entries runs past");
	put32(b + 22, 60000);                            /* rows beyond the data */
	expect_fail(b, len, NULL, PL_EDATA, "truncated bmp data");
	put32(b + 18, 100000);
	put32(b + 22, 100000);
	expect_fail(b, len, NULL, PL_EDATA,
		    "'x.bmp': declared size 100000x100000 is over the limit of 268435456 pixels");
	put32(b + 18, 70000);
	put32(b + 22, 1);
	expect_fail(b, len, NULL, PL_EDATA, "over the limit of 65535 pixels per side");
	put32(b + 18, 10);
	put32(b + 22, 0x80000000u);                      /* -2^31 rows, top-down */
	expect_fail(b, len, NULL, PL_EDATA, "over the limit");
	put32(b + 22, 0);
	expect_fail(b, len, NULL, PL_EDATA, "'x.bmp': image has no pixels");
	put32(b + 22, 4);
	put32(b + 18, 0);
	expect_fail(b, len, NULL, PL_EDATA, "image has no pixels");
	put32(b + 18, 10);
	put32(b + 30, 2);
	expect_fail(b, len, NULL, PL_EDATA, "'x.bmp': RLE4 bmp of 8 bits per pixel (must be 4)");
	put32(b + 30, 4);
	expect_fail(b, len, NULL, PL_EDATA, "'x.bmp': bmp compression JPEG-in-BMP is not supported");
	put32(b + 30, 5);
	expect_fail(b, len, NULL, PL_EDATA, "bmp compression PNG-in-BMP is not supported");
	put32(b + 30, 11);
	expect_fail(b, len, NULL, PL_EDATA, "bmp compression CMYK is not supported");
	put32(b + 30, 9);
	expect_fail(b, len, NULL, PL_EDATA, "bmp compression 9 is not supported");
	put32(b + 30, 0);
	put16(b + 28, 3);
	expect_fail(b, len, NULL, PL_EDATA, "3-bit bmp is not supported");
	put16(b + 28, 8);
	put32(b + 14, 200);
	expect_fail(b, len, NULL, PL_EDATA, "unsupported bmp header size 200");
	put32(b + 14, 66);                               /* the badheadersize case */
	expect_fail(b, len, NULL, PL_EDATA, "unsupported bmp header size 66");
	put32(b + 14, 64);                               /* OS/2 v2's own compressions */
	put32(b + 30, 3);
	expect_fail(b, len, NULL, PL_EDATA, "bmp compression Huffman 1D is not supported");
	put32(b + 30, 4);
	expect_fail(b, len, NULL, PL_EDATA, "bmp compression RLE24 is not supported");
	put32(b + 30, 0);
	put32(b + 14, 40);
	put32(c + 30, 3);
	expect_fail(c, len24, NULL, PL_EDATA, "bitfields need 16 or 32 bits per pixel, not 24");
	put16(c + 28, 32);                               /* masks off the end */
	expect_fail(c, 60, NULL, PL_EDATA, "truncated bmp");
	put32(c + 54, 0x7c01);
	expect_fail(c, len24, NULL, PL_EDATA, "bitfield mask 00007c01 of 32-bit data is not one run");
	put32(c + 54, 0x00ff0000);                       /* green overlaps red */
	put32(c + 58, 0x00ff0000);
	expect_fail(c, len24, NULL, PL_EDATA, "mask 00ff0000 of 32-bit data is not one run of bits of its own");
	{
		img_limits lim = { .max_pixels = 30 };

		expect_fail(b, len, &lim, PL_EDATA, "declared size 10x4 is over the limit of 30 pixels");
		lim.max_pixels = 0;
		lim.max_side = 9;
		expect_fail(b, len, &lim, PL_EDATA, "over the limit of 9 pixels per side");
	}
	free(b);
	free(c);
}

/* Decodes every prefix cut of a valid file of each format: clean errors. */
static void test_truncated(void)
{
	const char *files[] = { "t.png", "i.png", "t.jpg", "p.jpg", "t.bmp" };
	uint8_t *px = pattern(40, 30, 3);
	bmp_spec s4 = { 40, 9, 4, 124, 0, 0, 0, 0 };   /* no row padding */
	size_t i, len, cut;
	uint8_t *b;
	pl_err err = { 0 };
	png_spec ps = { 2, 16, 1, 1 };

	CHECK_OK(img_write_png("t.png", px, 40, 30, 3, &err), &err);
	CHECK(write_spec_png("i.png", &ps) == 0, "interlaced png");
	len = make_bmp(&s4, &b);
	CHECK(write_bytes("t.bmp", b, len) == 0, "bmp");
	free(b);
	CHECK(run_py("from PIL import Image\nimport numpy as np\n"
		     "a = (np.arange(40*30*3) * 37 % 256).astype(np.uint8).reshape(30, 40, 3)\n"
		     "Image.fromarray(a).save('t.jpg')\n"
		     "Image.fromarray(a).save('p.jpg', progressive=True)\n") == 0, "jpeg");
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int fails = 0, msgs = 0, tries = 0;

		b = read_bytes(files[i], &len);
		if (!b)
			continue;
		for (cut = 0; cut < len; cut += cut < 40 ? 1 : len / 23 + 1) {
			img im = { 0 };
			int rc = img_decode_mem(b, cut, files[i], NULL, &im, &err);

			tries++;
			fails += rc == -PL_EDATA;
			msgs += rc < 0 && strncmp(err.msg, "'", 1) == 0 &&
				strstr(err.msg, files[i]) != NULL;
			img_release(&im);
		}
		CHECK(fails == tries && msgs == tries, "%s: %d of %d cuts refused, %d named",
		      files[i], fails, tries, msgs);
		{
			img im = { 0 };
			int rc = img_decode_mem(b, len - 1, files[i], NULL, &im, &err);

			/* a baseline jpeg without its end-of-image marker has all its pixels */
			if (!strcmp(files[i], "t.jpg"))
				CHECK(rc == 0 && im.w == 40, "%s without its last byte: %d %s", files[i],
				      rc, err.msg);
			else
				CHECK(rc == -PL_EDATA && strstr(err.msg, "truncated"),
				      "%s last byte cut: %d %s", files[i], rc, err.msg);
			img_release(&im);
		}
		free(b);
	}
	free(px);
}

/* ---- huge, empty, corrupt and unknown inputs ---- */

static void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A PNG signature and IHDR (CRC left zero) followed by filler bytes. */
static size_t png_header_only(uint8_t *b, uint32_t w, uint32_t h, int bd, int ct)
{
	static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

	memset(b, 0, 64);
	memcpy(b, sig, 8);
	be32_put(b + 8, 13);
	memcpy(b + 12, "IHDR", 4);
	be32_put(b + 16, w);
	be32_put(b + 20, h);
	b[24] = (uint8_t)bd;
	b[25] = (uint8_t)ct;
	return 64;
}

static void test_huge_and_empty(void)
{
	uint8_t b[64], *j;
	size_t len, i;
	pl_err err = { 0 };
	img im = { 0 };
	img_limits small = { .max_pixels = 100 };

	len = png_header_only(b, 100000, 100000, 8, 2);
	CHECK(img_decode_mem(b, len, "a/b.png", NULL, &im, &err) == -PL_EDATA, "png huge");
	CHECK(strcmp(err.msg, "'a/b.png': declared size 100000x100000 is over the limit of 268435456 pixels") == 0,
	      "msg: %s", err.msg);
	len = png_header_only(b, 0xffffffffu, 0xffffffffu, 16, 6);
	CHECK(img_decode_mem(b, len, "a/b.png", NULL, &im, &err) == -PL_EDATA, "png 2^32");
	/* within the limits but far too small to hold the pixels: a bomb */
	len = png_header_only(b, 16000, 16000, 8, 0);
	CHECK(img_decode_mem(b, len, "bomb.png", NULL, &im, &err) == -PL_EDATA, "png bomb");
	CHECK(strstr(err.msg, "'bomb.png': truncated png data") != NULL, "msg: %s", err.msg);
	len = png_header_only(b, 0, 5, 8, 0);
	CHECK(img_decode_mem(b, len, "z.png", NULL, &im, &err) == -PL_EDATA, "png 0x5");
	CHECK(strstr(err.msg, "'z.png': image has no pixels") != NULL, "msg: %s", err.msg);
	CHECK(im.px == NULL, "nothing allocated");

	CHECK(run_py("from PIL import Image\nImage.new('RGB', (31, 17)).save('t.jpg')\n"
		     "Image.new('L', (31, 17)).save('t.png')\n") == 0, "python");
	j = read_bytes("t.jpg", &len);
	CHECK(j != NULL, "t.jpg");
	for (i = 2; j && i + 9 < len; i++) {
		if (j[i] == 0xff && (j[i + 1] == 0xc0 || j[i + 1] == 0xc2)) {
			j[i + 5] = j[i + 6] = j[i + 7] = j[i + 8] = 0xfe;   /* 65278 x 65278 */
			CHECK(img_decode_mem(j, len, "h.jpg", NULL, &im, &err) == -PL_EDATA, "jpeg huge");
			CHECK(strstr(err.msg, "'h.jpg': declared size 65278x65278 is over the limit") != NULL,
			      "msg: %s", err.msg);
			j[i + 5] = j[i + 6] = 0;                             /* height 0 */
			CHECK(img_decode_mem(j, len, "z.jpg", NULL, &im, &err) == -PL_EDATA, "jpeg 0 rows");
			CHECK(strstr(err.msg, "'z.jpg': ") == err.msg, "msg: %s", err.msg);
			break;
		}
	}
	free(j);
	CHECK(img_decode_file("t.png", &small, &im, &err) == -PL_EDATA, "limit 100 pixels");
	CHECK(strstr(err.msg, "'t.png': declared size 31x17 is over the limit of 100 pixels") != NULL,
	      "msg: %s", err.msg);
	CHECK(img_decode_file("t.jpg", &small, &im, &err) == -PL_EDATA, "jpeg limit");
	CHECK(run_py("from PIL import Image\nImage.new('RGBA', (31, 17)).save('t4.png')\n") == 0, "python");
	small.max_pixels = 600;   /* 527 pixels pass, 2108 values do not */
	CHECK(img_decode_file("t.png", &small, &im, &err) == 0, "gray 31x17 under 600: %s", err.msg);
	img_release(&im);
	CHECK(img_decode_file("t4.png", &small, &im, &err) == -PL_EDATA &&
	      strstr(err.msg, "'t4.png': declared size 31x17 with 4 channels is over the limit of 600 values"),
	      "rgba limit: %s", err.msg);
	CHECK(img_decode_mem("", 0, "e.png", NULL, &im, &err) == -PL_EDATA, "empty");
	CHECK(strstr(err.msg, "'e.png': empty file") != NULL, "msg: %s", err.msg);
	CHECK(img_decode_mem("GIF89a....", 10, "x.gif", NULL, &im, &err) == -PL_EDATA, "gif");
	CHECK(strstr(err.msg, "'x.gif': a GIF image, which is not read") != NULL, "msg: %s", err.msg);
	CHECK(img_decode_mem("II*\0....", 8, "x.tif", NULL, &im, &err) == -PL_EDATA &&
	      strstr(err.msg, "'x.tif': a TIFF image, which is not read"), "tiff: %s", err.msg);
	CHECK(img_decode_mem("RIFF\0\0\0\0WEBPVP8 ", 16, "x.webp", NULL, &im, &err) == -PL_EDATA &&
	      strstr(err.msg, "'x.webp': a WebP image, which is not read"), "webp: %s", err.msg);
	CHECK(img_decode_mem("P5 1 1 255 x", 12, "x.pgm", NULL, &im, &err) == -PL_EDATA &&
	      strstr(err.msg, "'x.pgm': not a png, jpeg or bmp image"), "other: %s", err.msg);
	CHECK(img_decode_file("missing.png", NULL, &im, &err) == -PL_EIO, "missing");
	CHECK(strstr(err.msg, "'missing.png'") != NULL, "msg: %s", err.msg);
	CHECK(img_decode_file(".", NULL, &im, &err) == -PL_EIO, "directory");
	img_release(&im);
	img_release(NULL);
}

/* Flips bytes all over valid files: every result is a success or a clean
 * error naming the file (the ASan build makes this meaningful). */
static void test_corrupt_bytes(void)
{
	const char *files[] = { "c.png", "c.jpg", "c.bmp", "p.jpg" };
	uint8_t *px = pattern(24, 16, 3);
	uint32_t seed = 12345;
	pl_err err = { 0 };
	size_t i, len;
	int t;

	CHECK_OK(img_write_png("c.png", px, 24, 16, 3, &err), &err);
	CHECK_OK(img_write_bmp("c.bmp", px, 24, 16, 3, &err), &err);
	CHECK(run_py("from PIL import Image\nimport numpy as np\n"
		     "a = (np.arange(24*16*3) * 37 % 256).astype(np.uint8).reshape(16, 24, 3)\n"
		     "Image.fromarray(a).save('c.jpg')\n"
		     "Image.fromarray(a).save('p.jpg', progressive=True)\n") == 0, "jpeg");
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		uint8_t *orig = read_bytes(files[i], &len), *b;
		int named = 0, errors = 0;

		if (!orig)
			continue;
		b = malloc(len);
		for (t = 0; t < 300; t++) {
			img im = { 0 };
			int k, rc;

			memcpy(b, orig, len);
			for (k = 0; k < 1 + t % 3; k++) {
				seed = seed * 1103515245u + 12345u;
				b[(seed >> 8) % len] ^= (uint8_t)(1 + (seed >> 20) % 255);
			}
			rc = img_decode_mem(b, len, files[i], NULL, &im, &err);
			if (rc < 0) {
				errors++;
				named += strncmp(err.msg, "'", 1) == 0 && strstr(err.msg, files[i]);
				CHECK(im.px == NULL, "image left after error");
			} else {
				CHECK(im.px && im.w > 0 && im.h > 0, "%s: empty success", files[i]);
			}
			img_release(&im);
		}
		CHECK(named == errors && errors > 0, "%s: %d errors, %d named", files[i], errors, named);
		free(b);
		free(orig);
	}
	free(px);
}

/* Every file of tests/corpus/img (inputs that once broke a decoder) gives a
 * clean error or a success. */
static void test_corpus(void)
{
	const char *root = getenv("PL_ROOT");
	char dir[4096], path[4400];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/corpus/img", root ? root : "..");
	d = opendir(dir);
	CHECK(d != NULL, "cannot open %s (set PL_ROOT)", dir);
	while (d && (de = readdir(d)) != NULL) {
		pl_err err = { 0 };
		img im = { 0 };
		int rc;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		rc = img_decode_file(path, NULL, &im, &err);
		CHECK(rc == 0 || (rc < 0 && strstr(err.msg, de->d_name)), "%s: %d %s",
		      de->d_name, rc, err.msg);
		img_release(&im);
		n++;
	}
	if (d)
		closedir(d);
	CHECK(n > 0, "corpus %s is empty", dir);
}

int main(void)
{
	RUN(test_write_bmp_roundtrip);
	RUN(test_write_png_roundtrip);
	RUN(test_writers_read_by_pil);
	RUN(test_write_errors);
	RUN(test_png_all_types);
	RUN(test_png_pil);
	RUN(test_jpeg_pil);
	RUN(test_jpeg_fit);
	RUN(test_bmp_all_types);
	RUN(test_bmp_pil);
	RUN(test_bmp_hostile);
	RUN(test_truncated);
	RUN(test_huge_and_empty);
	RUN(test_corrupt_bytes);
	RUN(test_corpus);
	return check_report("test_img");
}
