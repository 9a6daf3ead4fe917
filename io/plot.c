/* Raster charts for the reports: a small RGB canvas with lines, rectangles
 * and text in an embedded 5x7 bitmap font (with descenders), line charts
 * with ticks, grid and legend, and confusion-matrix heat maps. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"

#define GLYPH_W 5
#define GLYPH_H 9            /* 7 rows above the baseline, 2 below */
#define GLYPH_ADVANCE 6
#define MAX_SIDE 8192

#define C_WHITE 0xffffff
#define C_TEXT 0x222222
#define C_AXIS 0x444444
#define C_GRID 0xe6e6e6
#define C_MUTED 0x999999

/* Bitmaps of ASCII 32..126: one byte per row, bit 4 = leftmost column.
 * Drawn for this module; public domain. */
static const uint8_t font5x7[95][GLYPH_H] = {
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 },  /*   */
	{ 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00, 0x00 },  /* ! */
	{ 0x0a, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 },  /* " */
	{ 0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a, 0x00, 0x00 },  /* # */
	{ 0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04, 0x00, 0x00 },  /* $ */
	{ 0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00, 0x00 },  /* % */
	{ 0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d, 0x00, 0x00 },  /* & */
	{ 0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 },  /* quote */
	{ 0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00, 0x00 },  /* ( */
	{ 0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00, 0x00 },  /* ) */
	{ 0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00, 0x00, 0x00 },  /* star */
	{ 0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00, 0x00, 0x00 },  /* + */
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08, 0x00 },  /* , */
	{ 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00 },  /* - */
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c, 0x00, 0x00 },  /* . */
	{ 0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00, 0x00 },  /* / */
	{ 0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e, 0x00, 0x00 },  /* 0 */
	{ 0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00 },  /* 1 */
	{ 0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f, 0x00, 0x00 },  /* 2 */
	{ 0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e, 0x00, 0x00 },  /* 3 */
	{ 0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02, 0x00, 0x00 },  /* 4 */
	{ 0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e, 0x00, 0x00 },  /* 5 */
	{ 0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e, 0x00, 0x00 },  /* 6 */
	{ 0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00, 0x00 },  /* 7 */
	{ 0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e, 0x00, 0x00 },  /* 8 */
	{ 0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c, 0x00, 0x00 },  /* 9 */
	{ 0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00, 0x00, 0x00 },  /* : */
	{ 0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x04, 0x08, 0x00, 0x00 },  /* ; */
	{ 0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00, 0x00 },  /* < */
	{ 0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00 },  /* = */
	{ 0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00, 0x00 },  /* > */
	{ 0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00, 0x00 },  /* ? */
	{ 0x0e, 0x11, 0x01, 0x0d, 0x15, 0x15, 0x0e, 0x00, 0x00 },  /* @ */
	{ 0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00, 0x00 },  /* A */
	{ 0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e, 0x00, 0x00 },  /* B */
	{ 0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e, 0x00, 0x00 },  /* C */
	{ 0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c, 0x00, 0x00 },  /* D */
	{ 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f, 0x00, 0x00 },  /* E */
	{ 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10, 0x00, 0x00 },  /* F */
	{ 0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f, 0x00, 0x00 },  /* G */
	{ 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00, 0x00 },  /* H */
	{ 0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00 },  /* I */
	{ 0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c, 0x00, 0x00 },  /* J */
	{ 0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00, 0x00 },  /* K */
	{ 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f, 0x00, 0x00 },  /* L */
	{ 0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00, 0x00 },  /* M */
	{ 0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00, 0x00 },  /* N */
	{ 0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00 },  /* O */
	{ 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10, 0x00, 0x00 },  /* P */
	{ 0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d, 0x00, 0x00 },  /* Q */
	{ 0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11, 0x00, 0x00 },  /* R */
	{ 0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e, 0x00, 0x00 },  /* S */
	{ 0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00 },  /* T */
	{ 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00 },  /* U */
	{ 0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00, 0x00 },  /* V */
	{ 0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a, 0x00, 0x00 },  /* W */
	{ 0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11, 0x00, 0x00 },  /* X */
	{ 0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x00, 0x00 },  /* Y */
	{ 0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f, 0x00, 0x00 },  /* Z */
	{ 0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e, 0x00, 0x00 },  /* [ */
	{ 0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00, 0x00 },  /* backslash */
	{ 0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e, 0x00, 0x00 },  /* ] */
	{ 0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 },  /* ^ */
	{ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x00 },  /* _ */
	{ 0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 },  /* ` */
	{ 0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f, 0x00, 0x00 },  /* a */
	{ 0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e, 0x00, 0x00 },  /* b */
	{ 0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e, 0x00, 0x00 },  /* c */
	{ 0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f, 0x00, 0x00 },  /* d */
	{ 0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e, 0x00, 0x00 },  /* e */
	{ 0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08, 0x00, 0x00 },  /* f */
	{ 0x00, 0x00, 0x0f, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x0e },  /* g */
	{ 0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00 },  /* h */
	{ 0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00 },  /* i */
	{ 0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c },  /* j */
	{ 0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00, 0x00 },  /* k */
	{ 0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00 },  /* l */
	{ 0x00, 0x00, 0x1a, 0x15, 0x15, 0x15, 0x15, 0x00, 0x00 },  /* m */
	{ 0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00 },  /* n */
	{ 0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00 },  /* o */
	{ 0x00, 0x00, 0x1e, 0x11, 0x11, 0x11, 0x1e, 0x10, 0x10 },  /* p */
	{ 0x00, 0x00, 0x0f, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x01 },  /* q */
	{ 0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00, 0x00 },  /* r */
	{ 0x00, 0x00, 0x0f, 0x10, 0x0e, 0x01, 0x1e, 0x00, 0x00 },  /* s */
	{ 0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06, 0x00, 0x00 },  /* t */
	{ 0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d, 0x00, 0x00 },  /* u */
	{ 0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00, 0x00 },  /* v */
	{ 0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a, 0x00, 0x00 },  /* w */
	{ 0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x00, 0x00 },  /* x */
	{ 0x00, 0x00, 0x11, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x0e },  /* y */
	{ 0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f, 0x00, 0x00 },  /* z */
	{ 0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02, 0x00, 0x00 },  /* { */
	{ 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00 },  /* | */
	{ 0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08, 0x00, 0x00 },  /* } */
	{ 0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00, 0x00 },  /* ~ */
};

