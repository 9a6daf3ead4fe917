/* Tests of io/plot: the PNGs decode with the expected size, are not blank,
 * have axes, text and the series colours, and heat map cells darken as the
 * count grows; the font is found or the bitmap font takes over; UTF-8
 * labels are drawn as their characters; the SVGs are well-formed and hold
 * the escaped labels; the epoch axis starts at 1; bad arguments give clear
 * errors. */
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "../io/img.h"
#include "../io/plot.h"

#define AXIS_RGB 0x444444u
#define BLUE_RGB 0x1f77b4u     /* first palette colour */
#define ORANGE_RGB 0xff7f0eu   /* second palette colour */

static uint32_t pixel(const img *im, int x, int y)
{
	const float *p = im->px + ((size_t)y * im->w + x) * im->c;

	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | (uint32_t)p[2];
}

static double luma(uint32_t rgb)
{
	return 0.299 * (rgb >> 16) + 0.587 * ((rgb >> 8) & 0xff) + 0.114 * (rgb & 0xff);
}

static double luma_variance(const img *im)
{
	double sum = 0, sum2 = 0, n = (double)im->w * im->h;

	for (int y = 0; y < im->h; y++)
		for (int x = 0; x < im->w; x++) {
			double l = luma(pixel(im, x, y));
			sum += l;
			sum2 += l * l;
		}
	return sum2 / n - (sum / n) * (sum / n);
}

static int count_rgb(const img *im, uint32_t rgb, int x0, int x1)
{
	int n = 0;

	for (int y = 0; y < im->h; y++)
		for (int x = x0; x < x1 && x < im->w; x++)
			n += pixel(im, x, y) == rgb;
	return n;
}

static int count_dark(const img *im, int x0, int x1, int y0, int y1)
{
	int n = 0;

	for (int y = y0; y < y1 && y < im->h; y++)
		for (int x = x0; x < x1 && x < im->w; x++)
			n += luma(pixel(im, x, y)) < 100;
	return n;
}

/* The longest vertical run of axis-coloured pixels in any column. */
static int longest_axis_run(const img *im)
{
	int best = 0;

	for (int x = 0; x < im->w; x++) {
		int run = 0;
		for (int y = 0; y < im->h; y++) {
			run = pixel(im, x, y) == AXIS_RGB ? run + 1 : 0;
			best = run > best ? run : best;
		}
	}
	return best;
}

static int decode(const char *path, img *im)
{
	pl_err err = { 0 };
	int rc = img_decode_file(path, NULL, im, &err);

	CHECK(rc == 0, "%s: %s", path, err.msg);
	return rc;
}

static void test_training_curves(void)
{
	int epochs[12];
	double tl[12], vl[12], ta[12], va[12];
	pl_err err = { 0 };
	img im = { 0 };

	for (int i = 0; i < 12; i++) {
		epochs[i] = i + 1;
		tl[i] = 1.0 / (i + 1);
		vl[i] = 1.2 / (i + 1) + 0.05;
		ta[i] = 1 - tl[i] / 2;
		va[i] = 1 - vl[i] / 2;
	}
	va[5] = NAN;   /* a missing validation value leaves a gap */
	CHECK_OK(plot_training_curves("curves.png", epochs, tl, vl, ta, va, 12, &err), &err);
	if (decode("curves.png", &im) != 0)
		return;
	CHECK(im.w == 1280 && im.h == 480 && im.c == 3, "size %dx%dx%d", im.w, im.h, im.c);
	CHECK(luma_variance(&im) > 100, "nearly blank: variance %g", luma_variance(&im));
	CHECK(longest_axis_run(&im) > 250, "no axis line: longest run %d", longest_axis_run(&im));
	CHECK(count_dark(&im, 0, 96, 40, 400) > 300, "no tick labels left of the loss axis");
	CHECK(count_dark(&im, 200, 500, 0, 40) > 100, "no title");
	CHECK(count_rgb(&im, BLUE_RGB, 0, 640) > 500, "train loss line missing");
	CHECK(count_rgb(&im, ORANGE_RGB, 0, 640) > 500, "validation loss line missing");
	CHECK(count_rgb(&im, ORANGE_RGB, 640, 1280) > 500, "validation accuracy line missing");
	img_release(&im);

	CHECK_OK(plot_training_curves("train-only.png", epochs, tl, NULL, ta, NULL, 12, &err), &err);
	if (decode("train-only.png", &im) != 0)
		return;
	CHECK(count_rgb(&im, ORANGE_RGB, 0, im.w) == 0, "validation drawn without data");
	CHECK(count_rgb(&im, BLUE_RGB, 0, im.w) > 1000, "train lines missing");
	img_release(&im);

	CHECK(plot_training_curves("none.png", epochs, tl, vl, ta, va, 0, &err) == -PL_EUSAGE,
	      "zero epochs accepted");
	CHECK(strstr(err.msg, "none.png") != NULL, "%s", err.msg);
}

