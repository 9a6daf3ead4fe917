/* libFuzzer target for the TFRecord shard reader: the input is a shard file
 * (the framing, each tf.train.Example, its PNG). Checksums are ignored in
 * this build so mutations reach the Example and PNG decoding behind them.
 * Built and run by scripts/fuzz.sh (FUZZ_TARGETS=tfrecord). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../io/tfrecord.h"

static char shard_path[64];
static volatile unsigned sink;  /* keeps the reads of the samples */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_err err = { 0 };
	tfr_reader *r;
	FILE *fp;

	if (!shard_path[0])
		snprintf(shard_path, sizeof(shard_path), "%s/fuzz_tfrecord-%d.tfrecord",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
	fp = fopen(shard_path, "wb");
	if (!fp)
		return 0;
	if (fwrite(data, 1, size, fp) != size) {
		fclose(fp);
		return 0;
	}
	if (fclose(fp) != 0)
		return 0;
	r = tfr_reader_open(shard_path, &err);
	for (int64_t i = 0; r && i < tfr_reader_count(r) && i < 64; i++) {
		rec_sample s;
		if (tfr_read(r, i, &s, &err) == 0)
			sink += (unsigned)s.label + ((const uint8_t *)s.data)[0];
	}
	tfr_reader_close(r);
	unlink(shard_path);
	return 0;
}
