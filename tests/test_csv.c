/* Tests of io/csv: RFC 4180 quoting, line ends, BOM, error messages with
 * line numbers, lookups, and the fuzz corpus; io/utf8, which makes the
 * names read from tables and folders text. */
#include <dirent.h>

#include "../io/csv.h"
#include "../io/utf8.h"
#include "check.h"

static char root_dir[4096];

static csv_table *parse(const char *text, pl_err *err)
{
	csv_table *t = NULL;
	int rc = csv_parse(text, strlen(text), "metadata.csv", &t, err);

	CHECK((rc == 0) == (t != NULL), "rc %d but table %p", rc, (void *)t);
	return t;
}

/* Parsing text fails with a message containing want. */
static int fails_with(const char *text, const char *want)
{
	pl_err err = {0};
	csv_table *t = parse(text, &err);

	if (t || err.code != PL_EDATA || !strstr(err.msg, want)) {
		fprintf(stderr, "  got code %d: %s\n", err.code, err.msg);
		csv_free(t);
		return 0;
	}
	return 1;
}

static int cell_is(const csv_table *t, int row, int col, const char *want)
{
	const char *got = csv_cell(t, row, col);

	if (!got || strcmp(got, want) != 0) {
		fprintf(stderr, "  cell %d,%d: '%s', want '%s'\n", row, col,
			got ? got : "(null)", want);
		return 0;
	}
	return 1;
}

static void test_plain(void)
{
	pl_err err = {0};
	csv_table *t = parse("file,label,well\na.bmp,high,A01\nb.bmp,low,A02\n", &err);

	CHECK(t != NULL, "%s", err.msg);
	if (!t)
		return;
	CHECK(csv_rows(t) == 2 && csv_cols(t) == 3, "%dx%d", csv_rows(t), csv_cols(t));
	CHECK(csv_column(t, "label") == 1 && csv_column(t, "well") == 2 &&
	      csv_column(t, "file") == 0, "column lookup");
	CHECK(csv_column(t, "Label") == -1 && csv_column(t, "") == -1, "missing column");
	CHECK(strcmp(csv_header(t, 2), "well") == 0 && !csv_header(t, 3), "header");
	CHECK(cell_is(t, 0, 0, "a.bmp") && cell_is(t, 1, 1, "low") &&
	      cell_is(t, 1, 2, "A02"), "cells");
	CHECK(!csv_cell(t, 2, 0) && !csv_cell(t, -1, 0) && !csv_cell(t, 0, 3) &&
	      !csv_cell(t, 0, -1), "out of range cells");
	CHECK(csv_line(t, 0) == 2 && csv_line(t, 1) == 3 && csv_line(t, 2) == 0,
	      "lines %d %d", csv_line(t, 0), csv_line(t, 1));
	CHECK(strcmp(csv_name(t), "metadata.csv") == 0, "name");
	csv_free(t);
	csv_free(NULL);
}

static void test_quotes(void)
{
	pl_err err = {0};
	csv_table *t = parse("name,note,n\n"
			     "\"a,b\",\"say \"\"hi\"\"\",1\n"
			     "\"two\nlines\",\"\",2\n"
			     "plain\"quote,\"\"\"\"\"\",3\n"
			     ",\"x\ny\nz\",4\n", &err);

	CHECK(t != NULL, "%s", err.msg);
	if (!t)
		return;
	CHECK(csv_rows(t) == 4, "rows %d", csv_rows(t));
	CHECK(cell_is(t, 0, 0, "a,b") && cell_is(t, 0, 1, "say \"hi\""), "row 0");
	CHECK(cell_is(t, 1, 0, "two\nlines") && cell_is(t, 1, 1, ""), "row 1");
	CHECK(cell_is(t, 2, 0, "plain\"quote") && cell_is(t, 2, 1, "\"\""), "row 2");
	CHECK(cell_is(t, 3, 0, "") && cell_is(t, 3, 1, "x\ny\nz") &&
	      cell_is(t, 3, 2, "4"), "row 3");
	/* rows start on lines 2, 3, 5, 6 (row 1 spans two lines) */
	CHECK(csv_line(t, 1) == 3 && csv_line(t, 2) == 5 && csv_line(t, 3) == 6,
	      "lines %d %d %d", csv_line(t, 1), csv_line(t, 2), csv_line(t, 3));
	csv_free(t);
}

