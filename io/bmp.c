/* BMP: our own reader (1/4/8-bit palette, 24/32-bit, BI_RGB and standard
 * BI_BITFIELDS, core/info/V4/V5 headers, either row order) and writer.
 * Every header field is checked against the file size before it is used. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "img_priv.h"

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3,
       BI_ALPHABITFIELDS = 6 };

#define BMP_FILE_HDR 14

/* What the header says, after validation. */
typedef struct bmp_hdr {
	int w, h;            /* h is positive; top_down says the row order */
	int top_down;
	int bpp;
	int alpha;           /* 32-bit with an alpha mask: 4 channels */
	size_t offset;       /* of the first stored row */
	size_t stride;       /* bytes per stored row, padded to 4 */
	size_t pal_off;      /* palette start, entries of pal_entry bytes */
	int pal_entry;       /* 3 (core header) or 4 */
	int pal_n;           /* palette entries present */
} bmp_hdr;

static uint32_t rd16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Checks the BI_BITFIELDS masks: only the standard 8-bit BGR(A) layout. */
static int check_masks(const uint8_t *buf, size_t len, size_t at, int n_masks,
		       const char *name, bmp_hdr *hd, pl_err *err)
{
	uint32_t r, g, b, a = 0;

	if (at + 4 * (size_t)n_masks > len)
		return pl_errorf(err, PL_EDATA, "'%s': truncated bmp header (bitfield masks)", name);
	r = rd32(buf + at);
	g = rd32(buf + at + 4);
	b = rd32(buf + at + 8);
	if (n_masks > 3)
		a = rd32(buf + at + 12);
	if (hd->bpp != 32 || r != 0x00ff0000u || g != 0x0000ff00u ||
	    b != 0x000000ffu || (a != 0 && a != 0xff000000u))
		return pl_errorf(err, PL_EDATA,
				 "'%s': bmp bitfields %d-bit r=%08x g=%08x b=%08x a=%08x are not supported (only 32-bit with 8-bit bgra masks)",
				 name, hd->bpp, r, g, b, a);
	hd->alpha = a != 0;
	return 0;
}

/* Reads the info header: size, depth, compression and masks. On return
 * *pal_off is where the palette (or pixel data) may start. */
static int parse_info(const uint8_t *buf, size_t len, const char *name,
		      bmp_hdr *hd, int64_t *w, int64_t *h, uint32_t *clr_used,
		      pl_err *err)
{
	uint32_t hsize = rd32(buf + BMP_FILE_HDR), comp = BI_RGB;
	size_t end = BMP_FILE_HDR + (size_t)hsize;
	int rc;

	if (hsize != 12 && (hsize < 40 || hsize > 124))
		return pl_errorf(err, PL_EDATA, "'%s': unsupported bmp header size %u", name, hsize);
	if (end > len)
		return pl_errorf(err, PL_EDATA, "'%s': truncated bmp header", name);
	if (hsize == 12) {
		*w = rd16(buf + 18);
		*h = rd16(buf + 20);
		hd->bpp = (int)rd16(buf + 24);
		hd->pal_entry = 3;
	} else {
		*w = (int32_t)rd32(buf + 18);
		*h = (int32_t)rd32(buf + 22);
		hd->bpp = (int)rd16(buf + 28);
		comp = rd32(buf + 30);
		*clr_used = rd32(buf + 46);
		hd->pal_entry = 4;
	}
	if (comp == BI_RLE8 || comp == BI_RLE4)
		return pl_errorf(err, PL_EDATA, "'%s': rle-compressed bmp is not supported", name);
	if (comp != BI_RGB && comp != BI_BITFIELDS && comp != BI_ALPHABITFIELDS)
		return pl_errorf(err, PL_EDATA, "'%s': bmp compression %u is not supported", name, comp);
	if (hd->bpp != 1 && hd->bpp != 4 && hd->bpp != 8 && hd->bpp != 24 && hd->bpp != 32)
		return pl_errorf(err, PL_EDATA, "'%s': %d-bit bmp is not supported", name, hd->bpp);
	if (comp != BI_RGB) {
		/* the masks follow a 40-byte header, or are inside a larger one */
		int n_masks = comp == BI_ALPHABITFIELDS || hsize >= 56 ? 4 : 3;

		rc = check_masks(buf, len, BMP_FILE_HDR + 40, n_masks, name, hd, err);
		if (rc < 0)
			return rc;
		if (hsize == 40)
			end += 4 * (size_t)n_masks;
	}
	hd->pal_off = end;
	return 0;
}

