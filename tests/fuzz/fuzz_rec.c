/* libFuzzer target for the record shard reader and loader: the input is a
 * shard file. Checksums are ignored in this build so mutations reach the
 * parsing behind them. Built and run by scripts/fuzz.sh (FUZZ_TARGETS=rec),
 * which links it against the whole library (io/rec.c reads TFRecord shards
 * through io/tfrecord.c, libpng and protobuf-c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../io/rec.h"
#include "../../nn/nn.h"

static char shard_path[64];
static volatile unsigned sink;  /* keeps the reads of the samples */

static int write_input(const uint8_t *data, size_t size)
{
	FILE *fp;

	if (!shard_path[0])
		snprintf(shard_path, sizeof(shard_path), "%s/fuzz_rec-%d.rec.zst",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
			 (int)getpid());
	fp = fopen(shard_path, "wb");
	if (!fp)
		return -1;
	if (fwrite(data, 1, size, fp) != size) {
		fclose(fp);
		return -1;
	}
	return fclose(fp);
}

static void run_loader(void)
{
	const char *paths[2] = {shard_path, shard_path};
	pl_err err = {0};
	rec_loader *l = rec_loader_open(paths, 2, &err);
	float mean[4] = {0.5f, 0.5f, 0.5f, 0.5f}, std[4] = {2, 2, 2, 2};
	int32_t labels[3], groups[3];
	float *x;
	int64_t order[64];
	int c, h, w, n;

	if (!l)
		return;
	rec_loader_shape(l, &c, &h, &w);
	if ((size_t)c * h * w <= (1u << 16)) {
		x = malloc((size_t)3 * c * h * w * sizeof(float));
		if (c <= 4)
			rec_loader_set_norm(l, mean, std, &err);
		if (rec_loader_count(l) <= 64) {
			nn_epoch_order(order, rec_loader_count(l), 7, 1);
			rec_loader_epoch(l, order);
		}
		if (x)
			while (rec_loader_next(l, 3, x, labels, groups, &n, &err) == 0 && n)
				(void)rec_loader_name(l, n - 1);
		free(x);
	}
	rec_loader_close(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_err err = {0};
	rec_reader *r;
	rec_sample s;

	if (write_input(data, size) != 0)
		return 0;
	r = rec_reader_open(shard_path, &err);
	if (!r) {
		if (!err.code || !err.msg[0])
			abort();  /* every failure must explain itself */
		return 0;
	}
	for (int64_t i = 0; i < rec_reader_count(r) && i < 64; i++) {
		if (rec_read(r, i, &s, &err) != 0) {
			if (!err.msg[0])
				abort();
			continue;
		}
		sink += (unsigned)s.label + (unsigned char)s.name[0] +
		       ((const unsigned char *)s.data)[0];
	}
	rec_reader_close(r);
	run_loader();
	return 0;
}
