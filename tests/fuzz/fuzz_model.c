/* libFuzzer target for the model file loader (nn_model_load): the input is
 * written to a file and loaded. When it starts with the model magic, the
 * payload length and the trailing CRC-32 are fixed up first (except for
 * inputs whose byte 12 is 0xff, which test the checks themselves) so that
 * mutations reach the parser behind the checksum.
 * A failure must leave no net and explain itself; a loaded net's meta must
 * be consistent.
 *
 * Build (scripts/fuzz.sh does this): link with the pipeline's library built
 * with -fsanitize=fuzzer-no-link,address,undefined, e.g.
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -march=x86-64-v2 \
 *     -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_model.c \
 *     build-fuzz/libpipeline.a $(pkg-config --libs zlib) -lopenblas -lm -lpthread
 *   ./fuzz_model -max_total_time=60 CORPUS_DIR tests/corpus/model
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../../nn/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static int write_input(const uint8_t *data, size_t size)
{
	unsigned char *copy = malloc(size ? size : 1);
	FILE *fp;
	int rc = -1;

	if (!copy)
		return -1;
	memcpy(copy, data, size);
	/* header: magic[8] version u32, u32, payload u64 (24 bytes); CRC-32 last */
	if (size >= 28 && memcmp(copy, "PLNNMODL", 8) == 0 && copy[12] != 0xff) {
		uint64_t payload = size - 28;
		uint32_t crc;

		memcpy(copy + 16, &payload, 8);
		crc = (uint32_t)crc32(0L, copy, (uInt)(size - 4));
		memcpy(copy + size - 4, &crc, 4);
	}
	if (!path[0])
		snprintf(path, sizeof(path), "%s/fuzz_model-%d.pnn",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
	fp = fopen(path, "wb");
	if (fp) {
		rc = fwrite(copy, 1, size, fp) == size ? 0 : -1;
		if (fclose(fp) != 0)
			rc = -1;
	}
	free(copy);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	nn_err err;
	nn_meta meta;
	nn_net *net;

	memset(&err, 0, sizeof(err));
	memset(&meta, 0, sizeof(meta));
	if (write_input(data, size) != 0)
		return 0;
	net = nn_model_load(path, 1, 2, &meta, &err);
	if (!net) {
		if (!err.msg[0] || meta.class_names || meta.mean)
			abort();  /* a failure explains itself and leaves no meta */
		return 0;
	}
	if (meta.n_classes != nn_n_classes(net))
		abort();
	for (int k = 0; k < meta.n_classes; k++)
		if (!meta.class_names || !meta.class_names[k])
			abort();
	(void)nn_arch(net);
	nn_meta_free(&meta);
	nn_net_free(net);
	return 0;
}
