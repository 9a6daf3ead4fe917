/* Tests of the BMP decoder on files built byte by byte: RLE8 and RLE4
 * (deltas, end of line, runs clipped, data cut short), 16-bit 555/565 and
 * 32-bit bitfields with alpha, oversize palettes and OS/2 v2 headers. The
 * header-level cases and PIL comparisons are in test_img.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../io/img.h"
#include "check.h"

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

/* A BMP of a 40-byte (or hsize) header, pal_n 4-byte palette entries and
 * the pixel bytes data (n bytes), for hand-made RLE and bitfield files. */
static size_t bmp_wrap(int w, int h, int bpp, int comp, int hsize, int pal_n,
		       const uint32_t *masks, int n_masks, const uint8_t *data, size_t n,
		       uint8_t **out)
{
	size_t extra = hsize == 40 ? 4 * (size_t)n_masks : 0;
	size_t pal_off = 14 + (size_t)hsize + extra, off = pal_off + 4 * (size_t)pal_n;
	uint8_t *b = calloc(off + n, 1);

	b[0] = 'B';
	b[1] = 'M';
	put32(b + 2, (uint32_t)(off + n));
	put32(b + 10, (uint32_t)off);
	put32(b + 14, (uint32_t)hsize);
	put32(b + 18, (uint32_t)w);
	put32(b + 22, (uint32_t)h);
	put16(b + 26, 1);
	put16(b + 28, (uint32_t)bpp);
	put32(b + 30, (uint32_t)comp);
	put32(b + 46, (uint32_t)pal_n);
	for (int k = 0; k < n_masks; k++)
		put32(b + 54 + 4 * k, masks[k]);
	for (int i = 0; i < pal_n; i++) {   /* entry i: r = i, g = 2i, b = 3i */
		b[pal_off + 4 * (size_t)i] = (uint8_t)(3 * i);
		b[pal_off + 4 * (size_t)i + 1] = (uint8_t)(2 * i);
		b[pal_off + 4 * (size_t)i + 2] = (uint8_t)i;
	}
	memcpy(b + off, data, n);
	*out = b;
	return off + n;
}

/* want: per output row (top first) the palette index, or -1 for a pixel
 * the RLE data leaves out (transparent). */
static void check_rle(const char *what, const uint8_t *b, size_t len, int w, int h,
		      const int *want)
{
	pl_err err = { 0 };
	img im = { 0 };
	int gaps = 0, bad = 0;

	for (int i = 0; i < w * h; i++)
		gaps += want[i] < 0;
	CHECK_OK(img_decode_mem(b, len, "rle.bmp", NULL, &im, &err), &err);
	CHECK(im.w == w && im.h == h && im.c == 3 + (gaps > 0), "%s: %dx%dx%d", what, im.w,
	      im.h, im.c);
	for (int i = 0; im.px && im.c == 3 + (gaps > 0) && i < w * h; i++) {
		const float *p = im.px + (size_t)i * im.c;
		int idx = want[i] < 0 ? 0 : want[i];
		bad += p[0] != idx || p[1] != 2 * idx || p[2] != 3 * idx;
		if (gaps)
			bad += p[3] != (want[i] < 0 ? 0.0f : 255.0f);
	}
	CHECK(bad == 0, "%s: %d samples differ", what, bad);
	img_release(&im);
}

/* RLE8 and RLE4: encoded runs, absolute runs (odd, so padded), delta,
 * end of line, end of bitmap; left-out pixels transparent; a run past
 * the row's end is clipped. */
static void test_bmp_rle(void)
{
	/* 6x3, bottom-up: stored row 0 is the bottom row */
	static const uint8_t rle8[] = {
		3, 5, 0, 3, 7, 8, 9, 0,       /* row 0: 5 5 5, then absolute 7 8 9 (padded) */
		0, 0,                         /* end of line */
		2, 4, 0, 2, 2, 0, 1, 6,       /* row 1: 4 4, delta +2, then 6 */
		0, 0, 9, 1,                   /* row 2: a run of 9 clipped at 6 */
		0, 1                          /* end of bitmap */
	};
	static const int want8[] = {
		1, 1, 1, 1, 1, 1,
		4, 4, -1, -1, 6, -1,
		5, 5, 5, 7, 8, 9,
	};
	/* RLE4 4x2: run of 3 alternating 2,3; absolute 4 nibbles 9 10 11 12 */
	static const uint8_t rle4[] = {
		3, 0x23, 1, 0xf0, 0, 0,       /* row 0: 2 3 2, then 15 */
		0, 3, 0x9a, 0xb0, 0, 1,       /* row 1: absolute 9 10 11, then end of bitmap */
	};
	static const int want4[] = {
		9, 10, 11, -1,
		2, 3, 2, 15,
	};
	uint8_t *b;
	size_t len = bmp_wrap(6, 3, 8, 1, 40, 256, NULL, 0, rle8, sizeof(rle8), &b);

	check_rle("rle8", b, len, 6, 3, want8);
	free(b);
	len = bmp_wrap(4, 2, 4, 2, 40, 16, NULL, 0, rle4, sizeof(rle4), &b);
	check_rle("rle4", b, len, 4, 2, want4);
	free(b);
	/* data that ends early leaves the rest transparent, and never reads past it */
	len = bmp_wrap(6, 3, 8, 1, 40, 256, NULL, 0, rle8, 4, &b);
	{
		int want[18];
		for (int i = 0; i < 18; i++)
			want[i] = i >= 12 && i < 15 ? 5 : -1;
		check_rle("rle8 cut short", b, len, 6, 3, want);
	}
	free(b);
}

