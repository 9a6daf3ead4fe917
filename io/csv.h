/* CSV tables (RFC 4180) such as a dataset's metadata.csv: a header row,
 * then rows of the same field count, read whole into memory. */
#ifndef PL_CSV_H
#define PL_CSV_H

#include <stddef.h>

#include "err.h"

#define CSV_MAX_BYTES (256u << 20)  /* largest file csv_read accepts */
#define CSV_MAX_FIELDS 4096         /* fields in one row */

typedef struct csv_table csv_table;

/* Reads and parses the CSV file at path (see csv_parse). On success *out
 * is a table the caller frees with csv_free. Errors: PL_EIO (cannot read),
 * PL_EDATA (bad content or over CSV_MAX_BYTES; the message names the file
 * and line), PL_ENOMEM. */
int csv_read(const char *path, csv_table **out, pl_err *err);

/* Parses len bytes of CSV text; name is used in messages ('name' line N).
 * Accepted: a UTF-8 BOM (skipped), LF, CRLF or CR line ends, quoted fields
 * with embedded commas, line breaks and doubled quotes; blank lines, and
 * rows of two or more fields that are all empty (",,," as spreadsheets
 * write them), are skipped. Errors: a row whose field count differs from the header's,
 * an unterminated quoted field, text after a closing quote, a NUL byte,
 * a duplicated (non-empty) column name, no header row, more than
 * CSV_MAX_FIELDS fields. Fields are not trimmed. */
int csv_parse(const char *buf, size_t len, const char *name, csv_table **out,
	      pl_err *err);

/* Number of data rows (the header is not counted). */
int csv_rows(const csv_table *t);

/* Number of columns. */
int csv_cols(const csv_table *t);

/* Name of column col, or NULL when out of range. */
const char *csv_header(const csv_table *t, int col);

/* Index of the column named name (exact match), or -1. */
int csv_column(const csv_table *t, const char *name);

/* Cell of data row row (0-based, after the header) and column col, or
 * NULL when out of range. Owned by the table. */
const char *csv_cell(const csv_table *t, int row, int col);

/* 1-based line of the file where data row row starts (for messages such
 * as "'metadata.csv' line 14: unknown label"), or 0 when out of range. */
int csv_line(const csv_table *t, int row);

/* The name given to csv_parse (the path for csv_read). */
const char *csv_name(const csv_table *t);

/* Frees t; NULL is a no-op. */
void csv_free(csv_table *t);

#endif