static void test_roc_chart(void)
{
	const double fpr[] = { 0, 0, 0.1, 0.4, 1 }, tpr[] = { 0, 0.5, 0.8, 0.95, 1 };
	plot_series curve = { .name = "positive (AUC 0.90)", .x = fpr, .y = tpr, .n = 5 };
	plot_chart chart = {
		.title = "ROC", .x_label = "false positive rate", .y_label = "true positive rate",
		.series = &curve, .n_series = 1, .x_min = 0, .x_max = 1, .y_min = 0, .y_max = 1,
		.diagonal = 1, .legend = PLOT_LEGEND_LOWER_RIGHT,
	};
	pl_err err = { 0 };
	img im = { 0 };

	CHECK_OK(plot_charts("roc.png", &chart, 1, 600, 560, &err), &err);
	if (decode("roc.png", &im) != 0)
		return;
	CHECK(im.w == 600 && im.h == 560, "size %dx%d", im.w, im.h);
	CHECK(count_rgb(&im, 0x999999, 0, im.w) > 200, "no diagonal");
	CHECK(count_rgb(&im, BLUE_RGB, 0, im.w) > 400, "no curve");
	img_release(&im);

	chart.legend = PLOT_LEGEND_OUTSIDE;
	CHECK_OK(plot_charts("roc-wide.png", &chart, 1, 600, 560, &err), &err);
	if (decode("roc-wide.png", &im) == 0) {
		CHECK(im.w > 600 + 200, "outside legend did not widen the panel: %d", im.w);
		img_release(&im);
	}
	CHECK(plot_charts("x.png", &chart, 0, 600, 560, &err) == -PL_EUSAGE, "no charts");
	CHECK(plot_charts("x.png", &chart, 1, 10, 10, &err) == -PL_EUSAGE, "tiny panel");
	CHECK(plot_charts("missing/dir/x.png", &chart, 1, 600, 560, &err) < 0,
	      "write into a missing directory succeeded");
}

/* Finds the heat map grid: its frame's top edge is the first run of axis
 * pixels, in raster order, longer than any text stroke. */
static int find_grid(const img *im, int *gx, int *gy, int *width)
{
	for (int y = 0; y < im->h; y++) {
		for (int x = 0; x < im->w; x++) {
			int run = 0;
			while (x + run < im->w && pixel(im, x + run, y) == AXIS_RGB)
				run++;
			if (run < 60) {
				x += run;
				continue;
			}
			*gx = x + 1;
			*gy = y + 1;
			*width = run - 2;
			return 0;
		}
	}
	return -1;
}

