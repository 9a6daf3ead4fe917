/* Charts for the reports, as PNG or SVG: line charts with ticks, grid and
 * legend, and confusion-matrix heat maps, laid out once and drawn on a
 * surface of either format (plot_surface.c; text in plot_font.c). */
#include "plot.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot_priv.h"
#include "utf8.h"

#define C_WHITE 0xffffff
#define C_TEXT 0x222222
#define C_AXIS 0x444444
#define C_GRID 0xe6e6e6
#define C_MUTED 0x999999

/* Text sizes in pixels (the em of the font). */
#define TEXT_SIZE 16
#define TEXT_SMALL 12
#define TEXT_TITLE 18

#define MARKER_R 4

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
#define N_BLUES ((int)(sizeof(blues) / sizeof(*blues)))

static int text_width(plot_font *f, const char *s, int size)
{
	return font_text_width(f, s, size, 0);
}

/* The first n characters of s into out (size bytes), cut on a character
 * boundary; returns the bytes copied. */
static size_t utf8_prefix(char *out, size_t size, const char *s, int n)
{
	size_t len = 0;
	uint32_t cp;

	while (s[len] && n-- > 0) {
		size_t step = utf8_decode(s + len, &cp);
		if (len + step >= size)
			break;
		len += step;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return len;
}

/* ---- Line charts ---- */

/* Axis range and tick step; lo/hi fixed when the chart gives them.
 * from_data: the axis starts at the smallest value (epoch 1), not at a
 * multiple of the step before it. */
typedef struct axis {
	double lo, hi, step;
	int from_data;
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

	a->from_data = integer && !isfinite(want_lo) && isfinite(lo);
	if (!isfinite(lo) || !isfinite(hi)) {
		lo = 0;
		hi = 1;
	}
	if (hi - lo < 1e-12 * (fabs(lo) + fabs(hi)) || hi <= lo) {
		double pad = a->from_data ? 1 : fabs(lo) > 0 ? fabs(lo) * 0.1 : 0.5;
		lo -= isfinite(want_lo) || a->from_data ? 0 : pad;
		hi += pad;
	}
	a->step = nice_step(hi - lo, target, integer);
	a->lo = isfinite(want_lo) || a->from_data ? lo : floor(lo / a->step + 1e-9) * a->step;
	a->hi = isfinite(want_hi) ? hi : ceil(hi / a->step - 1e-9) * a->step;
}

#define MAX_TICKS 64

/* The tick values of a: the multiples of the step inside it, and with
 * from_data its start too (a multiple closer than half a step to the
 * start then gives way). Returns how many. */
static int axis_ticks(const axis *a, double *v)
{
	double eps = a->step * 1e-9, t = ceil(a->lo / a->step - 1e-9) * a->step;
	int n = 0;

	if (a->from_data && t - a->lo > eps) {
		v[n++] = a->lo;
		if (t - a->lo < a->step / 2 - eps)
			t += a->step;
	}
	for (; t <= a->hi + eps && n < MAX_TICKS; t += a->step)
		v[n++] = fabs(t) < eps ? 0.0 : t;
	return n;
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

static void tick_label(char *out, size_t size, const axis *a, double v)
{
	snprintf(out, size, "%.*f", step_decimals(a->step), v);
}

/* The widest tick label of a, in pixels. */
static int tick_labels_width(plot_font *f, const axis *a)
{
	double ticks[MAX_TICKS];
	char label[32];
	int n = axis_ticks(a, ticks), w = 0;

	for (int i = 0; i < n; i++) {
		tick_label(label, sizeof(label), a, ticks[i]);
		w = text_width(f, label, TEXT_SIZE) > w ? text_width(f, label, TEXT_SIZE) : w;
	}
	return w;
}

static void grid_and_ticks(surface *s, const rect *r, const axis *ax,
			   const axis *ay)
{
	double ticks[MAX_TICKS];
	char label[32];
	int n = axis_ticks(ax, ticks);

	surf_group(s, "x-ticks");
	for (int i = 0; i < n; i++) {
		int x = px_x(r, ax, ticks[i]);
		surf_fill(s, x, r->y, 1, r->h, C_GRID);
		surf_fill(s, x, r->y + r->h, 1, 6, C_AXIS);
		tick_label(label, sizeof(label), ax, ticks[i]);
		surf_text(s, x, r->y + r->h + 12, label, TEXT_SIZE, C_TEXT, ALIGN_CENTER);
	}
	surf_group_end(s);
	n = axis_ticks(ay, ticks);
	surf_group(s, "y-ticks");
	for (int i = 0; i < n; i++) {
		int y = px_y(r, ay, ticks[i]);
		surf_fill(s, r->x, y, r->w, 1, C_GRID);
		surf_fill(s, r->x - 6, y, 6, 1, C_AXIS);
		tick_label(label, sizeof(label), ay, ticks[i]);
		surf_text(s, r->x - 10, y, label, TEXT_SIZE, C_TEXT, ALIGN_RIGHT | TEXT_MIDDLE);
	}
	surf_group_end(s);
}

static uint32_t series_color(const plot_series *se, int index)
{
	return se->color ? se->color : palette[index % 10];
}

/* The pixel of point i of se, far-out values pulled in (clipping does
 * the rest); 0 when the point is missing. */
static int series_point(const rect *r, const axis *ax, const axis *ay,
			const plot_series *se, int i, int *xy)
{
	if (!isfinite(se->x[i]) || !isfinite(se->y[i]))
		return 0;
	double xv = fmin(fmax(se->x[i], ax->lo - 4 * (ax->hi - ax->lo)), ax->hi + 4 * (ax->hi - ax->lo));
	double yv = fmin(fmax(se->y[i], ay->lo - 4 * (ay->hi - ay->lo)), ay->hi + 4 * (ay->hi - ay->lo));
	xy[0] = px_x(r, ax, xv);
	xy[1] = px_y(r, ay, yv);
	return 1;
}

/* The series as one polyline per run of points without a gap, then its
 * markers (which may reach past the axes by their radius). */
static void draw_series(surface *s, const rect *r, const axis *ax,
			const axis *ay, const plot_series *se, uint32_t rgb,
			int dashed)
{
	int *xy = malloc((size_t)(se->n > 0 ? se->n : 1) * 2 * sizeof(int)), n = 0;
	rect near = { r->x - MARKER_R - 1, r->y - MARKER_R - 1, r->w + 2 * MARKER_R + 2,
		      r->h + 2 * MARKER_R + 2 };

	if (!xy)
		return;
	surf_clip(s, r);
	for (int i = 0; i <= se->n; i++) {
		if (i < se->n && series_point(r, ax, ay, se, i, xy + 2 * n)) {
			n++;
			continue;
		}
		surf_polyline(s, xy, n, rgb, 3, dashed);
		n = 0;
	}
	surf_unclip(s);
	if (se->markers) {
		surf_clip(s, &near);
		for (int i = 0; i < se->n; i++)
			if (series_point(r, ax, ay, se, i, xy))
				surf_disc(s, xy[0], xy[1], MARKER_R, rgb);
		surf_unclip(s);
	}
	free(xy);
}

/* The legend text of a series, shortened to 40 characters. */
static void legend_name(char *out, size_t size, const char *name)
{
	size_t len = utf8_prefix(out, size, name, 40);

	if (name[len] || len + 1 >= size) {
		len = utf8_prefix(out, size - 2, name, 38);
		memcpy(out + len, "..", 3);
	}
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

#define LEGEND_ROW 24

/* Width and height of the legend box; 0 when there is none. */
static void legend_size(plot_font *f, const plot_chart *ch, int *w, int *h)
{
	char name[256];
	int n = 0;

	*w = *h = 0;
	if (ch->legend == PLOT_LEGEND_NONE)
		return;
	for (int s = 0; s < ch->n_series; s++) {
		if (!ch->series[s].name || !series_has_data(&ch->series[s]))
			continue;
		legend_name(name, sizeof(name), ch->series[s].name);
		int tw = text_width(f, name, TEXT_SIZE);
		*w = tw > *w ? tw : *w;
		n++;
	}
	if (n == 0) {
		*w = 0;
		return;
	}
	*w += 60;
	*h = n * LEGEND_ROW + 12;
}

static void legend(surface *s, const rect *r, const plot_chart *ch)
{
	char name[256];
	int w, h, x, y;

	legend_size(s->font, ch, &w, &h);
	if (w == 0)
		return;
	x = ch->legend == PLOT_LEGEND_UPPER_LEFT ? r->x + 12 :
	    ch->legend == PLOT_LEGEND_OUTSIDE ? r->x + r->w + 20 : r->x + r->w - w - 12;
	y = ch->legend == PLOT_LEGEND_LOWER_RIGHT ? r->y + r->h - h - 12 :
	    ch->legend == PLOT_LEGEND_OUTSIDE ? r->y : r->y + 12;
	surf_group(s, "legend");
	surf_fill(s, x, y, w, h, C_WHITE);
	surf_frame(s, x, y, w, h, 0xcccccc);
	y += 6 + LEGEND_ROW / 2;
	for (int i = 0; i < ch->n_series; i++) {
		const plot_series *se = &ch->series[i];
		uint32_t rgb = series_color(se, i);
		if (!se->name || !series_has_data(se))
			continue;
		int sample[4] = { x + 10, y, x + 40, y };
		surf_polyline(s, sample, 2, rgb, 3, series_dashed(se, i));
		if (se->markers)
			surf_disc(s, x + 25, y, MARKER_R, rgb);
		legend_name(name, sizeof(name), se->name);
		surf_text(s, x + 50, y, name, TEXT_SIZE, C_TEXT, ALIGN_LEFT | TEXT_MIDDLE);
		y += LEGEND_ROW;
	}
	surf_group_end(s);
}

/* The panel width of a chart: the base width plus an outside legend. */
static int chart_width(plot_font *f, const plot_chart *ch, int panel_w)
{
	int w, h;

	if (ch->legend != PLOT_LEGEND_OUTSIDE)
		return panel_w;
	legend_size(f, ch, &w, &h);
	return panel_w + (w ? w + 24 : 0);
}

static void chart_labels(surface *s, const rect *panel, const rect *r,
			 const plot_chart *ch)
{
	surf_group(s, "labels");
	if (ch->title)
		surf_text(s, r->x + r->w / 2, panel->y + 18, ch->title, TEXT_TITLE, C_TEXT,
			  ALIGN_CENTER | TEXT_BOLD);
	if (ch->x_label)
		surf_text(s, r->x + r->w / 2, r->y + r->h + 44, ch->x_label, TEXT_SIZE, C_TEXT,
			  ALIGN_CENTER);
	if (ch->y_label)
		surf_text(s, panel->x + 14, r->y + r->h / 2, ch->y_label, TEXT_SIZE, C_TEXT,
			  ALIGN_CENTER | TEXT_UP);
	surf_group_end(s);
}

static void draw_chart(surface *s, const rect *panel, const plot_chart *ch,
		       int base_w)
{
	rect r = { 0, panel->y + 56, 0, panel->h - 56 - 84 };
	axis ax, ay;
	double lo, hi;

	data_range(ch, 0, &lo, &hi);
	axis_fit(&ay, ch->y_min, ch->y_max, lo, hi, r.h / 90 + 1, 0);
	/* y title, gap, tick labels, gap, tick marks */
	int margin = 14 + 18 + 14 + tick_labels_width(s->font, &ay) + 10;
	r.x = panel->x + margin;
	r.w = base_w - margin - 28;
	data_range(ch, 1, &lo, &hi);
	axis_fit(&ax, ch->x_min, ch->x_max, lo, hi, r.w / 110 + 1, ch->integer_x);
	chart_labels(s, panel, &r, ch);
	grid_and_ticks(s, &r, &ax, &ay);
	if (ch->diagonal) {
		int chance[4] = { px_x(&r, &ax, 0), px_y(&r, &ay, 0), px_x(&r, &ax, 1),
				  px_y(&r, &ay, 1) };
		surf_clip(s, &r);
		surf_polyline(s, chance, 2, C_MUTED, 2, 1);
		surf_unclip(s);
	}
	surf_group(s, "series");
	for (int i = 0; i < ch->n_series; i++)
		draw_series(s, &r, &ax, &ay, &ch->series[i], series_color(&ch->series[i], i),
			    series_dashed(&ch->series[i], i));
	surf_group_end(s);
	surf_frame(s, r.x - 1, r.y - 1, r.w + 2, r.h + 2, C_AXIS);
	legend(s, &r, ch);
}

int plot_charts(const char *path, const plot_chart *charts, int n,
		int panel_w, int panel_h, pl_err *err)
{
	plot_font *font;
	surface s;
	int rc, w = 0;

	if (n < 1 || n > 16 || panel_w < 240 || panel_h < 200)
		return pl_errorf(err, PL_EUSAGE, "plot '%s': %d panels of %dx%d (need 1..16 of >= 240x200)",
				 path, n, panel_w, panel_h);
	font = plot_font_open();
	for (int i = 0; i < n; i++)
		w += chart_width(font, &charts[i], panel_w);
	rc = surf_init(&s, path, w, panel_h, font, err);
	for (int i = 0, x = 0; rc == 0 && i < n; i++) {
		rect panel = { x, 0, chart_width(font, &charts[i], panel_w), panel_h };
		draw_chart(&s, &panel, &charts[i], panel_w);
		x += panel.w;
	}
	if (rc == 0)
		rc = surf_write(&s, path, err);
	surf_release(&s);
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
	rc = plot_charts(path, charts, 2, 640, 480, err);
	free(x);
	return rc;
}

/* ---- Confusion-matrix heat maps ---- */

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

static void heat_layout_of(plot_font *f, const plot_heatmap *hm, heat_layout *lay)
{
	int k = hm->k;

	lay->cell = k <= 4 ? 120 : k <= 8 ? 84 : k <= 16 ? 48 : k <= 40 ? 28 :
		    k <= 1000 ? 1200 / k + 1 : 2;
	lay->label_w = 0;
	for (int c = 0; c < k && lay->cell >= HEAT_LABEL_MIN; c++) {
		int w = text_width(f, hm->labels[c], TEXT_SIZE);
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

static void heat_cell(surface *s, int x, int y, int cell, int64_t count,
		      double frac)
{
	char line1[32], line2[32];
	uint32_t bg = colour_at(blues, N_BLUES, frac), fg = frac > 0.45 ? C_WHITE : C_TEXT;
	int size = cell >= 84 ? TEXT_SIZE : TEXT_SMALL, mid = x + cell / 2;

	surf_fill(s, x, y, cell, cell, bg);
	if (cell < HEAT_LABEL_MIN)
		return;   /* too small for a border or numbers */
	surf_frame(s, x, y, cell, cell, C_WHITE);
	snprintf(line1, sizeof(line1), "%lld", (long long)count);
	snprintf(line2, sizeof(line2), "%.1f%%", 100 * frac);
	if (count == 0) {
		surf_text(s, mid, y + cell / 2, line1, size, C_MUTED, ALIGN_CENTER | TEXT_MIDDLE);
		return;
	}
	if (text_width(s->font, line2, size) > cell - 4) {
		if (text_width(s->font, line1, TEXT_SMALL) <= cell - 4)
			surf_text(s, mid, y + cell / 2, line1, TEXT_SMALL, fg,
				  ALIGN_CENTER | TEXT_MIDDLE);
		return;
	}
	int cap = font_cap_height(s->font, size), gap = cap / 2 + 2;
	int y0 = y + (cell - 2 * cap - gap) / 2;
	surf_text(s, mid, y0, line1, size, fg, ALIGN_CENTER | TEXT_BOLD);
	surf_text(s, mid, y0 + cap + gap, line2, size, fg, ALIGN_CENTER);
}

/* Class name clipped to the label area (a long name ends in ".."). */
static void class_label(plot_font *f, char *out, size_t size, const char *name,
			int max_w)
{
	size_t len = utf8_prefix(out, size, name, INT_MAX);
	int n = 0;
	uint32_t cp;

	if (!name[len] && text_width(f, out, TEXT_SIZE) <= max_w)
		return;
	for (const char *p = out; *p; n++)
		p += utf8_decode(p, &cp);
	for (; n > 1; n--) {
		len = utf8_prefix(out, size - 2, name, n - 1);
		memcpy(out + len, "..", 3);
		if (text_width(f, out, TEXT_SIZE) <= max_w)
			return;
	}
}

static void heat_labels(surface *s, const rect *panel, const plot_heatmap *hm,
			const heat_layout *lay)
{
	int gx = panel->x + lay->left, gy = panel->y + lay->top, k = hm->k;
	int grid = k * lay->cell;
	char name[256];

	surf_group(s, "labels");
	for (int i = 0; i < k && lay->cell >= HEAT_LABEL_MIN; i++) {
		int mid = i * lay->cell + lay->cell / 2;
		class_label(s->font, name, sizeof(name), hm->labels[i], lay->label_w);
		surf_text(s, gx - 10, gy + mid, name, TEXT_SIZE, C_TEXT, ALIGN_RIGHT | TEXT_MIDDLE);
		if (lay->vertical)
			surf_text(s, gx + mid, gy + grid + 10, name, TEXT_SIZE, C_TEXT,
				  ALIGN_RIGHT | TEXT_MIDDLE | TEXT_UP);
		else
			surf_text(s, gx + mid, gy + grid + 12, name, TEXT_SIZE, C_TEXT, ALIGN_CENTER);
	}
	int below = lay->vertical ? lay->label_w + 22 : 38;
	surf_text(s, gx + grid / 2, gy + grid + below, "predicted", TEXT_SIZE, C_TEXT, ALIGN_CENTER);
	surf_text(s, panel->x + 16, gy + grid / 2, "true", TEXT_SIZE, C_TEXT,
		  ALIGN_CENTER | TEXT_UP);
	if (hm->title)
		surf_text(s, panel->x + panel->w / 2, panel->y + 18, hm->title, TEXT_TITLE, C_TEXT,
			  ALIGN_CENTER | TEXT_BOLD);
	surf_group_end(s);
}

/* The colour bar right of the grid: 0 % at the bottom, 100 % at the top. */
static void colour_bar(surface *s, int x, int y, int h)
{
	rect bar = { x, y, 20, h };

	surf_group(s, "colour-bar");
	surf_gradient(s, &bar, blues, N_BLUES);
	surf_frame(s, x - 1, y - 1, 22, h + 2, C_AXIS);
	for (int t = 0; t <= 4; t++) {
		char label[16];
		int ty = y + (h - 1) - (h - 1) * t / 4;
		surf_fill(s, x + 21, ty, 5, 1, C_AXIS);
		snprintf(label, sizeof(label), "%d%%", 25 * t);
		surf_text(s, x + 30, ty, label, TEXT_SIZE, C_TEXT, ALIGN_LEFT | TEXT_MIDDLE);
	}
	surf_group_end(s);
}

static void draw_heatmap(surface *s, const rect *panel, const plot_heatmap *hm,
			 const heat_layout *lay)
{
	int gx = panel->x + lay->left, gy = panel->y + lay->top, k = hm->k;

	surf_group(s, "cells");
	for (int i = 0; i < k; i++) {
		int64_t row = 0;
		for (int j = 0; j < k; j++)
			row += hm->counts[(size_t)i * k + j];
		for (int j = 0; j < k; j++) {
			int64_t v = hm->counts[(size_t)i * k + j];
			heat_cell(s, gx + j * lay->cell, gy + i * lay->cell, lay->cell, v,
				  row > 0 ? (double)v / (double)row : 0);
		}
	}
	surf_group_end(s);
	surf_frame(s, gx - 1, gy - 1, k * lay->cell + 2, k * lay->cell + 2, C_AXIS);
	heat_labels(s, panel, hm, lay);
	colour_bar(s, gx + k * lay->cell + 24, gy, k * lay->cell);
}

int plot_heatmaps(const char *path, const plot_heatmap *maps, int n,
		  pl_err *err)
{
	heat_layout lay[8];
	plot_font *font;
	surface s;
	int w = 0, h = 0, rc;

	if (n < 1 || n > 8)
		return pl_errorf(err, PL_EUSAGE, "plot '%s': %d heat maps (1..8 allowed)", path, n);
	for (int i = 0; i < n; i++)
		if (maps[i].k < 1 || maps[i].k > 2000)
			return pl_errorf(err, PL_EUSAGE, "plot '%s': %d classes (1..2000 allowed)",
					 path, maps[i].k);
	font = plot_font_open();
	for (int i = 0; i < n; i++) {
		heat_layout_of(font, &maps[i], &lay[i]);
		w += lay[i].w;
		h = lay[i].h > h ? lay[i].h : h;
	}
	rc = surf_init(&s, path, w, h, font, err);
	for (int i = 0, x = 0; rc == 0 && i < n; x += lay[i].w, i++) {
		rect panel = { x, 0, lay[i].w, h };
		draw_heatmap(&s, &panel, &maps[i], &lay[i]);
	}
	if (rc == 0)
		rc = surf_write(&s, path, err);
	surf_release(&s);
	return rc;
}
