/* CSV parser (RFC 4180 plus the usual BOM, LF and CR line ends): one pass
 * over the text, unescaped cells stored NUL-terminated in one buffer. */
#include "csv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

struct csv_table {
	char *name;
	char *text;        /* cells, each NUL-terminated */
	size_t text_len, text_cap;
	size_t *cells;     /* offsets into text, row-major, header row first */
	size_t n_cells, cells_cap;
	int *lines;        /* source line of each row, header row first */
	int n_lines;
	size_t lines_cap;
	int n_cols;
};

struct parser {
	const char *p, *end;
	int line;          /* current 1-based line */
	csv_table *t;
	pl_err *err;
};

/* Doubles *cap until n items of size fit; returns 0 or -1. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap : 64;
	void *p;

	if (n <= *cap)
		return 0;
	while (c < n)
		c *= 2;
	p = realloc(*arr, c * size);
	if (!p)
		return -1;
	*arr = p;
	*cap = c;
	return 0;
}

static int nomem(struct parser *ps)
{
	return pl_errorf(ps->err, PL_ENOMEM, "'%s': out of memory", ps->t->name);
}

/* Appends n bytes to the cell text. */
static int put_text(struct parser *ps, const char *s, size_t n)
{
	csv_table *t = ps->t;

	if (n == 0)
		return 0;
	if (grow((void **)&t->text, &t->text_cap, t->text_len + n, 1) < 0)
		return nomem(ps);
	memcpy(t->text + t->text_len, s, n);
	t->text_len += n;
	return 0;
}

static int is_end(char c)
{
	return c == ',' || c == '\n' || c == '\r';
}

static int nul_error(struct parser *ps)
{
	return pl_errorf(ps->err, PL_EDATA, "'%s' line %d: NUL byte (is this "
			 "a text file?)", ps->t->name, ps->line);
}

/* Body of a quoted field; ps->p is just past the opening quote. */
static int quoted_field(struct parser *ps)
{
	int start_line = ps->line, rc = 0;

	for (;;) {
		const char *run = ps->p;
		while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\0') {
			if (*ps->p == '\n')
				ps->line++;
			ps->p++;
		}
		if (ps->p > run && (rc = put_text(ps, run, (size_t)(ps->p - run))) < 0)
			return rc;
		if (ps->p == ps->end)
			return pl_errorf(ps->err, PL_EDATA, "'%s' line %d: "
					 "unterminated quoted field", ps->t->name,
					 start_line);
		if (*ps->p == '\0')
			return nul_error(ps);
		if (ps->p + 1 < ps->end && ps->p[1] == '"') {
			if ((rc = put_text(ps, "\"", 1)) < 0)
				return rc;
			ps->p += 2;
			continue;
		}
		ps->p++;
		if (ps->p < ps->end && !is_end(*ps->p))
			return pl_errorf(ps->err, PL_EDATA, "'%s' line %d: text after "
					 "the closing quote of a field (quote the whole "
					 "field and double the quotes inside it)",
					 ps->t->name, ps->line);
		return 0;
	}
}

/* One field, quoted or not; leaves ps->p on the separator or line end. */
static int field(struct parser *ps)
{
	csv_table *t = ps->t;
	const char *run;
	int rc;

	if (grow((void **)&t->cells, &t->cells_cap, t->n_cells + 1,
		 sizeof(*t->cells)) < 0)
		return nomem(ps);
	t->cells[t->n_cells++] = t->text_len;
	if (ps->p < ps->end && *ps->p == '"') {
		ps->p++;
		rc = quoted_field(ps);
	} else {
		run = ps->p;
		while (ps->p < ps->end && !is_end(*ps->p) && *ps->p != '\0')
			ps->p++;
		if (ps->p < ps->end && *ps->p == '\0')
			return nul_error(ps);
		rc = put_text(ps, run, (size_t)(ps->p - run));
	}
	return rc < 0 ? rc : put_text(ps, "", 1);
}

/* Consumes one line end (LF, CRLF or CR) if there is one. */
static void line_end(struct parser *ps)
{
	if (ps->p < ps->end && *ps->p == '\r') {
		ps->p++;
		if (ps->p < ps->end && *ps->p == '\n')
			ps->p++;
	} else if (ps->p < ps->end && *ps->p == '\n') {
		ps->p++;
	}
	ps->line++;
}