static void test_heatmap(void)
{
	const int64_t counts[] = { 0, 5, 45, 2, 30, 18, 40, 1, 9 };
	const char *labels[] = { "low", "mid, dose", "high" };
	plot_heatmap hm = { "Confusion matrix", 3, counts, labels };
	pl_err err = { 0 };
	img im = { 0 };
	int gx = 0, gy = 0, width = 0;

	CHECK_OK(plot_heatmaps("cm.png", &hm, 1, &err), &err);
	if (decode("cm.png", &im) != 0)
		return;
	CHECK(im.w >= 420 && im.h >= 360 && im.c == 3, "size %dx%d", im.w, im.h);
	CHECK(luma_variance(&im) > 100, "nearly blank");
	CHECK(find_grid(&im, &gx, &gy, &width) == 0 && width > 90, "grid frame not found");
	if (width <= 90 || gx + width >= im.w || gy + width >= im.h) {
		img_release(&im);
		return;
	}
	int cell = width / 3;
	double l0 = luma(pixel(&im, gx + 4, gy + 4));
	double l1 = luma(pixel(&im, gx + cell + 4, gy + 4));
	double l2 = luma(pixel(&im, gx + 2 * cell + 4, gy + 4));
	CHECK(l0 > l1 && l1 > l2, "row 0 colours do not darken with the count: %g %g %g", l0, l1, l2);
	double d2 = luma(pixel(&im, gx + 2 * cell + 4, gy + 2 * cell + 4));
	CHECK(luma(pixel(&im, gx + 4, gy + 2 * cell + 4)) < d2, "row 2: 40 lighter than 9");
	CHECK(count_dark(&im, 0, gx, gy, gy + width) > 200, "no class names left of the grid");
	CHECK(count_dark(&im, gx, gx + width, gy, gy + width) > 300, "no numbers in the cells");
	img_release(&im);

	plot_heatmap two[2] = { hm, hm };
	CHECK_OK(plot_heatmaps("cm2.png", two, 2, &err), &err);
	img im2 = { 0 };
	if (decode("cm2.png", &im2) == 0 && decode("cm.png", &im) == 0) {
		CHECK(im2.w == 2 * im.w && im2.h == im.h, "two panels %dx%d", im2.w, im2.h);
		img_release(&im);
		img_release(&im2);
	}
	hm.k = 0;
	CHECK(plot_heatmaps("bad.png", &hm, 1, &err) == -PL_EUSAGE, "k = 0 accepted");
}

/* Many classes, long and non-ASCII names: still a picture. */
static void test_heatmap_many_classes(void)
{
	enum { K = 14 };
	int64_t counts[K * K];
	const char *labels[K];
	char names[K][64];
	pl_err err = { 0 };
	img im = { 0 };

	for (int i = 0; i < K; i++) {
		snprintf(names[i], sizeof(names[i]), i == 3 ? "caf\xc3\xa9 %d" :
			 "a rather long class name number %d", i);
		labels[i] = names[i];
		for (int j = 0; j < K; j++)
			counts[i * K + j] = i == j ? 50 : (i + j) % 3;
	}
	plot_heatmap hm = { NULL, K, counts, labels };
	CHECK_OK(plot_heatmaps("many.png", &hm, 1, &err), &err);
	if (decode("many.png", &im) == 0) {
		CHECK(im.w > 600 && im.h > 600, "size %dx%d", im.w, im.h);
		CHECK(luma_variance(&im) > 100, "nearly blank");
		img_release(&im);
	}

	/* hundreds of classes: a colour grid without labels, still bounded */
	enum { BIG = 300 };
	int64_t *big = calloc(BIG * BIG, sizeof(int64_t));
	const char **big_labels = calloc(BIG, sizeof(char *));
	for (int i = 0; big && big_labels && i < BIG; i++) {
		big[i * BIG + i] = 10;
		big[i * BIG + (i + 1) % BIG] = 3;
		big_labels[i] = "class";
	}
	hm = (plot_heatmap){ "big", BIG, big, big_labels };
	CHECK_OK(plot_heatmaps("big.png", &hm, 1, &err), &err);
	if (decode("big.png", &im) == 0) {
		CHECK(im.w < 4000 && im.h < 4000, "size %dx%d", im.w, im.h);
		img_release(&im);
	}
	hm.k = 2001;
	CHECK(plot_heatmaps("huge.png", &hm, 1, &err) == -PL_EUSAGE, "2001 classes accepted");
	free(big);
	free(big_labels);
}

#define DEJAVU "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

