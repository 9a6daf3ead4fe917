/* Tests of stages/synth.h: source parsing, the plate layout and metadata,
 * byte-identical output for a seed, archives, and that the images carry the
 * dose response and the two cell lines. */
#include <dirent.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/arc.h"
#include "../io/fs.h"
#include "../io/img.h"
#include "../io/sha.h"
#include "../stages/demo/synth.h"
#include "check.h"

#define W 340
#define H 256

/* SHA-256 over the names and contents of dir/metadata.csv and every file of
 * dir/images in name order; "" when something cannot be read. */
static void plate_digest(const char *dir, char hex[SHA256_HEX])
{
	struct dirent **names = NULL;
	char path[4096], file_hex[SHA256_HEX];
	sha256_ctx ctx;
	pl_err err;
	int n;

	hex[0] = '\0';
	snprintf(path, sizeof(path), "%s/images", dir);
	if ((n = scandir(path, &names, NULL, alphasort)) < 0 ||
	    sha256_init(&ctx, &err) != 0)
		return;
	snprintf(path, sizeof(path), "%s/metadata.csv", dir);
	if (sha256_file(path, file_hex, &err) != 0)
		goto fail;
	sha256_update(&ctx, file_hex, strlen(file_hex));
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/images/%s", dir, names[i]->d_name);
		if (sha256_file(path, file_hex, &err) != 0)
			goto fail;
		sha256_update(&ctx, names[i]->d_name, strlen(names[i]->d_name));
		sha256_update(&ctx, file_hex, strlen(file_hex));
	}
	sha256_final(&ctx, hex);
	goto out;
fail:
	sha256_abort(&ctx);
out:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int count_entries(const char *dir)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort), shown = 0;

	for (int i = 0; i < n; i++) {
		shown += strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..");
		free(names[i]);
	}
	free(names);
	return n < 0 ? -1 : shown;
}

static char *slurp(const char *path)
{
	char *data = NULL;
	size_t len;
	pl_err err;

	return fs_read_file(path, 0, &data, &len, &err) == 0 ? data : NULL;
}

static synth_opts small_opts(uint64_t seed)
{
	synth_opts o;

	synth_defaults(&o);
	o.seed = seed;
	o.width = 96;
	o.height = 72;
	return o;
}