/* Matplotlib's "tab10" colours, distinct and colour-blind friendly. */
static const uint32_t palette[] = {
	0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
	0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf
};

/* "Blues" stops from white to dark blue, for the heat map. */
static const uint32_t blues[] = {
	0xf7fbff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6,
	0x4292c6, 0x2171b5, 0x08519c, 0x08306b
};

typedef struct canvas {
	int w, h;
	uint8_t *px;                  /* w*h RGB */
	int cx0, cy0, cx1, cy1;       /* clip rectangle, inclusive */
} canvas;

typedef struct rect {
	int x, y, w, h;
} rect;

enum { ALIGN_LEFT, ALIGN_CENTER, ALIGN_RIGHT };

static int canvas_init(canvas *c, int w, int h, pl_err *err)
{
	if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE)
		return pl_errorf(err, PL_EUSAGE, "plot size %dx%d is outside 1..%d",
				 w, h, MAX_SIDE);
	c->w = w;
	c->h = h;
	c->px = malloc((size_t)w * h * 3);
	if (!c->px)
		return pl_errorf(err, PL_ENOMEM, "out of memory for a %dx%d plot", w, h);
	memset(c->px, 0xff, (size_t)w * h * 3);
	c->cx0 = c->cy0 = 0;
	c->cx1 = w - 1;
	c->cy1 = h - 1;
	return 0;
}

static void clip_to(canvas *c, const rect *r)
{
	c->cx0 = r->x > 0 ? r->x : 0;
	c->cy0 = r->y > 0 ? r->y : 0;
	c->cx1 = r->x + r->w - 1 < c->w - 1 ? r->x + r->w - 1 : c->w - 1;
	c->cy1 = r->y + r->h - 1 < c->h - 1 ? r->y + r->h - 1 : c->h - 1;
}

static void clip_reset(canvas *c)
{
	rect all = { 0, 0, c->w, c->h };
	clip_to(c, &all);
}

static void put(canvas *c, int x, int y, uint32_t rgb)
{
	if (x < c->cx0 || x > c->cx1 || y < c->cy0 || y > c->cy1)
		return;
	uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
	p[0] = (uint8_t)(rgb >> 16);
	p[1] = (uint8_t)(rgb >> 8);
	p[2] = (uint8_t)rgb;
}