/* Distinct colours in a rectangle: anti-aliased text has many greys. */
static int count_colours(const img *im, int x0, int x1, int y0, int y1)
{
	static uint32_t seen[4096];
	int n = 0;

	for (int y = y0; y < y1 && y < im->h; y++)
		for (int x = x0; x < x1 && x < im->w; x++) {
			uint32_t c = pixel(im, x, y);
			int known = 0;
			for (int i = 0; i < n && !known; i++)
				known = seen[i] == c;
			if (!known && n < 4096)
				seen[n++] = c;
		}
	return n;
}

/* Pixels that differ between two images of the same size; -1 when the
 * sizes differ or one does not decode. */
static long pixels_differing(const char *a, const char *b)
{
	img ia = { 0 }, ib = { 0 };
	long n = -1;

	if (decode(a, &ia) == 0 && decode(b, &ib) == 0 && ia.w == ib.w && ia.h == ib.h) {
		n = 0;
		for (int y = 0; y < ia.h; y++)
			for (int x = 0; x < ia.w; x++)
				n += pixel(&ia, x, y) != pixel(&ib, x, y);
	}
	img_release(&ia);
	img_release(&ib);
	return n;
}

/* A one-panel chart whose title is the text under test. */
static int title_chart(const char *path, const char *title, pl_err *err)
{
	const double x[] = { 0, 1 }, y[] = { 0, 1 };
	plot_series line = { .name = title, .x = x, .y = y, .n = 2 };
	plot_chart chart = {
		.title = title, .x_label = title, .series = &line, .n_series = 1,
		.x_min = 0, .x_max = 1, .y_min = 0, .y_max = 1, .legend = PLOT_LEGEND_UPPER_LEFT,
	};
	return plot_charts(path, &chart, 1, 480, 320, err);
}

static void test_font_found(void)
{
	char path[4096];
	pl_err err = { 0 };
	img im = { 0 };

	unsetenv("PIPELINE_FONT");
	if (access(DEJAVU, R_OK) == 0) {
		CHECK(plot_font_path(path, sizeof(path)) == 1 && strcmp(path, DEJAVU) == 0,
		      "installed DejaVu Sans not found: '%s'", path);
		CHECK_OK(title_chart("ft.png", "Loss per epoch", &err), &err);
		if (decode("ft.png", &im) == 0) {
			CHECK(count_colours(&im, 0, im.w, 0, 40) > 12,
			      "title not anti-aliased: %d colours", count_colours(&im, 0, im.w, 0, 40));
			img_release(&im);
		}
	}
	setenv("PIPELINE_FONT", DEJAVU, 1);
	CHECK(plot_font_path(path, sizeof(path)) == (access(DEJAVU, R_OK) == 0),
	      "PIPELINE_FONT=%s: '%s'", DEJAVU, path);
	CHECK(plot_font_path(path, 4) == 0, "a path longer than the buffer was reported");

	/* PIPELINE_FONT naming no font: the bitmap font, and still a good PNG */
	FILE *f = fopen("not-a-font.ttf", "w");
	CHECK(f && fputs("plain text\n", f) >= 0 && fclose(f) == 0, "cannot write not-a-font.ttf");
	setenv("PIPELINE_FONT", "not-a-font.ttf", 1);
	CHECK(plot_font_path(path, sizeof(path)) == 0, "a text file taken as font: '%s'", path);
	setenv("PIPELINE_FONT", "/nonexistent", 1);
	CHECK(plot_font_path(path, sizeof(path)) == 0 && path[0] == '\0',
	      "missing PIPELINE_FONT gave '%s'", path);
	CHECK_OK(title_chart("bitmap.png", "Loss per epoch", &err), &err);
	if (decode("bitmap.png", &im) == 0) {
		CHECK(im.w == 480 && im.h == 320 && im.c == 3, "size %dx%d", im.w, im.h);
		CHECK(count_dark(&im, 0, im.w, 0, 40) > 100, "no title in the bitmap font");
		CHECK(count_colours(&im, 0, im.w, 0, 40) <= 3,
		      "bitmap title has %d colours", count_colours(&im, 0, im.w, 0, 40));
		img_release(&im);
	}
	if (access(DEJAVU, R_OK) == 0)
		CHECK(pixels_differing("bitmap.png", "ft.png") > 500,
		      "the bitmap font draws like the real one");
	unsetenv("PIPELINE_FONT");
}

