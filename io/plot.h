/* Charts written as PNG or SVG: line charts (training curves, ROC curves)
 * and confusion-matrix heat maps on a white background. Text is UTF-8,
 * drawn anti-aliased in DejaVu Sans through FreeType, or in an embedded
 * bitmap font when no font is installed (see plot_font_path). Plain arrays
 * in; nothing here knows about metrics.
 *
 * The format follows the extension of the path: ".png" (RGB) or ".svg"
 * (text as <text>, lines as <polyline>); any other is -PL_EUSAGE. Both
 * formats of a chart have the same layout. */
#ifndef PL_PLOT_H
#define PL_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* One line of a chart. */
typedef struct plot_series {
	const char *name;      /* legend text; NULL leaves it out of the legend */
	const double *x, *y;   /* n points; a non-finite value breaks the line */
	int n;
	uint32_t color;        /* 0xRRGGBB; 0 picks the next palette colour
	                          (series 10..19 of a chart are then dashed) */
	int dashed;            /* draw dashed */
	int markers;           /* draw a dot at each point */
} plot_series;

/* Legend placement: a corner inside the axes, or right of them (the panel
 * then grows by the legend's width). */
enum { PLOT_LEGEND_UPPER_RIGHT = 0, PLOT_LEGEND_LOWER_RIGHT = 1,
       PLOT_LEGEND_UPPER_LEFT = 2, PLOT_LEGEND_OUTSIDE = 3,
       PLOT_LEGEND_NONE = 4 };

/* One panel with axes, grid, ticks, labels and legend. */
typedef struct plot_chart {
	const char *title, *x_label, *y_label;  /* each may be NULL */
	const plot_series *series;
	int n_series;
	double x_min, x_max, y_min, y_max;      /* NaN = fitted to the data */
	int integer_x;         /* ticks on whole numbers only (epochs) */
	int diagonal;          /* dashed grey y = x line (ROC chance level) */
	int legend;            /* PLOT_LEGEND_* corner */
} plot_chart;

/* One confusion matrix. Cells show the count and the row percentage; the
 * colour follows the row-normalised fraction (recall of the true class). */
typedef struct plot_heatmap {
	const char *title;     /* may be NULL */
	int k;                 /* classes */
	const int64_t *counts; /* k x k, rows = true class, columns = predicted */
	const char *const *labels;  /* k class names */
} plot_heatmap;

/* Draws n charts side by side, each panel_w x panel_h pixels (wider by
 * its legend with PLOT_LEGEND_OUTSIDE), and writes them at path. Legend
 * names longer than 40 characters are shortened. An axis with integer_x
 * and no x_min starts at the smallest x (epoch 1). Returns 0, -PL_EUSAGE
 * for bad sizes or an unknown extension, or the error of the writer. */
int plot_charts(const char *path, const plot_chart *charts, int n,
		int panel_w, int panel_h, pl_err *err);

/* Draws n confusion matrices side by side (panel size follows the number
 * of classes) and writes them at path. */
int plot_heatmaps(const char *path, const plot_heatmap *maps, int n,
		  pl_err *err);

/* The training-curves figure: loss (left) and accuracy (right) per epoch,
 * training and validation. val_loss and val_acc may be NULL (no validation
 * split); a NaN entry is skipped. n >= 1 epochs. */
int plot_training_curves(const char *path, const int *epochs,
			 const double *train_loss, const double *val_loss,
			 const double *train_acc, const double *val_acc, int n,
			 pl_err *err);

/* The font file text is drawn with: copies its path into out (n bytes)
 * and returns 1; or returns 0 when text falls back to the bitmap font (or
 * the path does not fit in n bytes).
 * PIPELINE_FONT, when set, names the file (and a missing or broken one
 * means the bitmap font); else the first of the places fonts-dejavu-core
 * and its equivalents on other systems install DejaVuSans.ttf. */
int plot_font_path(char *out, size_t n);

#endif