static void fill(canvas *c, int x, int y, int w, int h, uint32_t rgb)
{
	for (int j = y; j < y + h; j++)
		for (int i = x; i < x + w; i++)
			put(c, i, j, rgb);
}

static void frame(canvas *c, int x, int y, int w, int h, uint32_t rgb)
{
	fill(c, x, y, w, 1, rgb);
	fill(c, x, y + h - 1, w, 1, rgb);
	fill(c, x, y, 1, h, rgb);
	fill(c, x + w - 1, y, 1, h, rgb);
}

/* A line of the given thickness; *dash (NULL = solid) carries the dash
 * phase along a polyline: 9 pixels on, 6 off. */
static void line(canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb,
		 int thick, int *dash)
{
	int dx = abs(x1 - x0), dy = -abs(y1 - y0);
	int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;

	for (;;) {
		if (!dash || (*dash)++ % 15 < 9)
			fill(c, x0 - thick / 2, y0 - thick / 2, thick, thick, rgb);
		if (x0 == x1 && y0 == y1)
			break;
		int e2 = 2 * e;
		if (e2 >= dy) {
			e += dy;
			x0 += sx;
		}
		if (e2 <= dx) {
			e += dx;
			y0 += sy;
		}
	}
}

static void disc(canvas *c, int cx, int cy, int r, uint32_t rgb)
{
	for (int y = -r; y <= r; y++)
		for (int x = -r; x <= r; x++)
			if (x * x + y * y <= r * r + r)
				put(c, cx + x, cy + y, rgb);
}

/* The glyph of one character; bytes outside ASCII show as '?'. */
static const uint8_t *glyph(unsigned char ch)
{
	return font5x7[(ch >= 32 && ch < 127 ? ch : '?') - 32];
}

/* Number of characters drawn for s (a UTF-8 sequence counts as one). */
static int text_chars(const char *s)
{
	int n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p & 0xc0) != 0x80;
	return n;
}

static int text_width(const char *s, int scale)
{
	int n = text_chars(s);

	return n ? (n * GLYPH_ADVANCE - 1) * scale : 0;
}

/* Draws s with its top-left corner at (x, y) after alignment; up != 0 draws
 * it rotated a quarter turn counter-clockwise, reading bottom to top, with
 * (x, y) then the middle-left point of the baseline-to-top box. */
static void text(canvas *c, int x, int y, const char *s, int scale,
		 uint32_t rgb, int align, int up)
{
	int w = text_width(s, scale), pos = 0;

	if (align == ALIGN_CENTER)
		pos = -w / 2;
	else if (align == ALIGN_RIGHT)
		pos = -w;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p & 0xc0) == 0x80)
			continue;
		const uint8_t *g = glyph(*p);
		for (int row = 0; row < GLYPH_H; row++) {
			for (int col = 0; col < GLYPH_W; col++) {
				if (!(g[row] & (0x10 >> col)))
					continue;
				int gx = pos + col * scale, gy = row * scale;
				if (up)
					fill(c, x + gy, y - gx - scale, scale, scale, rgb);
				else
					fill(c, x + gx, y + gy, scale, scale, rgb);
			}
		}
		pos += GLYPH_ADVANCE * scale;
	}
}

/* Bold text: the glyphs drawn twice, one pixel apart. */
static void text_bold(canvas *c, int x, int y, const char *s, int scale,
		      uint32_t rgb, int align)
{
	text(c, x, y, s, scale, rgb, align, 0);
	text(c, x + 1, y, s, scale, rgb, align, 0);
}

static int write_canvas(const canvas *c, const char *path, pl_err *err)
{
	return img_write_png(path, c->px, c->w, c->h, 3, err);
}

/* ---- Line charts ---- */

/* Axis range and tick step; lo/hi fixed when the chart gives them. */
typedef struct axis {
	double lo, hi, step;
} axis;

/* A 1, 2 or 5 times a power of ten, about range / target. */
static double nice_step(double range, int target, int integer)
{
	double raw = range / target, mag = pow(10, floor(log10(raw)));
	double f = raw / mag, step;

	step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
	if (integer && step < 1)
		step = 1;
	return step;
}