/* Non-ASCII names are drawn as their characters, not as '?'. */
static void check_utf8_text(const char *font)
{
	pl_err err = { 0 };

	if (font)
		setenv("PIPELINE_FONT", font, 1);
	else
		unsetenv("PIPELINE_FONT");
	CHECK_OK(title_chart("utf8.png", "caf\xc3\xa9 Zellkern_\xc2\xb5m", &err), &err);
	CHECK_OK(title_chart("ascii.png", "caf? Zellkern_?m", &err), &err);
	CHECK_OK(title_chart("bare.png", "cafe Zellkern_um", &err), &err);
	CHECK_OK(title_chart("bad.png", "caf\xe9 Zellkern_\xb5m", &err), &err);
	CHECK(pixels_differing("utf8.png", "ascii.png") > 20,
	      "font %s: 'caf\xc3\xa9' drawn as 'caf?' (%ld pixels differ)", font ? font : "found",
	      pixels_differing("utf8.png", "ascii.png"));
	if (font && strcmp(font, "/nonexistent") == 0)
		CHECK(pixels_differing("utf8.png", "bare.png") == 0,
		      "bitmap font: accented letters not drawn bare");
	else
		CHECK(pixels_differing("utf8.png", "bare.png") > 20, "accents not drawn");
	unsetenv("PIPELINE_FONT");
}

static void test_utf8_labels(void)
{
	if (access(DEJAVU, R_OK) == 0)
		check_utf8_text(NULL);
	check_utf8_text("/nonexistent");
}

static int count_str(const char *s, const char *what)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* Whether Python's XML parser takes the file. */
static int xml_well_formed(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -c 'import sys, xml.dom.minidom as m; "
		 "m.parse(sys.argv[1])' '%s' 2>/dev/null", path);
	return system(cmd) == 0;
}

static void test_svg(void)
{
	const int64_t counts[] = { 8, 2, 0, 1, 9, 0, 0, 3, 7 };
	const char *labels[] = { "caf\xc3\xa9", "a<b & \"c\"", "Zellkern_\xc2\xb5m" };
	plot_heatmap hm = { "Confusion <matrix>", 3, counts, labels };
	int epochs[] = { 1, 2, 3 };
	double loss[] = { 0.9, 0.5, 0.3 }, acc[] = { 0.5, 0.7, 0.8 };
	pl_err err = { 0 };
	size_t len;
	char *svg;

	CHECK_OK(plot_heatmaps("cm.svg", &hm, 1, &err), &err);
	CHECK(xml_well_formed("cm.svg"), "cm.svg is not well-formed XML");
	svg = check_slurp("cm.svg", &len);
	CHECK(svg && strncmp(svg, "<?xml", 5) == 0 && strstr(svg, "<svg "), "not an SVG");
	if (svg) {
		CHECK(strstr(svg, ">caf\xc3\xa9</text>") != NULL, "label caf\xc3\xa9 missing");
		CHECK(strstr(svg, ">Zellkern_\xc2\xb5m</text>") != NULL, "label Zellkern missing");
		CHECK(strstr(svg, ">a&lt;b &amp; &quot;c&quot;</text>") != NULL, "label not escaped");
		CHECK(strstr(svg, ">Confusion &lt;matrix&gt;</text>") != NULL, "title not escaped");
		CHECK(strstr(svg, "<b &") == NULL, "raw markup in the SVG");
		/* each name twice (rows, columns), 9 cells of two lines bar 4 zeros */
		CHECK(count_str(svg, "<text") >= 6 + 14, "%d texts", count_str(svg, "<text"));
	}
	free(svg);

	/* a name that is not UTF-8 still gives well-formed XML */
	labels[0] = "caf\xe9\x01";
	CHECK_OK(plot_heatmaps("bad.svg", &hm, 1, &err), &err);
	CHECK(xml_well_formed("bad.svg"), "bad.svg is not well-formed XML");

	CHECK_OK(plot_training_curves("curves.svg", epochs, loss, loss, acc, acc, 3, &err), &err);
	CHECK(xml_well_formed("curves.svg"), "curves.svg is not well-formed XML");
	svg = check_slurp("curves.svg", &len);
	CHECK(svg && count_str(svg, "<polyline") >= 4 + 4, "lines are not polylines");
	free(svg);
	CHECK(plot_training_curves("curves.pdf", epochs, loss, loss, acc, acc, 3, &err) == -PL_EUSAGE,
	      "unknown format accepted");
	CHECK(strstr(err.msg, "curves.pdf") != NULL, "%s", err.msg);
}