static void test_parse_source(void)
{
	synth_opts o;
	pl_err err = { 0 };

	CHECK_OK(synth_parse_source("synth:plate", &o, &err), &err);
	CHECK(o.seed == 1 && o.plates == 1 && o.width == W && o.height == H,
	      "defaults %llu %d %dx%d", (unsigned long long)o.seed, o.plates, o.width,
	      o.height);
	CHECK_OK(synth_parse_source("synth:plate?seed=18446744073709551615&plates=10"
				    "&size=1360x1024", &o, &err), &err);
	CHECK(o.seed == UINT64_MAX && o.plates == 10 && o.width == 1360 &&
	      o.height == 1024, "parsed %d %dx%d", o.plates, o.width, o.height);
	CHECK_OK(synth_parse_source("synth:plate?size=64x48", &o, &err), &err);
	CHECK(o.seed == 1 && o.width == 64 && o.height == 48, "size only");
	CHECK_OK(synth_parse_source("synth:?plates=3", &o, &err), &err);
	CHECK(o.plates == 3 && o.width == W, "bare synth: %d", o.plates);
	CHECK_OK(synth_parse_source("synth:", &o, &err), &err);
	CHECK(o.plates == 1 && o.seed == 1, "bare synth:");

	static const struct { const char *src, *needle; } bad[] = {
		{ "synth:plates", "unknown demo set" },
		{ "file:///x", "not a synth: source" },
		{ "synth:plate?colour=red", "unknown key 'colour'" },
		{ "synth:plate?seed=-3", "seed '-3'" },
		{ "synth:plate?seed=18446744073709551616", "seed" },
		{ "synth:plate?plates=0", "plates '0'" },
		{ "synth:plate?plates=1001", "plates '1001'" },
		{ "synth:plate?size=340", "not WIDTHxHEIGHT" },
		{ "synth:plate?size=8x8", "out of range" },
		{ "synth:plate?seed", "not key=value" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pl_errclear(&err);
		int rc = synth_parse_source(bad[i].src, &o, &err);
		CHECK(rc == -PL_EUSAGE && err.code == PL_EUSAGE, "%s: rc %d", bad[i].src, rc);
		CHECK(strstr(err.msg, bad[i].needle) != NULL, "%s: message '%s' lacks '%s'",
		      bad[i].src, err.msg, bad[i].needle);
	}
}

/* Checks metadata.csv: header, 96 * plates rows in well order, labels,
 * concentrations rising along a row, cell lines by row. */
static void check_metadata(const char *path, int plates)
{
	char *csv = slurp(path), *line, *save = NULL;
	int lines = 0, high = 0, low = 0, order_ok = 1, line_ok = 1, conc_ok = 1;
	double prev_conc = -1;

	CHECK(csv != NULL, "cannot read %s", path);
	if (!csv)
		return;
	for (line = strtok_r(csv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char nuc[64], nfkb[64], label[16], well[32], cell_line[16], want[64];
		double conc;
		int i = lines++ - 1, plate = i / 96, row = i % 96 / 12, col = i % 12;

		if (i < 0) {
			CHECK(!strcmp(line, "nuclei,nfkb,concentration,label,well,cell_line"),
			      "header '%s'", line);
			continue;
		}
		if (sscanf(line, "%63[^,],%63[^,],%lf,%15[^,],%31[^,],%15s", nuc, nfkb, &conc,
			   label, well, cell_line) != 6) {
			CHECK(0, "malformed row '%s'", line);
			continue;
		}
		if (plates == 1)
			snprintf(want, sizeof(want), "%c%02d", 'A' + row, col + 1);
		else
			snprintf(want, sizeof(want), "p%02d_%c%02d", plate + 1, 'A' + row, col + 1);
		order_ok &= !strcmp(well, want);
		snprintf(want, sizeof(want), "images/%s_nuclei.bmp", well);
		order_ok &= !strcmp(nuc, want);
		snprintf(want, sizeof(want), "images/%s_nfkb.bmp", well);
		order_ok &= !strcmp(nfkb, want);
		high += !strcmp(label, "high");
		low += !strcmp(label, "low");
		conc_ok &= !strcmp(label, col >= 6 ? "high" : "low");
		conc_ok &= col == 0 ? conc == 0 : conc == 2 * prev_conc || (col == 1 && conc > 0);
		prev_conc = conc;
		line_ok &= !strcmp(cell_line, row < 4 ? "line1" : "line2");
	}
	CHECK(lines == 1 + 96 * plates, "%d lines", lines);
	CHECK(high == 48 * plates && low == 48 * plates, "%d high, %d low", high, low);
	CHECK(order_ok, "wells or file names out of order");
	CHECK(conc_ok, "labels or concentrations wrong");
	CHECK(line_ok, "cell lines wrong");
	free(csv);
}

/* Per-well image measures: NF-kB inside / outside the nuclei, and the mean
 * area of the nuclei (4-connected blobs of the thresholded nuclei channel). */
typedef struct well_stats { double ratio, nucleus_area; int ok; } well_stats;

static double mean_blob_area(const uint8_t *mask, int w, int h)
{
	int *stack = malloc(sizeof(int) * (size_t)w * h), blobs = 0;
	uint8_t *seen = calloc((size_t)w * h, 1);
	long total = 0;

	for (int start = 0; stack && seen && start < w * h; start++) {
		int top = 0, area = 0;

		if (!mask[start] || seen[start])
			continue;
		seen[start] = 1;
		stack[top++] = start;
		while (top > 0) {
			int p = stack[--top], x = p % w, y = p / w;
			int nb[4] = { x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1,
				      y > 0 ? p - w : -1, y < h - 1 ? p + w : -1 };
			area++;
			for (int k = 0; k < 4; k++)
				if (nb[k] >= 0 && mask[nb[k]] && !seen[nb[k]]) {
					seen[nb[k]] = 1;
					stack[top++] = nb[k];
				}
		}
		if (area >= 6) {
			blobs++;
			total += area;
		}
	}
	free(stack);
	free(seen);
	return blobs ? (double)total / blobs : 0;
}

static well_stats measure_well(const char *dir, const char *well)
{
	well_stats st = { 0 };
	img nuc = { 0 }, nfkb = { 0 };
	char path[4096];
	uint8_t *mask = NULL;
	double in = 0, out = 0;
	long n_in = 0, n_out = 0;
	pl_err err;

	snprintf(path, sizeof(path), "%s/images/%s_nuclei.bmp", dir, well);
	CHECK_OK(img_decode_file(path, NULL, &nuc, &err), &err);
	snprintf(path, sizeof(path), "%s/images/%s_nfkb.bmp", dir, well);
	CHECK_OK(img_decode_file(path, NULL, &nfkb, &err), &err);
	if (!nuc.px || !nfkb.px || nuc.w != W || nuc.h != H || nuc.c != 1 ||
	    nfkb.w != W || nfkb.h != H || nfkb.c != 1 || nuc.maxval != 255) {
		CHECK(0, "%s: images are %dx%dx%d and %dx%dx%d", well, nuc.w, nuc.h, nuc.c,
		      nfkb.w, nfkb.h, nfkb.c);
		goto out;
	}
	mask = malloc((size_t)W * H);
	for (int p = 0; mask && p < W * H; p++) {
		mask[p] = nuc.px[p] > 45.0f;
		if (mask[p]) {
			in += nfkb.px[p];
			n_in++;
		} else {
			out += nfkb.px[p];
			n_out++;
		}
	}
	if (mask && n_in > 0 && n_out > 0 && out > 0) {
		st.ratio = (in / n_in) / (out / n_out);
		st.nucleus_area = mean_blob_area(mask, W, H);
		st.ok = 1;
	}
out:
	free(mask);
	img_release(&nuc);
	img_release(&nfkb);
	return st;
}

/* The dose response and the cell lines, measured on the images. */
static void check_images(const char *dir)
{
	double col_ratio[12] = { 0 }, area[2] = { 0 }, low = 0, high = 0;
	int ok = 1, rising = 0;
	char well[8];

	for (int row = 0; row < 8; row++)
		for (int col = 0; col < 12; col++) {
			snprintf(well, sizeof(well), "%c%02d", 'A' + row, col + 1);
			well_stats st = measure_well(dir, well);
			ok &= st.ok;
			col_ratio[col] += st.ratio / 8;
			area[row >= 4] += st.nucleus_area / 48;
		}
	CHECK(ok, "some wells could not be measured");
	for (int col = 0; col < 12; col++) {
		rising += col > 0 && col_ratio[col] > col_ratio[col - 1];
		*(col < 6 ? &low : &high) += col_ratio[col] / 6;
	}
	fprintf(stderr, "nuclear/other NF-kB by column:");
	for (int col = 0; col < 12; col++)
		fprintf(stderr, " %.2f", col_ratio[col]);
	fprintf(stderr, "\nmean nucleus area: line1 %.1f, line2 %.1f px\n", area[0], area[1]);
	CHECK(col_ratio[11] > 2.0 * col_ratio[0], "column 12 %.2f vs column 1 %.2f",
	      col_ratio[11], col_ratio[0]);
	CHECK(rising >= 9, "only %d of 11 steps rise", rising);
	CHECK(high > 1.5 * low, "high doses %.2f vs low doses %.2f", high, low);
	CHECK(col_ratio[6] > col_ratio[5], "no step at the label boundary: %.2f %.2f",
	      col_ratio[5], col_ratio[6]);
	CHECK(area[0] > 1.3 * area[1] && area[1] > 10, "nucleus areas %.1f and %.1f",
	      area[0], area[1]);
}

static void test_default_plate_dir(void)
{
	synth_opts o;
	pl_err err = { 0 };

	synth_defaults(&o);
	CHECK_OK(synth_write(&o, "out/", &err), &err);
	CHECK(count_entries("out") == 1, "out/ holds %d entries, wanted plate only",
	      count_entries("out"));
	CHECK(count_entries("out/plate") == 2, "plate/ holds %d entries",
	      count_entries("out/plate"));
	CHECK(count_entries("out/plate/images") == 192, "%d images",
	      count_entries("out/plate/images"));
	check_metadata("out/plate/metadata.csv", 1);
	check_images("out/plate");

	/* An existing plate is not overwritten. */
	int rc = synth_write(&o, "out", &err);
	CHECK(rc == -PL_EUSAGE && strstr(err.msg, "out/plate") &&
	      strstr(err.msg, "already exists"), "rewrite: %d %s", rc, err.msg);
	CHECK(count_entries("out") == 1, "rewrite left %d entries", count_entries("out"));
}

/* Same seed: identical archives and trees; the archive holds the tree. */
static void test_deterministic(void)
{
	synth_opts o1 = small_opts(7), o2 = small_opts(8);
	char a[SHA256_HEX], b[SHA256_HEX], d1[SHA256_HEX], d2[SHA256_HEX], d3[SHA256_HEX];
	char x[SHA256_HEX], c[SHA256_HEX];
	pl_err err = { 0 };

	CHECK_OK(synth_write(&o1, "a.tar.gz", &err), &err);
	CHECK_OK(synth_write(&o1, "sub/dir/b.tar.gz", &err), &err);
	CHECK_OK(synth_write(&o2, "c.tar.gz", &err), &err);
	CHECK_OK(sha256_file("a.tar.gz", a, &err), &err);
	CHECK_OK(sha256_file("sub/dir/b.tar.gz", b, &err), &err);
	CHECK_OK(sha256_file("c.tar.gz", c, &err), &err);
	CHECK(!strcmp(a, b), "same seed, archives differ: %s %s", a, b);
	CHECK(strcmp(a, c) != 0, "different seeds, same archive");
	CHECK(count_entries(".") == 3 && count_entries("sub/dir") == 1,
	      "temporary files left: %d %d", count_entries("."), count_entries("sub/dir"));

	CHECK_OK(synth_write(&o1, "d1/", &err), &err);
	CHECK_OK(fs_mkdirs("d2", &err), &err);
	CHECK_OK(synth_write(&o1, "d2", &err), &err);
	CHECK_OK(synth_write(&o2, "d3/", &err), &err);
	CHECK_OK(fs_mkdirs("x", &err), &err);
	CHECK_OK(arc_extract("a.tar.gz", "x", NULL, &err), &err);
	plate_digest("d1/plate", d1);
	plate_digest("d2/plate", d2);
	plate_digest("d3/plate", d3);
	plate_digest("x/plate", x);
	CHECK(d1[0] && !strcmp(d1, d2), "same seed, trees differ: %s %s", d1, d2);
	CHECK(!strcmp(d1, x), "archive and tree differ: %s %s", d1, x);
	CHECK(d3[0] && strcmp(d1, d3) != 0, "different seeds, same tree");

	/* On one CPU (one drawing thread) the output is the same. */
	cpu_set_t all;
	CHECK(check_pin_one_cpu(&all) == 0, "cannot pin to one cpu");
	CHECK_OK(synth_write(&o1, "d4/", &err), &err);
	CHECK(sched_setaffinity(0, sizeof(all), &all) == 0, "cannot unpin");
	plate_digest("d4/plate", d2);
	CHECK(!strcmp(d1, d2), "one thread gives another tree: %s %s", d1, d2);
	CHECK(count_entries("x") == 1, "archive has %d top-level entries", count_entries("x"));
}

static int first_entry(void *ctx, const char *name, void *data, size_t len,
		       pl_err *err)
{
	(void)data;
	(void)len;
	(void)err;
	snprintf(ctx, 64, "%s", name);
	return -1;
}

static void test_archive_formats(void)
{
	synth_opts o = small_opts(1);
	unsigned char magic[4] = { 0 };
	char first[64] = "";
	pl_err err = { 0 };
	FILE *f;

	CHECK_OK(synth_write(&o, "p.tar.zst", &err), &err);
	f = fopen("p.tar.zst", "rb");
	CHECK(f && fread(magic, 1, 4, f) == 4, "cannot read p.tar.zst");
	if (f)
		fclose(f);
	CHECK(magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD,
	      "not zstd: %02x %02x", magic[0], magic[1]);
	CHECK_OK(synth_write(&o, "plate", &err), &err);   /* no extension: tar.gz */
	f = fopen("plate", "rb");
	CHECK(f && fread(magic, 1, 2, f) == 2, "cannot read plate");
	if (f)
		fclose(f);
	CHECK(magic[0] == 0x1F && magic[1] == 0x8B, "not gzip: %02x %02x", magic[0], magic[1]);
	arc_foreach("p.tar.zst", NULL, first_entry, first, &err);
	CHECK(!strcmp(first, "plate/metadata.csv"), "first entry '%s'", first);
	/* Replacing an existing archive is fine. */
	CHECK_OK(synth_write(&o, "p.tar.zst", &err), &err);
	CHECK(count_entries(".") == 2, "%d entries", count_entries("."));
}

static void test_two_plates(void)
{
	synth_opts o = small_opts(3);
	char a[SHA256_HEX], b[SHA256_HEX];
	pl_err err = { 0 };
	img im = { 0 };

	o.plates = 2;
	CHECK_OK(synth_write(&o, "out/", &err), &err);
	check_metadata("out/plate/metadata.csv", 2);
	CHECK(count_entries("out/plate/images") == 384, "%d images",
	      count_entries("out/plate/images"));
	CHECK_OK(img_decode_file("out/plate/images/p02_H12_nfkb.bmp", NULL, &im, &err), &err);
	CHECK(im.w == 96 && im.h == 72 && im.c == 1, "%dx%dx%d", im.w, im.h, im.c);
	img_release(&im);
	CHECK_OK(sha256_file("out/plate/images/p01_A01_nuclei.bmp", a, &err), &err);
	CHECK_OK(sha256_file("out/plate/images/p02_A01_nuclei.bmp", b, &err), &err);
	CHECK(strcmp(a, b) != 0, "plates 1 and 2 have the same A01");
}

static void test_errors(void)
{
	synth_opts o = small_opts(1);
	pl_err err = { 0 };
	int rc;

	CHECK_OK(fs_write_file("blocker", "x", 1, &err), &err);
	rc = synth_write(&o, "blocker/plate.tar.gz", &err);
	CHECK(rc < 0 && strstr(err.msg, "blocker"), "under a file: %d %s", rc, err.msg);
	o.plates = 0;
	rc = synth_write(&o, "x.tar.gz", &err);
	CHECK(rc == -PL_EUSAGE && strstr(err.msg, "plates"), "plates 0: %d %s", rc, err.msg);
	o = small_opts(1);
	o.width = 20000;
	rc = synth_write(&o, "x.tar.gz", &err);
	CHECK(rc == -PL_EUSAGE && strstr(err.msg, "20000"), "width: %d %s", rc, err.msg);
	rc = synth_write(&o, "", &err);
	CHECK(rc == -PL_EUSAGE, "empty path: %d", rc);
	o = small_opts(1);
	rc = synth_write(&o, "x.rar", &err);
	CHECK(rc == -PL_EUSAGE && strstr(err.msg, "give a .tar.gz or .tar.zst archive"),
	      "unknown archive type: %d %s", rc, err.msg);
	CHECK(count_entries(".") == 1, "%d entries left", count_entries("."));
}

static void test_preview(void)
{
	synth_opts o;
	pl_err err = { 0 };
	img im = { 0 };
	double green[3] = { 0 }, red = 0;

	synth_defaults(&o);
	CHECK_OK(synth_preview(&o, "wells.png", &err), &err);
	CHECK_OK(img_decode_file("wells.png", NULL, &im, &err), &err);
	CHECK(im.w == 3 * W + 8 && im.h == H && im.c == 3, "%dx%dx%d", im.w, im.h, im.c);
	if (im.w != 3 * W + 8 || im.h != H || im.c != 3)
		goto out;
	for (int y = 0; y < H; y++)
		for (int i = 0; i < 3; i++)
			for (int x = 0; x < W; x++) {
				const float *p = im.px + ((size_t)y * im.w + i * (W + 4) + x) * 3;
				red += p[0];
				green[i] += p[1];
			}
	CHECK(red == 0, "red in the panels");
	CHECK(green[0] > 0 && green[2] > 0, "no NF-kB");
out:
	img_release(&im);
}

int main(void)
{
	RUN(test_parse_source);
	RUN(test_default_plate_dir);
	RUN(test_deterministic);
	RUN(test_archive_formats);
	RUN(test_two_plates);
	RUN(test_errors);
	RUN(test_preview);
	return check_report("test_synth");
}