static void axis_fit(axis *a, double want_lo, double want_hi, double data_lo,
		     double data_hi, int target, int integer)
{
	double lo = isfinite(want_lo) ? want_lo : data_lo;
	double hi = isfinite(want_hi) ? want_hi : data_hi;

	if (!isfinite(lo) || !isfinite(hi)) {
		lo = 0;
		hi = 1;
	}
	if (hi - lo < 1e-12 * (fabs(lo) + fabs(hi)) || hi <= lo) {
		double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 0.5;
		lo -= isfinite(want_lo) ? 0 : pad;
		hi += pad;
	}
	a->step = nice_step(hi - lo, target, integer);
	a->lo = isfinite(want_lo) ? lo : floor(lo / a->step + 1e-9) * a->step;
	a->hi = isfinite(want_hi) ? hi : ceil(hi / a->step - 1e-9) * a->step;
}

/* Decimals that show a tick step exactly (0.25 -> 2, 5 -> 0). */
static int step_decimals(double step)
{
	int d = 0;

	while (d < 6 && fabs(step * pow(10, d) - round(step * pow(10, d))) > 1e-6)
		d++;
	return d;
}

static int px_x(const rect *r, const axis *a, double v)
{
	return r->x + (int)lround((v - a->lo) / (a->hi - a->lo) * (r->w - 1));
}

static int px_y(const rect *r, const axis *a, double v)
{
	return r->y + r->h - 1 - (int)lround((v - a->lo) / (a->hi - a->lo) * (r->h - 1));
}

static void data_range(const plot_chart *ch, int want_x, double *lo, double *hi)
{
	*lo = INFINITY;
	*hi = -INFINITY;
	for (int s = 0; s < ch->n_series; s++) {
		const plot_series *se = &ch->series[s];
		for (int i = 0; i < se->n; i++) {
			double x = se->x[i], y = se->y[i];
			double v = want_x ? x : y;
			if (!isfinite(x) || !isfinite(y))
				continue;
			*lo = fmin(*lo, v);
			*hi = fmax(*hi, v);
		}
	}
}

static double first_tick(const axis *a)
{
	return ceil(a->lo / a->step - 1e-9) * a->step;
}

static int past_last_tick(const axis *a, double v)
{
	return v > a->hi + a->step * 1e-9;
}

/* The label of tick v, without a "-0.0" at zero. */
static void tick_label(char *out, size_t size, const axis *a, double v)
{
	snprintf(out, size, "%.*f", step_decimals(a->step), fabs(v) < a->step * 1e-9 ? 0.0 : v);
}

/* The widest tick label of a, in pixels. */
static int tick_labels_width(const axis *a)
{
	char label[32];
	int w = 0;

	for (double v = first_tick(a); !past_last_tick(a, v); v += a->step) {
		tick_label(label, sizeof(label), a, v);
		w = text_width(label, 2) > w ? text_width(label, 2) : w;
	}
	return w;
}

static void grid_and_ticks(canvas *c, const rect *r, const axis *ax,
			   const axis *ay)
{
	char label[32];

	for (double v = first_tick(ax); !past_last_tick(ax, v); v += ax->step) {
		int x = px_x(r, ax, v);
		fill(c, x, r->y, 1, r->h, C_GRID);
		fill(c, x, r->y + r->h, 1, 6, C_AXIS);
		tick_label(label, sizeof(label), ax, v);
		text(c, x, r->y + r->h + 10, label, 2, C_TEXT, ALIGN_CENTER, 0);
	}
	for (double v = first_tick(ay); !past_last_tick(ay, v); v += ay->step) {
		int y = px_y(r, ay, v);
		fill(c, r->x, y, r->w, 1, C_GRID);
		fill(c, r->x - 6, y, 6, 1, C_AXIS);
		tick_label(label, sizeof(label), ay, v);
		text(c, r->x - 10, y - 7, label, 2, C_TEXT, ALIGN_RIGHT, 0);
	}
}

static uint32_t series_color(const plot_series *se, int index)
{
	return se->color ? se->color : palette[index % 10];
}