static void test_line_ends_bom(void)
{
	pl_err err = {0};
	csv_table *t = parse("\xEF\xBB\xBF" "label,file\r\n1,\"a\r\nb\"\r\n0,c\r\n\r\n", &err);

	CHECK(t != NULL, "%s", err.msg);
	if (t) {
		CHECK(csv_column(t, "label") == 0, "BOM kept: '%s'", csv_header(t, 0));
		CHECK(csv_rows(t) == 2 && cell_is(t, 0, 1, "a\r\nb") &&
		      cell_is(t, 1, 0, "0") && cell_is(t, 1, 1, "c"), "crlf cells");
		CHECK(csv_line(t, 1) == 4, "line %d", csv_line(t, 1));
		csv_free(t);
	}
	t = parse("a,b\n1,2", &err);             /* no final line end */
	CHECK(t && csv_rows(t) == 1 && cell_is(t, 0, 1, "2"), "no final newline");
	csv_free(t);
	t = parse("a,b\r1,2\r3,4\r", &err);      /* old Mac line ends */
	CHECK(t && csv_rows(t) == 2 && cell_is(t, 1, 0, "3"), "cr line ends");
	csv_free(t);
	t = parse("a,b\n1,2\n\n\n3,4\n\n", &err); /* blank lines skipped */
	CHECK(t && csv_rows(t) == 2 && csv_line(t, 1) == 5, "blank lines");
	csv_free(t);
	t = parse("a,b,\n1,2,\n", &err);          /* trailing comma: empty field */
	CHECK(t && csv_cols(t) == 3 && cell_is(t, 0, 2, ""), "trailing comma");
	csv_free(t);
	t = parse("a,b\n1,2\n,\n\"\",\"\"\n3,4\n,\n", &err);  /* spreadsheet rows of empty fields */
	CHECK(t && csv_rows(t) == 2 && cell_is(t, 1, 0, "3") && csv_line(t, 1) == 5,
	      "rows of empty fields skipped");
	csv_free(t);
	t = parse("a,b\n1,\n", &err);            /* one empty field is a value */
	CHECK(t && csv_rows(t) == 1 && cell_is(t, 0, 1, ""), "row with one empty field kept");
	csv_free(t);
}

static void test_errors(void)
{
	CHECK(fails_with("a,b,c,d,e,f\n1,2,3,4,5,6\n" "1,2,3,4,5,6\n"
			 "1,2,3,4,5\n", "'metadata.csv' line 4: 5 fields, the header has 6"),
	      "ragged short");
	CHECK(fails_with("a,b\n1,2\n\"x\ny\",2,3\n",
			 "'metadata.csv' line 3: 3 fields, the header has 2"), "long");
	CHECK(fails_with("a,b\n1,2\n\"never closed,3\n4,5\n",
			 "'metadata.csv' line 3: unterminated quoted field"), "unterm");
	CHECK(fails_with("a,b\n\"x\"y,2\n", "line 2: text after the closing quote"),
	      "after quote");
	CHECK(fails_with("", "'metadata.csv' is empty"), "empty");
	CHECK(fails_with("\xEF\xBB\xBF\r\n\n", "is empty"), "bom and blank lines");
	CHECK(fails_with("a,b,a\n1,2,3\n", "line 1: column 'a' appears twice"), "dup");
	CHECK(fails_with("a,b\n1\n", "line 2: 1 field, the header has 2"), "one");
	{
		const char text[] = "a,b\n1,x\0y\n";
		pl_err err = {0};
		csv_table *t = NULL;
		CHECK(csv_parse(text, sizeof(text) - 1, "m.csv", &t, &err) == -PL_EDATA &&
		      !t && strstr(err.msg, "'m.csv' line 2: NUL"), "%s", err.msg);
	}
}

static void test_limits_and_edges(void)
{
	pl_err err = {0};
	size_t n = CSV_MAX_FIELDS + 1;
	char *wide = malloc(2 * n + 2);
	csv_table *t;

	for (size_t i = 0; i < n; i++) {
		wide[2 * i] = 'x';
		wide[2 * i + 1] = i + 1 < n ? ',' : '\n';
	}
	wide[2 * n] = '\0';
	CHECK(fails_with(wide, "more than 4096 fields"), "too many fields");
	free(wide);
	t = parse("only,header\n", &err);
	CHECK(t && csv_rows(t) == 0 && csv_cols(t) == 2 && !csv_cell(t, 0, 0),
	      "header only: %s", err.msg);
	csv_free(t);
	t = parse("single\n\"\"\nv\n", &err);
	CHECK(t && csv_rows(t) == 2 && cell_is(t, 0, 0, "") && cell_is(t, 1, 0, "v"),
	      "one column: %s", err.msg);
	csv_free(t);
	t = parse(",\n1,2\n", &err);              /* empty names may repeat */
	CHECK(t && csv_column(t, "") == 0, "empty header names: %s", err.msg);
	csv_free(t);
}

