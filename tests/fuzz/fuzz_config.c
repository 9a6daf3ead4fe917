/* libFuzzer target for the configuration parser (schema_load, libinih
 * underneath, and the schema checks): the input is written as an .ini file
 * and loaded. A failure must leave no configuration and name the file.
 *
 * Build (scripts/fuzz.sh does this): link with the pipeline's library built
 * with -fsanitize=fuzzer-no-link,address,undefined, e.g.
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -march=x86-64-v2 \
 *     -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_config.c \
 *     build-fuzz/libpipeline.a $(pkg-config --libs inih ...) -lopenblas -lm
 *   ./fuzz_config -max_total_time=60 CORPUS_DIR tests/corpus/config
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../stages/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	unsetenv("PIPELINE_CONFIG");  /* only the fuzz input is read */
	unsetenv("PIPELINE_SET");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_err err;
	cfg *c = NULL;
	FILE *fp;

	memset(&err, 0, sizeof(err));
	if (!path[0])
		snprintf(path, sizeof(path), "%s/fuzz_config-%d.ini",
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
	if (schema_load(path, NULL, 0, &c, &err) != 0) {
		if (c || !err.code || !strstr(err.msg, "fuzz_config"))
			abort();  /* a failure leaves nothing and names the file */
		return 0;
	}
	(void)cfg_str(c, "dataset", "source");
	(void)cfg_str(c, "model", "layers");
	cfg_free(c);
	return 0;
}