/* Validates the palette and the pixel rows against the file size. */
static int check_layout(size_t len, const char *name, uint32_t offset,
			uint32_t clr_used, bmp_hdr *hd, pl_err *err)
{
	size_t row_bytes = ((size_t)hd->w * hd->bpp + 7) / 8;

	hd->stride = ((size_t)hd->w * hd->bpp + 31) / 32 * 4;
	hd->offset = offset;
	if (hd->bpp <= 8) {
		uint32_t max_n = 1u << hd->bpp, n = clr_used ? clr_used : max_n;

		if (clr_used > max_n)
			return pl_errorf(err, PL_EDATA, "'%s': bmp palette count %u is over %u for %d-bit data",
					 name, clr_used, max_n, hd->bpp);
		/* an implicit full palette may be cut short by the pixel data */
		if (!clr_used && offset > hd->pal_off &&
		    hd->pal_off + (size_t)n * hd->pal_entry > offset)
			n = (uint32_t)((offset - hd->pal_off) / hd->pal_entry);
		if (n == 0 || hd->pal_off + (size_t)n * hd->pal_entry > len)
			return pl_errorf(err, PL_EDATA, "'%s': bmp palette of %u entries runs past the end of the file",
					 name, n);
		hd->pal_n = (int)n;
		if (offset < hd->pal_off + (size_t)n * hd->pal_entry)
			return pl_errorf(err, PL_EDATA, "'%s': bmp pixel data offset %u overlaps the header or palette",
					 name, offset);
	} else if (offset < hd->pal_off) {
		return pl_errorf(err, PL_EDATA, "'%s': bmp pixel data offset %u overlaps the header", name, offset);
	}
	if (offset >= len || len - offset < row_bytes ||
	    (size_t)(hd->h - 1) > (len - offset - row_bytes) / hd->stride)
		return pl_errorf(err, PL_EDATA, "'%s': truncated bmp data (%dx%d %d-bit rows do not fit in %zu bytes at offset %u)",
				 name, hd->w, hd->h, hd->bpp, len, offset);
	return 0;
}

static int parse_header(const uint8_t *buf, size_t len, const char *name,
			const img_lim *lim, bmp_hdr *hd, pl_err *err)
{
	int64_t w = 0, h = 0;
	uint32_t offset, clr_used = 0;
	int rc;

	if (len < BMP_FILE_HDR + 4)
		return pl_errorf(err, PL_EDATA, "'%s': truncated bmp header", name);
	offset = rd32(buf + 10);
	rc = parse_info(buf, len, name, hd, &w, &h, &clr_used, err);
	if (rc < 0)
		return rc;
	hd->top_down = h < 0;
	if (h < 0)
		h = -h;
	rc = img_check_size(name, w, h, hd->bpp == 32 ? 4 : hd->bpp > 8 ? 3 : 1, lim, err);
	if (rc < 0)
		return rc;
	hd->w = (int)w;
	hd->h = (int)h;
	return check_layout(len, name, offset, clr_used, hd, err);
}

/* Builds the palette lookup table; indices past the palette read as black.
 * Returns 1 when every entry is grey (r == g == b). */
static int build_lut(const uint8_t *buf, const bmp_hdr *hd, float lut[256][3])
{
	int i, grey = 1;

	memset(lut, 0, sizeof(float) * 256 * 3);
	for (i = 0; i < hd->pal_n; i++) {
		const uint8_t *e = buf + hd->pal_off + (size_t)i * hd->pal_entry;

		lut[i][0] = e[2];
		lut[i][1] = e[1];
		lut[i][2] = e[0];
		if (e[0] != e[1] || e[1] != e[2])
			grey = 0;
	}
	return grey;
}

static void decode_indexed_row(const uint8_t *src, float *dst, int w, int bpp,
			       int c, float lut[256][3])
{
	int x, shift = 8 - bpp, mask = (1 << bpp) - 1;

	if (bpp == 8 && c == 1) {   /* the plate readers' grey images */
		for (x = 0; x < w; x++)
			dst[x] = lut[src[x]][0];
		return;
	}
	for (x = 0; x < w; x++) {
		int bit = x * bpp, idx;

		idx = bpp == 8 ? src[x]
			       : (src[bit >> 3] >> (shift - (bit & 7))) & mask;
		if (c == 1) {
			dst[x] = lut[idx][0];
		} else {
			dst[3 * x] = lut[idx][0];
			dst[3 * x + 1] = lut[idx][1];
			dst[3 * x + 2] = lut[idx][2];
		}
	}
}