static void test_read_file(void)
{
	FILE *fp = fopen("metadata.csv", "wb");
	pl_err err = {0};
	csv_table *t = NULL;

	CHECK(fp && fputs("file,label\nimages/A01.bmp,1\n", fp) >= 0 &&
	      fclose(fp) == 0, "write fixture");
	CHECK_OK(csv_read("metadata.csv", &t, &err), &err);
	CHECK(t && cell_is(t, 0, 0, "images/A01.bmp") &&
	      strcmp(csv_name(t), "metadata.csv") == 0, "read");
	csv_free(t);
	t = NULL;
	CHECK(csv_read("missing.csv", &t, &err) == -PL_EIO && !t &&
	      strstr(err.msg, "missing.csv"), "%s", err.msg);
	fp = fopen("ragged.csv", "wb");
	CHECK(fp && fputs("a,b\n1\n", fp) >= 0 && fclose(fp) == 0, "write");
	CHECK(csv_read("ragged.csv", &t, &err) == -PL_EDATA &&
	      strstr(err.msg, "'ragged.csv' line 2: 1 field, the header has 2"),
	      "%s", err.msg);
}

/* Every corpus file parses or fails with a message naming it. */
static void test_corpus(void)
{
	char dir[4200], path[8400];
	DIR *d;
	struct dirent *de;
	int files = 0;

	snprintf(dir, sizeof(dir), "%s/tests/corpus/csv", root_dir);
	d = opendir(dir);
	CHECK(d != NULL, "no corpus at %s", dir);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		pl_err err = {0};
		csv_table *t = NULL;
		int rc;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		files++;
		rc = csv_read(path, &t, &err);
		CHECK(rc == 0 ? t != NULL : !t && err.code == PL_EDATA &&
		      strstr(err.msg, de->d_name), "%s: %s", de->d_name, err.msg);
		for (int r = 0; t && r < csv_rows(t); r++)
			for (int c = 0; c < csv_cols(t); c++)
				CHECK(csv_cell(t, r, c) != NULL, "%s %d,%d", de->d_name, r, c);
		csv_free(t);
	}
	closedir(d);
	CHECK(files > 0, "empty corpus");
}

/* Valid UTF-8 passes unchanged; every other byte becomes \\xNN; JSON takes
 * the result. */
static void test_utf8(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "square", "square" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xac", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xac" },
		{ "caf\xe9", "caf\\xe9" },                  /* Latin-1 */
		{ "\xc0\xaf", "\\xc0\\xaf" },                /* overlong '/' */
		{ "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },        /* overlong, 3 bytes */
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },        /* a surrogate */
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },  /* past U+10FFFF */
		{ "ab\xc3", "ab\\xc3" },                     /* cut short */
		{ "", "" },
	};
	char *ctl = utf8_escape("high\ndose\t\x7f");
	CHECK(ctl && !strcmp(ctl, "high\\x0adose\\x09\\x7f"), "control characters: '%s'", ctl);
	free(ctl);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = utf8_escape(cases[i].in);
		json_t *j = json_text(cases[i].in);
		CHECK(out && !strcmp(out, cases[i].out), "case %zu: '%s', wanted '%s'", i,
		      out ? out : "(null)", cases[i].out);
		CHECK(utf8_valid(cases[i].in) == !strcmp(cases[i].in, cases[i].out),
		      "case %zu: utf8_valid", i);
		CHECK(j && !strcmp(json_string_value(j), cases[i].out), "case %zu: json_text", i);
		free(out);
		json_decref(j);
	}
}

int main(void)
{
	const char *root = getenv("PL_ROOT");

	if (root)
		snprintf(root_dir, sizeof(root_dir), "%s", root);
	else if (!getcwd(root_dir, sizeof(root_dir)))
		return 2;
	RUN(test_plain);
	RUN(test_quotes);
	RUN(test_line_ends_bom);
	RUN(test_errors);
	RUN(test_limits_and_edges);
	RUN(test_read_file);
	RUN(test_corpus);
	RUN(test_utf8);
	return check_report("test_csv");
}