static void draw_series(canvas *c, const rect *r, const axis *ax,
			const axis *ay, const plot_series *se, uint32_t rgb,
			int dashed)
{
	int have_prev = 0, px = 0, py = 0, phase = 0;

	clip_to(c, r);
	for (int i = 0; i < se->n; i++) {
		if (!isfinite(se->x[i]) || !isfinite(se->y[i])) {
			have_prev = 0;
			continue;
		}
		/* keep far-out points from making huge lines; clipping does the rest */
		double xv = fmin(fmax(se->x[i], ax->lo - 4 * (ax->hi - ax->lo)), ax->hi + 4 * (ax->hi - ax->lo));
		double yv = fmin(fmax(se->y[i], ay->lo - 4 * (ay->hi - ay->lo)), ay->hi + 4 * (ay->hi - ay->lo));
		int x = px_x(r, ax, xv), y = px_y(r, ay, yv);
		if (have_prev)
			line(c, px, py, x, y, rgb, 3, dashed ? &phase : NULL);
		if (se->markers)
			disc(c, x, y, 4, rgb);
		px = x;
		py = y;
		have_prev = 1;
	}
	clip_reset(c);
}

/* The legend text of a series, shortened to 40 characters. */
static void legend_name(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s", name);
	if (text_chars(out) > 40 && strlen(out) > 40)
		snprintf(out + 38, size - 38, "..");
}

/* 1 when the series has a point to draw (all-NaN series stay out of the legend). */
static int series_has_data(const plot_series *se)
{
	for (int i = 0; i < se->n; i++)
		if (isfinite(se->x[i]) && isfinite(se->y[i]))
			return 1;
	return 0;
}

static int series_dashed(const plot_series *se, int index)
{
	return se->dashed || (!se->color && (index / 10) % 2 == 1);
}

/* Width and height of the legend box; 0 when there is none. */
static void legend_size(const plot_chart *ch, int *w, int *h)
{
	char name[64];
	int n = 0;

	*w = *h = 0;
	if (ch->legend == PLOT_LEGEND_NONE)
		return;
	for (int s = 0; s < ch->n_series; s++) {
		if (!ch->series[s].name || !series_has_data(&ch->series[s]))
			continue;
		legend_name(name, sizeof(name), ch->series[s].name);
		int tw = text_width(name, 2);
		*w = tw > *w ? tw : *w;
		n++;
	}
	if (n == 0) {
		*w = 0;
		return;
	}
	*w += 56;
	*h = n * 24 + 12;
}

static void legend(canvas *c, const rect *r, const plot_chart *ch)
{
	char name[64];
	int w, h, x, y;

	legend_size(ch, &w, &h);
	if (w == 0)
		return;
	x = ch->legend == PLOT_LEGEND_UPPER_LEFT ? r->x + 12 :
	    ch->legend == PLOT_LEGEND_OUTSIDE ? r->x + r->w + 20 : r->x + r->w - w - 12;
	y = ch->legend == PLOT_LEGEND_LOWER_RIGHT ? r->y + r->h - h - 12 :
	    ch->legend == PLOT_LEGEND_OUTSIDE ? r->y : r->y + 12;
	fill(c, x, y, w, h, C_WHITE);
	frame(c, x, y, w, h, 0xcccccc);
	y += 8;
	for (int s = 0; s < ch->n_series; s++) {
		const plot_series *se = &ch->series[s];
		uint32_t rgb = series_color(se, s);
		int phase = 0;
		if (!se->name || !series_has_data(se))
			continue;
		line(c, x + 10, y + 7, x + 40, y + 7, rgb, 3, series_dashed(se, s) ? &phase : NULL);
		if (se->markers)
			disc(c, x + 25, y + 7, 4, rgb);
		legend_name(name, sizeof(name), se->name);
		text(c, x + 48, y, name, 2, C_TEXT, ALIGN_LEFT, 0);
		y += 24;
	}
}

/* The panel width of a chart: the base width plus an outside legend. */
static int chart_width(const plot_chart *ch, int panel_w)
{
	int w, h;

	if (ch->legend != PLOT_LEGEND_OUTSIDE)
		return panel_w;
	legend_size(ch, &w, &h);
	return panel_w + (w ? w + 24 : 0);
}