static void decode_direct_row(const uint8_t *src, float *dst, int w, int bpp,
			      int c)
{
	int x, step = bpp / 8;

	for (x = 0; x < w; x++, src += step, dst += c) {
		dst[0] = src[2];
		dst[1] = src[1];
		dst[2] = src[0];
		if (c == 4)
			dst[3] = src[3];
	}
}

int bmp_decode(const uint8_t *buf, size_t len, const char *name,
	       const img_lim *lim, img *out, pl_err *err)
{
	bmp_hdr hd = { 0 };
	float lut[256][3];
	int y, c, rc;

	rc = parse_header(buf, len, name, lim, &hd, err);
	if (rc < 0)
		return rc;
	if (hd.bpp <= 8)
		c = build_lut(buf, &hd, lut) ? 1 : 3;
	else
		c = hd.alpha ? 4 : 3;
	/* the header check took a palette image as gray; a colour palette gives 3 */
	if (c == 3 && hd.bpp <= 8 && (rc = img_check_size(name, hd.w, hd.h, c, lim, err)) < 0)
		return rc;
	rc = img_alloc(out, hd.w, hd.h, c, 255.0f, name, err);
	if (rc < 0)
		return rc;
	for (y = 0; y < hd.h; y++) {
		size_t row = hd.top_down ? (size_t)y : (size_t)(hd.h - 1 - y);
		const uint8_t *src = buf + hd.offset + row * hd.stride;
		float *dst = out->px + (size_t)y * hd.w * c;

		if (hd.bpp <= 8)
			decode_indexed_row(src, dst, hd.w, hd.bpp, c, lut);
		else
			decode_direct_row(src, dst, hd.w, hd.bpp, c);
	}
	return 0;
}

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

/* Fills the file header, the 40-byte info header and (8-bit) the grey
 * palette into hdr; returns its length. */
static size_t bmp_header(uint8_t *hdr, int w, int h, int bpp, size_t stride)
{
	size_t pal = bpp == 8 ? 256 * 4 : 0, off = BMP_FILE_HDR + 40 + pal;
	size_t i;

	memset(hdr, 0, off);
	hdr[0] = 'B';
	hdr[1] = 'M';
	put32(hdr + 2, (uint32_t)(off + stride * (size_t)h));
	put32(hdr + 10, (uint32_t)off);
	put32(hdr + 14, 40);
	put32(hdr + 18, (uint32_t)w);
	put32(hdr + 22, (uint32_t)h);
	put16(hdr + 26, 1);
	put16(hdr + 28, (uint32_t)bpp);
	put32(hdr + 34, (uint32_t)(stride * (size_t)h));
	put32(hdr + 38, 2835);   /* 72 dpi */
	put32(hdr + 42, 2835);
	put32(hdr + 46, bpp == 8 ? 256 : 0);
	for (i = 0; i < pal / 4; i++)
		memset(hdr + BMP_FILE_HDR + 40 + 4 * i, (int)i, 3);
	return off;
}

int img_write_bmp(const char *path, const uint8_t *px, int w, int h, int c,
		  pl_err *err)
{
	uint8_t hdr[BMP_FILE_HDR + 40 + 1024];
	size_t stride, hlen;
	uint8_t *row = NULL;
	FILE *f = NULL;
	int y, x, rc, rc2;

	rc = img_check_write_args(path, px, w, h, c, 1u << 1 | 1u << 3, err);
	if (rc < 0)
		return rc;
	stride = ((size_t)w * c + 3) / 4 * 4;
	row = calloc(stride, 1);
	if (!row)
		return pl_errorf(err, PL_ENOMEM, "cannot write '%s': out of memory", path);
	hlen = bmp_header(hdr, w, h, 8 * c, stride);
	rc = img_file_open(path, &f, err);
	if (rc < 0)
		goto out;
	if (fwrite(hdr, 1, hlen, f) != hlen)
		goto io_fail;
	for (y = h - 1; y >= 0; y--) {
		const uint8_t *src = px + (size_t)y * w * c;

		if (c == 1) {
			memcpy(row, src, (size_t)w);
		} else {
			for (x = 0; x < w; x++) {
				row[3 * x] = src[3 * x + 2];
				row[3 * x + 1] = src[3 * x + 1];
				row[3 * x + 2] = src[3 * x];
			}
		}
		if (fwrite(row, 1, stride, f) != stride)
			goto io_fail;
	}
	goto done;
io_fail:
	rc = pl_errorf(err, PL_EIO, "cannot write '%s': %s", path, strerror(errno));
done:
	rc2 = img_file_close(f, path, rc < 0, err);
	if (rc == 0)
		rc = rc2;
out:
	free(row);
	return rc;
}