/* The text of the first <text> after marker in svg, into out. */
static void first_text_after(const char *svg, const char *marker, char *out, size_t n)
{
	const char *p = svg ? strstr(svg, marker) : NULL;

	out[0] = '\0';
	if (p && (p = strstr(p, "<text")) && (p = strchr(p, '>'))) {
		size_t len = strcspn(p + 1, "<");
		snprintf(out, n, "%.*s", (int)len, p + 1);
	}
}

/* The first column, in [x0, x1), of a vertical axis line. */
static int axis_column(const img *im, int x0, int x1)
{
	for (int x = x0; x < x1; x++) {
		int run = 0;
		for (int y = 0; y < im->h && run < 250; y++)
			run = pixel(im, x, y) == AXIS_RGB ? run + 1 : 0;
		if (run >= 250)
			return x;
	}
	return -1;
}

static void test_epoch_axis(void)
{
	int epochs[12];
	double loss[12], acc[12];
	pl_err err = { 0 };
	img im = { 0 };
	char first[32];
	size_t len;

	for (int i = 0; i < 12; i++) {
		epochs[i] = i + 1;
		loss[i] = 1.0 / (i + 1);
		acc[i] = 1 - loss[i] / 2;
	}
	CHECK_OK(plot_training_curves("curves.svg", epochs, loss, NULL, acc, NULL, 12, &err), &err);
	char *svg = check_slurp("curves.svg", &len);
	first_text_after(svg, "<g class=\"x-ticks\">", first, sizeof(first));
	CHECK(strcmp(first, "1") == 0, "first epoch tick is '%s'", first);
	CHECK(svg && !strstr(svg, ">0</text>"), "an epoch 0 tick");
	free(svg);

	/* the first marker (epoch 1) sits on the left edge of the axes */
	CHECK_OK(plot_training_curves("curves.png", epochs, loss, NULL, acc, NULL, 12, &err), &err);
	if (decode("curves.png", &im) != 0)
		return;
	int axis_x = axis_column(&im, 0, 640), blue_x = -1;
	for (int x = 0; x < 640 && blue_x < 0; x++)
		for (int y = 0; y < im.h && blue_x < 0; y++)
			blue_x = pixel(&im, x, y) == BLUE_RGB ? x : -1;
	CHECK(axis_x > 0 && blue_x >= axis_x - 5 && blue_x <= axis_x + 1,
	      "epoch 1 at x %d, axis at x %d", blue_x, axis_x);
	img_release(&im);

	/* one epoch: an axis from 1, no tick at 0 */
	CHECK_OK(plot_training_curves("one.svg", epochs, loss, NULL, acc, NULL, 1, &err), &err);
	svg = check_slurp("one.svg", &len);
	first_text_after(svg, "<g class=\"x-ticks\">", first, sizeof(first));
	CHECK(strcmp(first, "1") == 0, "one epoch: first tick '%s'", first);
	free(svg);
}

int main(void)
{
	RUN(test_training_curves);
	RUN(test_roc_chart);
	RUN(test_heatmap);
	RUN(test_heatmap_many_classes);
	RUN(test_font_found);
	RUN(test_utf8_labels);
	RUN(test_svg);
	RUN(test_epoch_axis);
	return check_report("test_plot");
}