/* 16-bit 555 (BI_RGB) and 565 (bitfields), 32-bit with other masks and
 * alpha: each field scaled to 0..255 and rounded. */
static void test_bmp_bitfields(void)
{
	static const uint32_t m565[] = { 0xf800, 0x07e0, 0x001f };
	static const uint32_t m32[] = { 0x000003ff, 0x000ffc00, 0x3ff00000, 0xc0000000u };
	uint8_t px16[8], px32[8], *b;
	pl_err err = { 0 };
	img im = { 0 };
	size_t len;

	/* two pixels a row: 555 (31,0,3) and (1,16,31); 565 (31,63,0) and (3,32,1) */
	put16(px16, 31u << 10 | 3);
	put16(px16 + 2, 1u << 10 | 16u << 5 | 31);
	put16(px16 + 4, 31u << 11 | 63u << 5);
	put16(px16 + 6, 3u << 11 | 32u << 5 | 1);
	len = bmp_wrap(2, 1, 16, 0, 40, 0, NULL, 0, px16, 4, &b);
	CHECK_OK(img_decode_mem(b, len, "555.bmp", NULL, &im, &err), &err);
	CHECK(im.c == 3 && im.px[0] == 255 && im.px[1] == 0 && im.px[2] == 25 && im.px[3] == 8 &&
	      im.px[4] == 132 && im.px[5] == 255, "555: %g %g %g %g %g %g", im.px[0], im.px[1],
	      im.px[2], im.px[3], im.px[4], im.px[5]);
	img_release(&im);
	free(b);
	len = bmp_wrap(2, 1, 16, 3, 40, 0, m565, 3, px16 + 4, 4, &b);
	CHECK_OK(img_decode_mem(b, len, "565.bmp", NULL, &im, &err), &err);
	CHECK(im.c == 3 && im.px[0] == 255 && im.px[1] == 255 && im.px[2] == 0 && im.px[3] == 25 &&
	      im.px[4] == 130 && im.px[5] == 8, "565: %g %g %g %g %g %g", im.px[0], im.px[1],
	      im.px[2], im.px[3], im.px[4], im.px[5]);
	img_release(&im);
	free(b);
	/* 10-bit fields with a 2-bit alpha, in a V4 header (masks inside it) */
	put32(px32, 1023u | 0u << 10 | 512u << 20 | 2u << 30);
	put32(px32 + 4, 1u | 1023u << 10 | 0u << 20 | 3u << 30);
	len = bmp_wrap(2, 1, 32, 3, 108, 0, m32, 4, px32, 8, &b);
	CHECK_OK(img_decode_mem(b, len, "32.bmp", NULL, &im, &err), &err);
	CHECK(im.c == 4 && im.px[0] == 255 && im.px[1] == 0 && im.px[2] == 128 && im.px[3] == 170 &&
	      im.px[4] == 0 && im.px[5] == 255 && im.px[6] == 0 && im.px[7] == 255,
	      "32-bit masks: %g %g %g %g / %g %g %g %g", im.px[0], im.px[1], im.px[2], im.px[3],
	      im.px[4], im.px[5], im.px[6], im.px[7]);
	img_release(&im);
	free(b);
}

/* A palette larger than the depth needs (its first 1 << bpp entries are
 * used), and OS/2 v2 headers (16 and 64 bytes). */
static void test_bmp_palettes_os2(void)
{
	uint8_t px[4] = { 0x1b, 0, 0, 0 }, *b;   /* 2-bit: 0 1 2 3 */
	static const int hsizes[] = { 40, 16, 64 };
	pl_err err = { 0 };
	img im = { 0 };

	for (size_t i = 0; i < 3; i++) {
		size_t len = bmp_wrap(4, 1, 2, 0, hsizes[i], i == 0 ? 300 : 4, NULL, 0, px, 4, &b);
		CHECK_OK(img_decode_mem(b, len, "pal.bmp", NULL, &im, &err), &err);
		CHECK(im.c == 3 && im.w == 4 && im.px[3] == 1 && im.px[4] == 2 && im.px[5] == 3 &&
		      im.px[9] == 3 && im.px[11] == 9, "hsize %d: c=%d %g %g %g", hsizes[i], im.c,
		      im.px ? im.px[3] : -1, im.px ? im.px[4] : -1, im.px ? im.px[5] : -1);
		img_release(&im);
		free(b);
	}
}

int main(void)
{
	RUN(test_bmp_rle);
	RUN(test_bmp_bitfields);
	RUN(test_bmp_palettes_os2);
	return check_report("test_bmp");
}
