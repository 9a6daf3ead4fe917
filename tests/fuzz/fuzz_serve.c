/* libFuzzer target for the package reader and its manifest check
 * (serve_open): the input is written as a .tar.zst file and opened. A
 * failure must explain itself and name the package; an opened package must
 * answer its accessors consistently.
 *
 * Build (scripts/fuzz.sh does this): link with the pipeline's library built
 * with -fsanitize=fuzzer-no-link,address,undefined, e.g.
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -march=x86-64-v2 \
 *     -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_serve.c \
 *     build-fuzz/libpipeline.a $(pkg-config --libs libarchive libzstd ...) -lopenblas -lm
 *   ./fuzz_serve -max_total_time=60 CORPUS_DIR tests/corpus/serve
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../stages/serve/serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_err err;
	serve_pkg *p = NULL;
	FILE *fp;

	memset(&err, 0, sizeof(err));
	if (!path[0])
		snprintf(path, sizeof(path), "%s/fuzz_serve-%d.tar.zst",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
	fp = fopen(path, "wb");
	if (!fp)
		return 0;
	if (fwrite(data, 1, size, fp) != size) {
		fclose(fp);
		return 0;
	}
	if (fclose(fp) != 0)
		return 0;
	if (serve_open(path, &p, &err) != 0) {
		if (p || !err.code || !err.msg[0])
			abort();  /* a failure leaves nothing open and explains itself */
		return 0;
	}
	if (serve_n_classes(p) < 1 || serve_n_files(p) < 1 || serve_n_channels(p) < 1)
		abort();
	for (int k = 0; k < serve_n_classes(p); k++)
		if (!serve_class(p, k))
			abort();
	serve_close(p);
	return 0;
}