static int check_header(struct parser *ps)
{
	const csv_table *t = ps->t;

	for (int i = 0; i < t->n_cols; i++) {
		const char *a = t->text + t->cells[i];
		for (int j = 0; a[0] && j < i; j++)
			if (strcmp(a, t->text + t->cells[j]) == 0)
				return pl_errorf(ps->err, PL_EDATA, "'%s' line %d: "
						 "column '%s' appears twice", t->name,
						 t->lines[0], a);
	}
	return 0;
}

/* One row; ps->p is at its first character. */
static int row(struct parser *ps)
{
	csv_table *t = ps->t;
	int row_line = ps->line, fields = 0, rc;

	if (grow((void **)&t->lines, &t->lines_cap, (size_t)t->n_lines + 1,
		 sizeof(*t->lines)) < 0)
		return nomem(ps);
	t->lines[t->n_lines++] = row_line;
	for (;;) {
		if ((rc = field(ps)) < 0)
			return rc;
		if (++fields > CSV_MAX_FIELDS)
			return pl_errorf(ps->err, PL_EDATA, "'%s' line %d: more than "
					 "%d fields", t->name, row_line,
					 CSV_MAX_FIELDS);
		if (ps->p == ps->end || *ps->p != ',')
			break;
		ps->p++;
	}
	line_end(ps);
	if (t->n_lines == 1) {
		t->n_cols = fields;
		return check_header(ps);
	}
	if (fields != t->n_cols)
		return pl_errorf(ps->err, PL_EDATA, "'%s' line %d: %d field%s, the "
				 "header has %d", t->name, row_line, fields,
				 fields == 1 ? "" : "s", t->n_cols);
	size_t i = t->n_cells - (size_t)fields;
	while (i < t->n_cells && !t->text[t->cells[i]])
		i++;
	if (fields >= 2 && i == t->n_cells) {   /* only empty fields (",,,"): a blank row */
		t->n_cells -= (size_t)fields;
		t->n_lines--;
	}
	return 0;
}

int csv_parse(const char *buf, size_t len, const char *name, csv_table **out,
	      pl_err *err)
{
	struct parser ps = {buf, buf + len, 1, NULL, err};
	int rc = 0;

	*out = NULL;
	ps.t = calloc(1, sizeof(*ps.t));
	if (!ps.t || !(ps.t->name = strdup(name))) {
		free(ps.t);
		return pl_errorf(err, PL_ENOMEM, "'%s': out of memory", name);
	}
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		ps.p += 3;
	while (rc == 0 && ps.p < ps.end) {
		if (*ps.p == '\n' || *ps.p == '\r')
			line_end(&ps);   /* blank line */
		else
			rc = row(&ps);
	}
	if (rc == 0 && ps.t->n_lines == 0)
		rc = pl_errorf(err, PL_EDATA, "'%s' is empty: it needs a header "
			       "row naming the columns", name);
	if (rc < 0) {
		csv_free(ps.t);
		return rc;
	}
	*out = ps.t;
	return 0;
}

int csv_read(const char *path, csv_table **out, pl_err *err)
{
	char *data = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = fs_read_file(path, CSV_MAX_BYTES, &data, &len, err);
	if (rc == 0)
		rc = csv_parse(data, len, path, out, err);
	free(data);
	return rc;
}

int csv_rows(const csv_table *t)
{
	return t->n_lines - 1;
}

int csv_cols(const csv_table *t)
{
	return t->n_cols;
}

const char *csv_header(const csv_table *t, int col)
{
	return col >= 0 && col < t->n_cols ? t->text + t->cells[col] : NULL;
}

int csv_column(const csv_table *t, const char *name)
{
	for (int i = 0; i < t->n_cols; i++)
		if (strcmp(t->text + t->cells[i], name) == 0)
			return i;
	return -1;
}

const char *csv_cell(const csv_table *t, int row, int col)
{
	if (row < 0 || row >= t->n_lines - 1 || col < 0 || col >= t->n_cols)
		return NULL;
	return t->text + t->cells[(size_t)(row + 1) * (size_t)t->n_cols + (size_t)col];
}

int csv_line(const csv_table *t, int row)
{
	return row >= 0 && row < t->n_lines - 1 ? t->lines[row + 1] : 0;
}

const char *csv_name(const csv_table *t)
{
	return t->name;
}

void csv_free(csv_table *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->text);
	free(t->cells);
	free(t->lines);
	free(t);
}
