/* Shared between the chart code (io/plot.c), its drawing surface
 * (plot_surface.c) and its text (plot_font.c); not part of the public API.
 * A surface is a raster (PNG) or a vector (SVG) target behind one set of
 * primitives, so both formats of a chart come from the same layout code. */
#ifndef PL_PLOT_PRIV_H
#define PL_PLOT_PRIV_H

#include <stdint.h>

#include "err.h"
#include "strbuf.h"

/* ---- Text (plot_font.c) ---- */

/* The font text is drawn with: a FreeType face, or NULL for the embedded
 * bitmap font. */
typedef struct plot_font plot_font;

/* Opens the font plot_font_path finds; NULL when there is none (the
 * bitmap font is used then). Free with plot_font_free. */
plot_font *plot_font_open(void);
void plot_font_free(plot_font *f);

/* Width in pixels of s at the given pixel size (bold: emboldened). */
int font_text_width(plot_font *f, const char *s, int size, int bold);

/* Height of a capital letter above the baseline at size, in pixels. */
int font_cap_height(plot_font *f, int size);

/* Receives the coverage (1..255) of pixel (u, v) of a text: u grows along
 * the text from its start, v down from the top of its capitals. */
typedef void font_sink(void *ctx, int u, int v, int alpha);

/* Draws s at size into sink, pixel by pixel. */
void font_draw(plot_font *f, const char *s, int size, int bold,
	       font_sink *sink, void *ctx);

/* ---- The surface (plot_surface.c) ---- */

enum { SURF_PNG, SURF_SVG };

typedef struct surface {
	int kind;                   /* SURF_PNG or SURF_SVG */
	int w, h;
	uint8_t *px;                /* PNG: w*h RGB */
	int cx0, cy0, cx1, cy1;     /* PNG: clip rectangle, inclusive */
	strbuf svg;                 /* SVG: the document so far */
	int n_clips, clipped;       /* SVG: clip paths made, one open */
	plot_font *font;
} surface;

typedef struct rect {
	int x, y, w, h;
} rect;

/* Text placement: a horizontal alignment of (x, y), or'ed with flags.
 * y is the top of the capitals, or their middle with TEXT_MIDDLE; TEXT_UP
 * turns the text a quarter counter-clockwise (reading bottom to top, x
 * then at the top of the capitals). */
enum { ALIGN_LEFT = 0, ALIGN_CENTER = 1, ALIGN_RIGHT = 2, ALIGN_MASK = 3,
       TEXT_MIDDLE = 4, TEXT_BOLD = 8, TEXT_UP = 16 };

/* A white w x h surface of the format the extension of path names (.png
 * or .svg), drawing text with font (NULL: the bitmap font), which it
 * takes over, failing or not. Release with surf_release. */
int surf_init(surface *s, const char *path, int w, int h, plot_font *font,
	      pl_err *err);
void surf_release(surface *s);

/* Writes the surface to path (PNG or SVG as it was made). */
int surf_write(surface *s, const char *path, pl_err *err);

void surf_fill(surface *s, int x, int y, int w, int h, uint32_t rgb);
/* A one-pixel outline of the rectangle. */
void surf_frame(surface *s, int x, int y, int w, int h, uint32_t rgb);
/* A line through n points (xy: x0, y0, x1, y1 ...), thick pixels wide;
 * dashed: 9 on, 6 off. */
void surf_polyline(surface *s, const int *xy, int n, uint32_t rgb, int thick,
		   int dashed);
void surf_disc(surface *s, int cx, int cy, int r, uint32_t rgb);
/* A vertical colour scale: stops[0] at the bottom, stops[n - 1] at the top. */
void surf_gradient(surface *s, const rect *r, const uint32_t *stops, int n);
void surf_text(surface *s, int x, int y, const char *text, int size,
	       uint32_t rgb, int flags);
/* SVG: what is drawn until surf_group_end is one <g class="name">. */
void surf_group(surface *s, const char *name);
void surf_group_end(surface *s);
/* What is drawn until surf_unclip stays inside r. */
void surf_clip(surface *s, const rect *r);
void surf_unclip(surface *s);

/* The colour at t (0..1) of a scale through n evenly spaced stops. */
uint32_t colour_at(const uint32_t *stops, int n, double t);

#endif
