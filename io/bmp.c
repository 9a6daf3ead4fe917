/* BMP: our own reader and writer. Read: 1/2/4/8-bit palettes (of any
 * size), RLE8 and RLE4 (with deltas; pixels they leave out are
 * transparent), 16-bit 555/565 and 16/32-bit bitfields of any masks
 * (alpha too), 24/32-bit, Windows core/info/V2-V5 and OS/2 v1/v2 headers,
 * either row order. Every header field is checked against the file size
 * before it is used. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "img_priv.h"

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_JPEG = 4,
       BI_PNG = 5, BI_ALPHABITFIELDS = 6 };

#define BMP_FILE_HDR 14

/* What the header says, after validation. */
typedef struct bmp_hdr {
	int w, h;            /* h is positive; top_down says the row order */
	int top_down;
	int bpp;
	uint32_t comp;       /* BI_RGB, BI_RLE8, BI_RLE4 or BI_BITFIELDS */
	uint32_t mask[4];    /* 16/32-bit: r, g, b, a (a = 0: no alpha) */
	size_t offset;       /* of the first stored row, or of the RLE data */
	size_t stride;       /* bytes per stored row, padded to 4 */
	size_t pal_off;      /* palette start, entries of pal_entry bytes */
	int pal_entry;       /* 3 (core header) or 4 */
	int pal_n;           /* palette entries used (at most 1 << bpp) */
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

/* The name of a compression we do not read, for messages. */
static const char *comp_name(uint32_t comp, int os2, char *buf, size_t n)
{
	if (os2 && comp == 3)
		return "Huffman 1D";
	if (os2 && comp == 4)
		return "RLE24";
	if (comp == BI_JPEG)
		return "JPEG-in-BMP";
	if (comp == BI_PNG)
		return "PNG-in-BMP";
	if (comp >= 11 && comp <= 13)
		return "CMYK";
	snprintf(buf, n, "%u", comp);
	return buf;
}

/* A bitfield mask must be one run of bits. */
static int mask_ok(uint32_t m)
{
	while (m && !(m & 1))
		m >>= 1;
	return (m & (m + 1)) == 0;
}

/* Reads and checks the masks at buf + at (n of them), or sets the
 * defaults of BI_RGB for 16 (555) and 32-bit (8-bit BGR). */
static int read_masks(const uint8_t *buf, size_t len, size_t at, int n, const char *name,
		      bmp_hdr *hd, pl_err *err)
{
	uint32_t all = 0;

	memset(hd->mask, 0, sizeof(hd->mask));
	if (hd->comp == BI_RGB) {
		int five = hd->bpp == 16;
		hd->mask[0] = five ? 0x7c00u : 0xff0000u;
		hd->mask[1] = five ? 0x03e0u : 0x00ff00u;
		hd->mask[2] = five ? 0x001fu : 0x0000ffu;
		return 0;
	}
	if (at + 4 * (size_t)n > len)
		return pl_errorf(err, PL_EDATA, "'%s': truncated bmp header (bitfield masks)", name);
	for (int k = 0; k < n; k++) {
		uint32_t m = rd32(buf + at + 4 * (size_t)k);
		if (!mask_ok(m) || (m & all) || (hd->bpp == 16 && m > 0xffffu))
			return pl_errorf(err, PL_EDATA, "'%s': bmp bitfield mask %08x of %d-bit data "
					 "is not one run of bits of its own", name, m, hd->bpp);
		hd->mask[k] = m;
		all |= m;
	}
	return 0;
}

/* Reads the width, height, depth and compression of the header of hsize
 * bytes (OS/2 v1 and Windows core: 12; OS/2 v2: 16 or 64). */
static int read_dims(const uint8_t *buf, uint32_t hsize, bmp_hdr *hd, int64_t *w,
		     int64_t *h, uint32_t *clr_used)
{
	const uint8_t *ih = buf + BMP_FILE_HDR;

	hd->comp = BI_RGB;
	hd->pal_entry = hsize == 12 ? 3 : 4;
	if (hsize == 12) {
		*w = rd16(ih + 4);
		*h = (int16_t)rd16(ih + 6);
		hd->bpp = (int)rd16(ih + 10);
		return 0;
	}
	*w = (int32_t)rd32(ih + 4);
	*h = (int32_t)rd32(ih + 8);
	hd->bpp = (int)rd16(ih + 14);
	if (hsize >= 20)
		hd->comp = rd32(ih + 16);
	if (hsize >= 36)
		*clr_used = rd32(ih + 32);
	return 0;
}

/* Checks the depth against the compression. */
static int check_depth(const bmp_hdr *hd, int os2, const char *name, pl_err *err)
{
	char num[16];
	int b = hd->bpp;

	if (hd->comp == BI_RLE8 && b != 8)
		return pl_errorf(err, PL_EDATA, "'%s': RLE8 bmp of %d bits per pixel (must be 8)", name, b);
	if (hd->comp == BI_RLE4 && b != 4)
		return pl_errorf(err, PL_EDATA, "'%s': RLE4 bmp of %d bits per pixel (must be 4)", name, b);
	if ((hd->comp == BI_BITFIELDS || hd->comp == BI_ALPHABITFIELDS) && !os2 && b != 16 && b != 32)
		return pl_errorf(err, PL_EDATA, "'%s': bmp bitfields need 16 or 32 bits per pixel, "
				 "not %d", name, b);
	if (hd->comp > BI_ALPHABITFIELDS || (os2 && hd->comp >= 3) || hd->comp == BI_JPEG ||
	    hd->comp == BI_PNG)
		return pl_errorf(err, PL_EDATA, "'%s': bmp compression %s is not supported", name,
				 comp_name(hd->comp, os2, num, sizeof(num)));
	if (b != 1 && b != 2 && b != 4 && b != 8 && b != 16 && b != 24 && b != 32)
		return pl_errorf(err, PL_EDATA, "'%s': %d-bit bmp is not supported", name, b);
	return 0;
}

/* Reads the info header: size, depth, compression and masks. On return
 * hd->pal_off is where the palette (or pixel data) may start. */
static int parse_info(const uint8_t *buf, size_t len, const char *name,
		      bmp_hdr *hd, int64_t *w, int64_t *h, uint32_t *clr_used,
		      pl_err *err)
{
	uint32_t hsize = rd32(buf + BMP_FILE_HDR);
	size_t end = BMP_FILE_HDR + (size_t)hsize;
	int os2 = hsize == 16 || hsize == 64, n_masks, rc;

	if (hsize != 12 && hsize != 16 && hsize != 40 && hsize != 52 && hsize != 56 &&
	    hsize != 64 && hsize != 108 && hsize != 124)
		return pl_errorf(err, PL_EDATA, "'%s': unsupported bmp header size %u", name, hsize);
	if (end > len)
		return pl_errorf(err, PL_EDATA, "'%s': truncated bmp header", name);
	read_dims(buf, hsize, hd, w, h, clr_used);
	if ((rc = check_depth(hd, os2, name, err)) < 0)
		return rc;
	n_masks = hd->comp == BI_ALPHABITFIELDS || hsize >= 56 ? 4 : 3;
	if (hd->comp == BI_ALPHABITFIELDS)
		hd->comp = BI_BITFIELDS;
	if (hd->bpp == 16 || hd->bpp == 32) {
		if ((rc = read_masks(buf, len, BMP_FILE_HDR + 40, n_masks, name, hd, err)) < 0)
			return rc;
		if (hd->comp == BI_BITFIELDS && hsize == 40)
			end += 4 * (size_t)n_masks;
	}
	hd->pal_off = end;
	return 0;
}

/* Validates the palette: clr_used entries (0: as many as the depth has,
 * or as fit before the pixels) must be in the file; at most 1 << bpp of
 * them are used. */
static int check_palette(size_t len, const char *name, uint32_t offset, uint32_t clr_used,
			 bmp_hdr *hd, pl_err *err)
{
	uint32_t max_n = 1u << hd->bpp, n = clr_used ? clr_used : max_n;

	if (clr_used > 65536)
		return pl_errorf(err, PL_EDATA, "'%s': bmp palette count %u is not plausible", name,
				 clr_used);
	/* an implicit full palette may be cut short by the pixel data */
	if (!clr_used && offset > hd->pal_off && hd->pal_off + (size_t)n * hd->pal_entry > offset)
		n = (uint32_t)((offset - hd->pal_off) / hd->pal_entry);
	if (n == 0 || hd->pal_off + (size_t)n * hd->pal_entry > len)
		return pl_errorf(err, PL_EDATA, "'%s': bmp palette of %u entries runs past the end "
				 "of the file", name, n);
	if (offset < hd->pal_off + (size_t)n * hd->pal_entry)
		return pl_errorf(err, PL_EDATA, "'%s': bmp pixel data offset %u overlaps the header "
				 "or palette", name, offset);
	hd->pal_n = (int)(n < max_n ? n : max_n);
	return 0;
}

/* Validates the palette and the pixel rows against the file size. */
static int check_layout(size_t len, const char *name, uint32_t offset,
			uint32_t clr_used, bmp_hdr *hd, pl_err *err)
{
	size_t row_bytes = ((size_t)hd->w * hd->bpp + 7) / 8;
	int rc;

	hd->stride = ((size_t)hd->w * hd->bpp + 31) / 32 * 4;
	hd->offset = offset;
	if (hd->bpp <= 8 && (rc = check_palette(len, name, offset, clr_used, hd, err)) < 0)
		return rc;
	if (hd->bpp > 8 && offset < hd->pal_off)
		return pl_errorf(err, PL_EDATA, "'%s': bmp pixel data offset %u overlaps the header",
				 name, offset);
	if (hd->comp == BI_RLE8 || hd->comp == BI_RLE4) {
		if (offset >= len)
			return pl_errorf(err, PL_EDATA, "'%s': truncated bmp data (no RLE data at "
					 "offset %u of %zu bytes)", name, offset, len);
		return 0;
	}
	if (offset >= len || len - offset < row_bytes ||
	    (size_t)(hd->h - 1) > (len - offset - row_bytes) / hd->stride)
		return pl_errorf(err, PL_EDATA, "'%s': truncated bmp data (%dx%d %d-bit rows do not fit in %zu bytes at offset %u)",
				 name, hd->w, hd->h, hd->bpp, len, offset);
	return 0;
}

/* Channels of the decoded image: a grey palette 1, a colour one 3, direct
 * colour 3 or 4 with an alpha mask; RLE adds alpha for the pixels it skips. */
static int out_channels(const bmp_hdr *hd, int grey)
{
	if (hd->bpp <= 8)
		return grey ? 1 : 3;
	return (hd->bpp == 16 || hd->bpp == 32) && hd->mask[3] ? 4 : 3;
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
	/* the largest count it may decode to: colour and alpha */
	rc = img_check_size(name, w, h, hd->bpp <= 8 ? 1 : out_channels(hd, 0), lim, err);
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

/* Writes palette entry idx as c (1 or 3) samples, then alpha when c is
 * 2 or 4 (opaque). */
static void put_index(float *dst, int idx, int c, float lut[256][3])
{
	int colour = c >= 3 ? 3 : 1;

	for (int k = 0; k < colour; k++)
		dst[k] = lut[idx][k];
	if (c == 2 || c == 4)
		dst[colour] = 255.0f;
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
		int bit = x * bpp;
		int idx = bpp == 8 ? src[x] : (src[bit >> 3] >> (shift - (bit & 7))) & mask;

		put_index(dst + (size_t)x * c, idx, c, lut);
	}
}

/* One field of a bitfield pixel scaled to 0..255, rounded (5 and 6 bits
 * give what bit replication gives). */
static float field(uint32_t v, uint32_t mask)
{
	uint32_t shift = 0, max;

	if (!mask)
		return 0.0f;
	while (!(mask & 1u << shift))
		shift++;
	max = mask >> shift;
	if (max == 255)
		return (float)((v & mask) >> shift);
	return (float)(((uint64_t)((v & mask) >> shift) * 255 + max / 2) / max);
}

static void decode_direct_row(const uint8_t *src, float *dst, const bmp_hdr *hd, int c)
{
	int x, step = hd->bpp / 8;

	if (hd->bpp == 24) {
		for (x = 0; x < hd->w; x++, src += 3, dst += 3) {
			dst[0] = src[2];
			dst[1] = src[1];
			dst[2] = src[0];
		}
		return;
	}
	for (x = 0; x < hd->w; x++, src += step, dst += c) {
		uint32_t v = step == 2 ? rd16(src) : rd32(src);
		for (int k = 0; k < c; k++)
			dst[k] = field(v, hd->mask[k]);
	}
}

static void rle_put(const bmp_hdr *hd, uint8_t *idx, uint8_t *set, int x, int y, int v)
{
	if (x < hd->w && y < hd->h) {
		idx[(size_t)y * hd->w + x] = (uint8_t)v;
		set[(size_t)y * hd->w + x] = 1;
	}
}

/* An absolute run of n pixels at buf[p]: RLE8 one byte each, RLE4 two to
 * a byte; returns the bytes it takes, padded to a 16-bit boundary. */
static size_t rle_literal(const uint8_t *buf, size_t len, size_t p, int n, const bmp_hdr *hd,
			  uint8_t *idx, uint8_t *set, int *x, int y)
{
	int four = hd->comp == BI_RLE4;
	size_t bytes = four ? ((size_t)n + 1) / 2 : (size_t)n;

	for (int i = 0; i < n && p + (size_t)(four ? i / 2 : i) < len; i++, (*x)++) {
		int b = buf[p + (size_t)(four ? i / 2 : i)];
		rle_put(hd, idx, set, *x, y, four ? (i & 1 ? b & 15 : b >> 4) : b);
	}
	return (bytes + 1) & ~(size_t)1;
}

/* Expands RLE8/RLE4 data into palette indices idx (stored row order: the
 * first stored row is y 0), set marking the pixels it gives: end-of-line,
 * delta and end-of-bitmap codes leave the others unset, as does data that
 * ends early. Runs past a row's end are clipped. */
static void rle_expand(const uint8_t *buf, size_t len, const bmp_hdr *hd, uint8_t *idx,
		       uint8_t *set)
{
	size_t p = hd->offset;
	int x = 0, y = 0, four = hd->comp == BI_RLE4;

	while (p + 1 < len && y < hd->h) {
		int n = buf[p], v = buf[p + 1];
		p += 2;
		if (n > 0) {
			for (int i = 0; i < n; i++, x++)
				rle_put(hd, idx, set, x, y, four ? (i & 1 ? v & 15 : v >> 4) : v);
		} else if (v == 0) {
			x = 0;
			y++;
		} else if (v == 1) {
			break;
		} else if (v == 2) {
			if (p + 1 >= len)
				break;
			x += buf[p];
			y += buf[p + 1];
			p += 2;
		} else {
			p += rle_literal(buf, len, p, v, hd, idx, set, &x, y);
		}
	}
}

/* Decodes RLE8/RLE4 data; pixels it leaves out become transparent (an
 * alpha channel is added only then). */
static int rle_image(const uint8_t *buf, size_t len, const char *name, const img_lim *lim,
		     const bmp_hdr *hd, int grey, float lut[256][3], img *out, pl_err *err)
{
	size_t n = (size_t)hd->w * hd->h, unset = 0;
	uint8_t *idx = calloc(n, 1), *set = calloc(n, 1);
	int c, rc;

	if (!idx || !set) {
		rc = pl_errorf(err, PL_ENOMEM, "'%s': out of memory", name);
		goto out;
	}
	rle_expand(buf, len, hd, idx, set);
	for (size_t i = 0; i < n; i++)
		unset += !set[i];
	c = (grey ? 1 : 3) + (unset > 0);
	if ((rc = img_check_size(name, hd->w, hd->h, c, lim, err)) < 0 ||
	    (rc = img_alloc(out, hd->w, hd->h, c, 255.0f, name, err)) < 0)
		goto out;
	for (int y = 0; y < hd->h; y++) {
		size_t row = (size_t)(hd->top_down ? y : hd->h - 1 - y) * hd->w;
		float *dst = out->px + (size_t)y * hd->w * c;
		for (int x = 0; x < hd->w; x++, dst += c)
			if (set[row + x])
				put_index(dst, idx[row + x], c, lut);
			else
				memset(dst, 0, sizeof(float) * (size_t)c);
	}
out:
	free(idx);
	free(set);
	return rc;
}

int bmp_decode(const uint8_t *buf, size_t len, const char *name,
	       const img_lim *lim, img *out, pl_err *err)
{
	bmp_hdr hd = { 0 };
	float lut[256][3];
	int y, c, grey = 0, rc;

	rc = parse_header(buf, len, name, lim, &hd, err);
	if (rc < 0)
		return rc;
	if (hd.bpp <= 8)
		grey = build_lut(buf, &hd, lut);
	if (hd.comp == BI_RLE8 || hd.comp == BI_RLE4)
		return rle_image(buf, len, name, lim, &hd, grey, lut, out, err);
	c = out_channels(&hd, grey);
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
			decode_direct_row(src, dst, &hd, c);
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
