/* The drawing surface of the plots: the same primitives drawn into an RGB
 * raster (written as PNG; text anti-aliased) or written as SVG elements
 * (rectangles, <polyline>, <circle>, <text> with the text XML-escaped). */
#include "plot_priv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "img.h"
#include "utf8.h"

#define MAX_SIDE 8192
/* Appends a string literal. */
#define APPEND_LIT(b, lit) strbuf_append((b), (lit), sizeof(lit) - 1)
#define SVG_FONTS "DejaVu Sans, Verdana, Arial, sans-serif"

/* The format the extension of path names: SURF_PNG, SURF_SVG or -1. */
static int kind_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot && strcasecmp(dot, ".png") == 0)
		return SURF_PNG;
	if (dot && strcasecmp(dot, ".svg") == 0)
		return SURF_SVG;
	return -1;
}

static void svg_open(surface *s)
{
	strbuf_appendf(&s->svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		       "viewBox=\"0 0 %d %d\" font-family=\"%s\">\n"
		       "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
		       s->w, s->h, s->w, s->h, SVG_FONTS, s->w, s->h);
}

int surf_init(surface *s, const char *path, int w, int h, plot_font *font,
	      pl_err *err)
{
	memset(s, 0, sizeof(*s));
	s->font = font;
	s->kind = kind_of(path);
	if (s->kind < 0)
		return pl_errorf(err, PL_EUSAGE, "plot '%s': unknown format (name it .png or .svg)",
				 path);
	if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE)
		return pl_errorf(err, PL_EUSAGE, "plot '%s': size %dx%d is outside 1..%d",
				 path, w, h, MAX_SIDE);
	s->w = w;
	s->h = h;
	s->cx1 = w - 1;
	s->cy1 = h - 1;
	strbuf_init(&s->svg);
	if (s->kind == SURF_SVG) {
		svg_open(s);
		return 0;
	}
	s->px = malloc((size_t)w * h * 3);
	if (!s->px)
		return pl_errorf(err, PL_ENOMEM, "out of memory for a %dx%d plot", w, h);
	memset(s->px, 0xff, (size_t)w * h * 3);
	return 0;
}

void surf_release(surface *s)
{
	strbuf_release(&s->svg);
	free(s->px);
	plot_font_free(s->font);
	memset(s, 0, sizeof(*s));
}

int surf_write(surface *s, const char *path, pl_err *err)
{
	if (s->kind == SURF_PNG)
		return img_write_png(path, s->px, s->w, s->h, 3, err);
	strbuf_appendf(&s->svg, "</svg>\n");
	return strbuf_write_file(&s->svg, path, err);
}

/* ---- Raster ---- */

/* Blends rgb over pixel (x, y) with coverage alpha (255 = opaque). */
static void blend(surface *s, int x, int y, uint32_t rgb, int alpha)
{
	if (x < s->cx0 || x > s->cx1 || y < s->cy0 || y > s->cy1)
		return;
	uint8_t *p = s->px + ((size_t)y * s->w + x) * 3;
	for (int i = 0; i < 3; i++) {
		int c = (int)(rgb >> (16 - 8 * i)) & 0xff;
		p[i] = (uint8_t)((p[i] * (255 - alpha) + c * alpha + 127) / 255);
	}
}

static void raster_fill(surface *s, int x, int y, int w, int h, uint32_t rgb)
{
	for (int j = y; j < y + h; j++)
		for (int i = x; i < x + w; i++)
			blend(s, i, j, rgb, 255);
}

