/* libFuzzer target for the image decoders (PNG, JPEG, BMP) behind
 * img_decode_mem, with small limits so that huge declared sizes are cheap;
 * the first byte's low bit picks a fit target of 16x16, so that JPEGs are
 * also decoded at DCT scale.
 *
 * Build and run from the repository root:
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *     -o fuzz_img tests/fuzz/fuzz_img.c io/img.c io/png.c io/jpeg.c io/bmp.c \
 *     io/err.c $(pkg-config --cflags --libs libpng libjpeg)
 *   mkdir -p fuzz-corpus && cp -r tests/corpus/img/. fuzz-corpus/
 *   ./fuzz_img -max_total_time=60 -rss_limit_mb=1024 fuzz-corpus
 * Inputs that crash go to tests/corpus/img/ (tests/test_img.c decodes them). */
#include <stddef.h>
#include <stdint.h>

#include "../../io/img.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	img_limits lim = { .max_pixels = 1 << 20, .max_side = 4096 };
	pl_err err;
	img im;

	if (size > 0 && (data[0] & 1))
		lim.fit_w = lim.fit_h = 16;
	if (img_decode_mem(data, size, "fuzz", &lim, &im, &err) == 0) {
		/* touch every sample so that a short buffer is caught */
		volatile float sum = 0;
		size_t i, n = (size_t)im.w * im.h * im.c;

		for (i = 0; i < n; i++)
			sum += im.px[i];
		(void)sum;
		img_release(&im);
	}
	return 0;
}
