/* libFuzzer target for the CSV parser: the input is the file's text.
 * Build and run (from the repository root):
 *   clang -g -O1 -march=x86-64-v2 -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=all -D_GNU_SOURCE \
 *     tests/fuzz/fuzz_csv.c io/csv.c io/fs.c io/err.c -o fuzz_csv
 *   ./fuzz_csv -max_total_time=60 CORPUS_DIR tests/corpus/csv
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../io/csv.h"

static volatile size_t sink;  /* keeps the reads of the cells */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_err err = {0};
	csv_table *t = NULL;

	if (csv_parse((const char *)data, size, "fuzz.csv", &t, &err) != 0) {
		if (t || !err.code || !strstr(err.msg, "fuzz.csv"))
			abort();  /* a failure leaves no table and names the file */
		return 0;
	}
	for (int c = 0; c < csv_cols(t); c++) {
		const char *h = csv_header(t, c);
		if (csv_column(t, h) > c)
			abort();
		sink += strlen(h);
	}
	for (int r = 0; r < csv_rows(t); r++) {
		if (csv_line(t, r) < 2)
			abort();
		for (int c = 0; c < csv_cols(t); c++)
			sink += strlen(csv_cell(t, r, c));
	}
	if (csv_cell(t, csv_rows(t), 0) || csv_cell(t, 0, csv_cols(t)))
		abort();
	csv_free(t);
	return 0;
}