static void draw_chart(canvas *c, const rect *panel, const plot_chart *ch,
		       int base_w)
{
	rect r = { 0, panel->y + 56, 0, panel->h - 56 - 84 };
	axis ax, ay;
	double lo, hi;

	data_range(ch, 0, &lo, &hi);
	axis_fit(&ay, ch->y_min, ch->y_max, lo, hi, r.h / 90 + 1, 0);
	/* y title, gap, tick labels, gap, tick marks */
	int margin = 14 + 18 + 14 + tick_labels_width(&ay) + 10;
	r.x = panel->x + margin;
	r.w = base_w - margin - 28;
	data_range(ch, 1, &lo, &hi);
	axis_fit(&ax, ch->x_min, ch->x_max, lo, hi, r.w / 110 + 1, ch->integer_x);
	if (ch->title)
		text_bold(c, r.x + r.w / 2, panel->y + 16, ch->title, 2, C_TEXT, ALIGN_CENTER);
	if (ch->x_label)
		text(c, r.x + r.w / 2, r.y + r.h + 44, ch->x_label, 2, C_TEXT, ALIGN_CENTER, 0);
	if (ch->y_label)
		text(c, panel->x + 14, r.y + r.h / 2 + text_width(ch->y_label, 2) / 2,
		     ch->y_label, 2, C_TEXT, ALIGN_LEFT, 1);
	grid_and_ticks(c, &r, &ax, &ay);
	if (ch->diagonal) {
		int phase = 0;
		clip_to(c, &r);
		line(c, px_x(&r, &ax, 0), px_y(&r, &ay, 0), px_x(&r, &ax, 1),
		     px_y(&r, &ay, 1), C_MUTED, 2, &phase);
		clip_reset(c);
	}
	for (int s = 0; s < ch->n_series; s++)
		draw_series(c, &r, &ax, &ay, &ch->series[s], series_color(&ch->series[s], s),
			    series_dashed(&ch->series[s], s));
	frame(c, r.x - 1, r.y - 1, r.w + 2, r.h + 2, C_AXIS);
	legend(c, &r, ch);
}

int plot_charts_png(const char *path, const plot_chart *charts, int n,
		    int panel_w, int panel_h, pl_err *err)
{
	canvas c;
	int rc, w = 0;

	if (n < 1 || n > 16 || panel_w < 240 || panel_h < 200)
		return pl_errorf(err, PL_EUSAGE, "plot '%s': %d panels of %dx%d (need 1..16 of >= 240x200)",
				 path, n, panel_w, panel_h);
	for (int i = 0; i < n; i++)
		w += chart_width(&charts[i], panel_w);
	rc = canvas_init(&c, w, panel_h, err);
	if (rc != 0)
		return rc;
	for (int i = 0, x = 0; i < n; x += chart_width(&charts[i], panel_w), i++) {
		rect panel = { x, 0, chart_width(&charts[i], panel_w), panel_h };
		draw_chart(&c, &panel, &charts[i], panel_w);
	}
	rc = write_canvas(&c, path, err);
	free(c.px);
	return rc;
}

int plot_training_curves(const char *path, const int *epochs,
			 const double *train_loss, const double *val_loss,
			 const double *train_acc, const double *val_acc, int n,
			 pl_err *err)
{
	double *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
	int rc;

	if (n < 1) {
		free(x);
		return pl_errorf(err, PL_EUSAGE, "plot '%s': no epochs to draw", path);
	}
	if (!x)
		return pl_errorf(err, PL_ENOMEM, "out of memory drawing '%s'", path);
	for (int i = 0; i < n; i++)
		x[i] = epochs[i];
	int mark = n <= 40;
	plot_series loss[2] = {
		{ .name = "train", .x = x, .y = train_loss, .n = n, .color = palette[0], .markers = mark },
		{ .name = "validation", .x = x, .y = val_loss, .n = n, .color = palette[1], .markers = mark },
	};
	plot_series acc[2] = { loss[0], loss[1] };
	acc[0].y = train_acc;
	acc[1].y = val_acc;
	plot_chart charts[2] = {
		{ .title = "Loss", .x_label = "epoch", .y_label = "cross-entropy", .series = loss,
		  .n_series = val_loss ? 2 : 1, .x_min = NAN, .x_max = NAN, .y_min = NAN,
		  .y_max = NAN, .integer_x = 1, .legend = PLOT_LEGEND_UPPER_RIGHT },
		{ .title = "Accuracy", .x_label = "epoch", .y_label = "accuracy", .series = acc,
		  .n_series = val_acc ? 2 : 1, .x_min = NAN, .x_max = NAN, .y_min = NAN,
		  .y_max = NAN, .integer_x = 1, .legend = PLOT_LEGEND_LOWER_RIGHT },
	};
	rc = plot_charts_png(path, charts, 2, 640, 480, err);
	free(x);
	return rc;
}