/* One segment; *phase carries the dash pattern along a polyline. */
static void raster_line(surface *s, int x0, int y0, int x1, int y1,
			uint32_t rgb, int thick, int *phase)
{
	int dx = abs(x1 - x0), dy = -abs(y1 - y0);
	int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;

	for (;;) {
		if (!phase || (*phase)++ % 15 < 9)
			raster_fill(s, x0 - thick / 2, y0 - thick / 2, thick, thick, rgb);
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

/* ---- SVG ---- */

static void svg_rgb(char out[8], uint32_t rgb)
{
	snprintf(out, 8, "#%06x", (unsigned)(rgb & 0xffffff));
}

/* Writes text as XML character data: markup characters escaped, bytes
 * that are not UTF-8 and characters XML forbids as U+FFFD. */
static void svg_escape(strbuf *out, const char *text)
{
	uint32_t cp;

	for (size_t n; *text; text += n) {
		n = utf8_decode(text, &cp);
		int bad = (n == 1 && (unsigned char)*text >= 0x80) || cp < 0x20 ||
			  cp == 0xfffe || cp == 0xffff;
		if (bad)
			APPEND_LIT(out, "\xef\xbf\xbd");
		else if (cp == '&')
			APPEND_LIT(out, "&amp;");
		else if (cp == '<')
			APPEND_LIT(out, "&lt;");
		else if (cp == '>')
			APPEND_LIT(out, "&gt;");
		else if (cp == '"')
			APPEND_LIT(out, "&quot;");
		else if (cp == '\'')
			APPEND_LIT(out, "&apos;");
		else
			strbuf_append(out, text, n);
	}
}

/* ---- Primitives ---- */

void surf_fill(surface *s, int x, int y, int w, int h, uint32_t rgb)
{
	char c[8];

	if (s->kind == SURF_PNG) {
		raster_fill(s, x, y, w, h, rgb);
		return;
	}
	svg_rgb(c, rgb);
	strbuf_appendf(&s->svg, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n",
		x, y, w, h, c);
}

void surf_frame(surface *s, int x, int y, int w, int h, uint32_t rgb)
{
	char c[8];

	if (s->kind == SURF_PNG) {
		raster_fill(s, x, y, w, 1, rgb);
		raster_fill(s, x, y + h - 1, w, 1, rgb);
		raster_fill(s, x, y, 1, h, rgb);
		raster_fill(s, x + w - 1, y, 1, h, rgb);
		return;
	}
	svg_rgb(c, rgb);
	strbuf_appendf(&s->svg, "<rect x=\"%d.5\" y=\"%d.5\" width=\"%d\" height=\"%d\" fill=\"none\" "
		"stroke=\"%s\" stroke-width=\"1\"/>\n", x, y, w - 1, h - 1, c);
}

void surf_polyline(surface *s, const int *xy, int n, uint32_t rgb, int thick,
		   int dashed)
{
	int phase = 0;
	char c[8];

	if (s->kind == SURF_PNG) {
		for (int i = 1; i < n; i++)
			raster_line(s, xy[2 * i - 2], xy[2 * i - 1], xy[2 * i], xy[2 * i + 1], rgb,
				    thick, dashed ? &phase : NULL);
		return;
	}
	if (n < 2)
		return;
	svg_rgb(c, rgb);
	strbuf_appendf(&s->svg, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%d\" "
		"stroke-linejoin=\"round\"%s points=\"", c, thick,
		dashed ? " stroke-dasharray=\"9 6\"" : "");
	/* the raster draws through pixel centres */
	for (int i = 0; i < n; i++)
		strbuf_appendf(&s->svg, "%s%d.5,%d.5", i ? " " : "", xy[2 * i], xy[2 * i + 1]);
	strbuf_appendf(&s->svg, "\"/>\n");
}

void surf_disc(surface *s, int cx, int cy, int r, uint32_t rgb)
{
	char c[8];

	if (s->kind == SURF_PNG) {
		for (int y = -r; y <= r; y++)
			for (int x = -r; x <= r; x++)
				if (x * x + y * y <= r * r + r)
					blend(s, cx + x, cy + y, rgb, 255);
		return;
	}
	svg_rgb(c, rgb);
	strbuf_appendf(&s->svg, "<circle cx=\"%d.5\" cy=\"%d.5\" r=\"%d.5\" fill=\"%s\"/>\n", cx, cy, r, c);
}

uint32_t colour_at(const uint32_t *stops, int n, double t)
{
	double pos = fmin(fmax(t, 0), 1) * (n - 1);
	int i = (int)pos < n - 1 ? (int)pos : n - 2;
	uint32_t out = 0;

	if (n < 2)
		return n ? stops[0] : 0;
	for (int shift = 16; shift >= 0; shift -= 8) {
		double ca = (stops[i] >> shift) & 0xff, cb = (stops[i + 1] >> shift) & 0xff;
		out |= (uint32_t)lround(ca + (cb - ca) * (pos - i)) << shift;
	}
	return out;
}

void surf_gradient(surface *s, const rect *r, const uint32_t *stops, int n)
{
	char c[8];

	if (s->kind == SURF_PNG) {
		for (int j = 0; j < r->h; j++)
			raster_fill(s, r->x, r->y + j, r->w, 1,
				    colour_at(stops, n, r->h > 1 ? 1.0 - (double)j / (r->h - 1) : 0));
		return;
	}
	int id = ++s->n_clips;
	strbuf_appendf(&s->svg, "<defs><linearGradient id=\"g%d\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">",
		id);
	for (int i = 0; i < n; i++) {
		svg_rgb(c, stops[i]);
		strbuf_appendf(&s->svg, "<stop offset=\"%.4f\" stop-color=\"%s\"/>",
			n > 1 ? (double)i / (n - 1) : 0.0, c);
	}
	strbuf_appendf(&s->svg, "</linearGradient></defs>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" "
		"height=\"%d\" fill=\"url(#g%d)\"/>\n", r->x, r->y, r->w, r->h, id);
}

void surf_group(surface *s, const char *name)
{
	if (s->kind == SURF_SVG)
		strbuf_appendf(&s->svg, "<g class=\"%s\">\n", name);
}

void surf_group_end(surface *s)
{
	if (s->kind == SURF_SVG)
		strbuf_appendf(&s->svg, "</g>\n");
}

void surf_clip(surface *s, const rect *r)
{
	if (s->kind == SURF_PNG) {
		s->cx0 = r->x > 0 ? r->x : 0;
		s->cy0 = r->y > 0 ? r->y : 0;
		s->cx1 = r->x + r->w - 1 < s->w - 1 ? r->x + r->w - 1 : s->w - 1;
		s->cy1 = r->y + r->h - 1 < s->h - 1 ? r->y + r->h - 1 : s->h - 1;
		return;
	}
	int id = ++s->n_clips;
	strbuf_appendf(&s->svg, "<clipPath id=\"c%d\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
		"</clipPath>\n<g clip-path=\"url(#c%d)\">\n", id, r->x, r->y, r->w, r->h, id);
	s->clipped = 1;
}

void surf_unclip(surface *s)
{
	if (s->kind == SURF_PNG) {
		s->cx0 = s->cy0 = 0;
		s->cx1 = s->w - 1;
		s->cy1 = s->h - 1;
	} else if (s->clipped) {
		strbuf_appendf(&s->svg, "</g>\n");
		s->clipped = 0;
	}
}

/* ---- Text ---- */

/* Where a text's pixels go: (x0 + u, y0 + v), or turned up (x0 + v, y0 - 1 - u). */
typedef struct text_pen {
	surface *s;
	int x0, y0, up;
	uint32_t rgb;
} text_pen;

static void pen_put(void *ctx, int u, int v, int alpha)
{
	const text_pen *p = ctx;

	if (p->up)
		blend(p->s, p->x0 + v, p->y0 - 1 - u, p->rgb, alpha);
	else
		blend(p->s, p->x0 + u, p->y0 + v, p->rgb, alpha);
}

static void svg_text(surface *s, int x, int y, const char *text, int size,
		     uint32_t rgb, int flags)
{
	static const char *const anchor[] = { "start", "middle", "end", "start" };
	char c[8];

	svg_rgb(c, rgb);
	if (flags & TEXT_UP)
		strbuf_appendf(&s->svg, "<text transform=\"translate(%d,%d) rotate(-90)\"", x, y);
	else
		strbuf_appendf(&s->svg, "<text x=\"%d\" y=\"%d\"", x, y);
	strbuf_appendf(&s->svg, " font-size=\"%d\" fill=\"%s\" text-anchor=\"%s\"%s>", size, c,
		anchor[flags & ALIGN_MASK], flags & TEXT_BOLD ? " font-weight=\"bold\"" : "");
	svg_escape(&s->svg, text);
	strbuf_appendf(&s->svg, "</text>\n");
}

void surf_text(surface *s, int x, int y, const char *text, int size,
	       uint32_t rgb, int flags)
{
	int cap = font_cap_height(s->font, size), up = !!(flags & TEXT_UP);
	int top = flags & TEXT_MIDDLE ? (up ? x : y) - cap / 2 : (up ? x : y);

	if (s->kind == SURF_SVG) {
		/* SVG places text by its baseline */
		if (up)
			svg_text(s, top + cap, y, text, size, rgb, flags);
		else
			svg_text(s, x, top + cap, text, size, rgb, flags);
		return;
	}
	int w = font_text_width(s->font, text, size, !!(flags & TEXT_BOLD)), align = flags & ALIGN_MASK;
	int shift = align == ALIGN_CENTER ? -w / 2 : align == ALIGN_RIGHT ? -w : 0;
	text_pen pen = { s, up ? top : x + shift, up ? y - shift : top, up, rgb };
	font_draw(s->font, text, size, !!(flags & TEXT_BOLD), pen_put, &pen);
}
