/* Tests of io/plot: the PNGs decode with the expected size, are not blank,
 * have axes, text and the series colours, and heat map cells darken as the
 * count grows; bad arguments give clear errors. */
#include "check.h"

#include <math.h>
#include <stdint.h>

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

	CHECK_OK(plot_charts_png("roc.png", &chart, 1, 600, 560, &err), &err);
	if (decode("roc.png", &im) != 0)
		return;
	CHECK(im.w == 600 && im.h == 560, "size %dx%d", im.w, im.h);
	CHECK(count_rgb(&im, 0x999999, 0, im.w) > 200, "no diagonal");
	CHECK(count_rgb(&im, BLUE_RGB, 0, im.w) > 400, "no curve");
	img_release(&im);

	chart.legend = PLOT_LEGEND_OUTSIDE;
	CHECK_OK(plot_charts_png("roc-wide.png", &chart, 1, 600, 560, &err), &err);
	if (decode("roc-wide.png", &im) == 0) {
		CHECK(im.w > 600 + 200, "outside legend did not widen the panel: %d", im.w);
		img_release(&im);
	}
	CHECK(plot_charts_png("x.png", &chart, 0, 600, 560, &err) == -PL_EUSAGE, "no charts");
	CHECK(plot_charts_png("x.png", &chart, 1, 10, 10, &err) == -PL_EUSAGE, "tiny panel");
	CHECK(plot_charts_png("missing/dir/x.png", &chart, 1, 600, 560, &err) < 0,
	      "write into a missing directory succeeded");
}

/* Finds the heat map grid: its frame's top-left corner is the first axis
 * pixel in raster order; the frame's top edge gives the grid width. */
static int find_grid(const img *im, int *gx, int *gy, int *width)
{
	for (int y = 0; y < im->h; y++) {
		for (int x = 0; x < im->w; x++) {
			if (pixel(im, x, y) != AXIS_RGB)
				continue;
			int run = 0;
			while (x + run < im->w && pixel(im, x + run, y) == AXIS_RGB)
				run++;
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

	CHECK_OK(plot_heatmaps_png("cm.png", &hm, 1, &err), &err);
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
	CHECK_OK(plot_heatmaps_png("cm2.png", two, 2, &err), &err);
	img im2 = { 0 };
	if (decode("cm2.png", &im2) == 0 && decode("cm.png", &im) == 0) {
		CHECK(im2.w == 2 * im.w && im2.h == im.h, "two panels %dx%d", im2.w, im2.h);
		img_release(&im);
		img_release(&im2);
	}
	hm.k = 0;
	CHECK(plot_heatmaps_png("bad.png", &hm, 1, &err) == -PL_EUSAGE, "k = 0 accepted");
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
	CHECK_OK(plot_heatmaps_png("many.png", &hm, 1, &err), &err);
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
	CHECK_OK(plot_heatmaps_png("big.png", &hm, 1, &err), &err);
	if (decode("big.png", &im) == 0) {
		CHECK(im.w < 4000 && im.h < 4000, "size %dx%d", im.w, im.h);
		img_release(&im);
	}
	hm.k = 2001;
	CHECK(plot_heatmaps_png("huge.png", &hm, 1, &err) == -PL_EUSAGE, "2001 classes accepted");
	free(big);
	free(big_labels);
}

int main(void)
{
	RUN(test_training_curves);
	RUN(test_roc_chart);
	RUN(test_heatmap);
	RUN(test_heatmap_many_classes);
	return check_report("test_plot");
}