/* ---- Confusion-matrix heat maps ---- */

static uint32_t mix(uint32_t a, uint32_t b, double t)
{
	uint32_t out = 0;

	for (int shift = 16; shift >= 0; shift -= 8) {
		double ca = (a >> shift) & 0xff, cb = (b >> shift) & 0xff;
		out |= (uint32_t)lround(ca + (cb - ca) * t) << shift;
	}
	return out;
}

/* The colour of a fraction 0..1 on the Blues scale. */
static uint32_t blues_at(double t)
{
	int last = (int)(sizeof(blues) / sizeof(*blues)) - 1;
	double pos = fmin(fmax(t, 0), 1) * last;
	int i = (int)pos < last ? (int)pos : last - 1;

	return mix(blues[i], blues[i + 1], pos - i);
}

/* Cells smaller than this get no border, numbers or class names. */
#define HEAT_LABEL_MIN 14

/* Geometry of one heat map panel. */
typedef struct heat_layout {
	int cell;          /* side of a cell */
	int label_w;       /* widest class name, pixels */
	int vertical;      /* column labels drawn rotated */
	int left, top;     /* offset of the grid inside the panel */
	int w, h;          /* panel size */
} heat_layout;

static void heat_layout_of(const plot_heatmap *hm, heat_layout *lay)
{
	int k = hm->k;

	lay->cell = k <= 4 ? 120 : k <= 8 ? 84 : k <= 16 ? 48 : k <= 40 ? 28 :
		    k <= 1000 ? 1200 / k + 1 : 2;
	lay->label_w = 0;
	for (int c = 0; c < k && lay->cell >= HEAT_LABEL_MIN; c++) {
		int w = text_width(hm->labels[c], 2);
		lay->label_w = w > lay->label_w ? w : lay->label_w;
	}
	if (lay->label_w > 320)
		lay->label_w = 320;
	lay->vertical = lay->label_w > lay->cell - 8;
	lay->left = 24 + 32 + lay->label_w + 12;
	lay->top = 64;
	int bottom = (lay->vertical ? lay->label_w + 16 : 30) + 40;
	lay->w = lay->left + k * lay->cell + 140;
	lay->h = lay->top + k * lay->cell + bottom;
	if (lay->h < 360)
		lay->h = 360;
	if (lay->w < 420)
		lay->w = 420;
}

static void heat_cell(canvas *c, int x, int y, int cell, int64_t count,
		      double frac)
{
	char line1[32], line2[32];
	uint32_t bg = blues_at(frac), fg = frac > 0.45 ? C_WHITE : C_TEXT;
	int scale = cell >= 84 ? 2 : 1;

	fill(c, x, y, cell, cell, bg);
	if (cell < HEAT_LABEL_MIN)
		return;   /* too small for a border or numbers */
	frame(c, x, y, cell, cell, C_WHITE);
	snprintf(line1, sizeof(line1), "%lld", (long long)count);
	snprintf(line2, sizeof(line2), "%.1f%%", 100 * frac);
	if (count == 0) {
		text(c, x + cell / 2, y + (cell - 7 * scale) / 2, line1, scale, C_MUTED, ALIGN_CENTER, 0);
		return;
	}
	if (text_width(line2, scale) > cell - 4) {
		if (text_width(line1, 1) <= cell - 4)
			text(c, x + cell / 2, y + cell / 2 - 4, line1, 1, fg, ALIGN_CENTER, 0);
		return;
	}
	int gap = 4 * scale, block = 2 * 7 * scale + gap;
	int y0 = y + (cell - block) / 2;
	text_bold(c, x + cell / 2, y0, line1, scale, fg, ALIGN_CENTER);
	text(c, x + cell / 2, y0 + 7 * scale + gap, line2, scale, fg, ALIGN_CENTER, 0);
}

/* Class name clipped to the label area (a long name ends in ".."). */
static void class_label(char *out, size_t size, const char *name, int max_w)
{
	snprintf(out, size, "%s", name);
	while (text_width(out, 2) > max_w && strlen(out) > 3) {
		size_t len = strlen(out);
		out[len - 3] = '.';
		out[len - 2] = '.';
		out[len - 1] = '\0';
	}
}

static void heat_labels(canvas *c, const rect *panel, const plot_heatmap *hm,
			const heat_layout *lay)
{
	int gx = panel->x + lay->left, gy = panel->y + lay->top, k = hm->k;
	int grid = k * lay->cell;
	char name[128];

	for (int i = 0; i < k && lay->cell >= HEAT_LABEL_MIN; i++) {
		int mid = i * lay->cell + lay->cell / 2;
		class_label(name, sizeof(name), hm->labels[i], lay->label_w);
		text(c, gx - 10, gy + mid - 7, name, 2, C_TEXT, ALIGN_RIGHT, 0);
		if (lay->vertical)
			text(c, gx + mid - 7, gy + grid + 10 + text_width(name, 2), name, 2,
			     C_TEXT, ALIGN_LEFT, 1);
		else
			text(c, gx + mid, gy + grid + 10, name, 2, C_TEXT, ALIGN_CENTER, 0);
	}
	int below = lay->vertical ? lay->label_w + 22 : 36;
	text(c, gx + grid / 2, gy + grid + below, "predicted", 2, C_TEXT, ALIGN_CENTER, 0);
	text(c, panel->x + 16, gy + grid / 2 + text_width("true", 2) / 2, "true", 2,
	     C_TEXT, ALIGN_LEFT, 1);
	if (hm->title)
		text_bold(c, panel->x + panel->w / 2, panel->y + 18, hm->title, 2, C_TEXT, ALIGN_CENTER);
}

/* The colour bar right of the grid: 0 % at the bottom, 100 % at the top. */
static void colour_bar(canvas *c, int x, int y, int h)
{
	for (int j = 0; j < h; j++)
		fill(c, x, y + j, 20, 1, blues_at(1.0 - (double)j / (h - 1)));
	frame(c, x - 1, y - 1, 22, h + 2, C_AXIS);
	for (int t = 0; t <= 4; t++) {
		char label[16];
		int ty = y + (h - 1) - (h - 1) * t / 4;
		fill(c, x + 21, ty, 5, 1, C_AXIS);
		snprintf(label, sizeof(label), "%d%%", 25 * t);
		text(c, x + 30, ty - 7, label, 2, C_TEXT, ALIGN_LEFT, 0);
	}
}

static void draw_heatmap(canvas *c, const rect *panel, const plot_heatmap *hm,
			 const heat_layout *lay)
{
	int gx = panel->x + lay->left, gy = panel->y + lay->top, k = hm->k;

	for (int i = 0; i < k; i++) {
		int64_t row = 0;
		for (int j = 0; j < k; j++)
			row += hm->counts[(size_t)i * k + j];
		for (int j = 0; j < k; j++) {
			int64_t v = hm->counts[(size_t)i * k + j];
			heat_cell(c, gx + j * lay->cell, gy + i * lay->cell, lay->cell, v,
				  row > 0 ? (double)v / (double)row : 0);
		}
	}
	frame(c, gx - 1, gy - 1, k * lay->cell + 2, k * lay->cell + 2, C_AXIS);
	heat_labels(c, panel, hm, lay);
	colour_bar(c, gx + k * lay->cell + 24, gy, k * lay->cell);
}

int plot_heatmaps_png(const char *path, const plot_heatmap *maps, int n,
		      pl_err *err)
{
	heat_layout lay[8];
	canvas c;
	int w = 0, h = 0, rc;

	if (n < 1 || n > 8)
		return pl_errorf(err, PL_EUSAGE, "plot '%s': %d heat maps (1..8 allowed)", path, n);
	for (int i = 0; i < n; i++) {
		if (maps[i].k < 1 || maps[i].k > 2000)
			return pl_errorf(err, PL_EUSAGE, "plot '%s': %d classes (1..2000 allowed)",
					 path, maps[i].k);
		heat_layout_of(&maps[i], &lay[i]);
		w += lay[i].w;
		h = lay[i].h > h ? lay[i].h : h;
	}
	rc = canvas_init(&c, w, h, err);
	if (rc != 0)
		return rc;
	for (int i = 0, x = 0; i < n; x += lay[i].w, i++) {
		rect panel = { x, 0, lay[i].w, h };
		draw_heatmap(&c, &panel, &maps[i], &lay[i]);
	}
	rc = write_canvas(&c, path, err);
	free(c.px);
	return rc;
}
