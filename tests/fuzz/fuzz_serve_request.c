/* libFuzzer target for the request decoding of `pipeline serve`
 * (stages/serve/request.c): v1 and v2 JSON bodies into instances (nested
 * arrays into tensors, base64 into image bytes, many instances per body)
 * and base64 alone. The first input byte picks the decoder and the model's
 * input shape; the rest is the body. A failure must explain itself and
 * leave nothing; a success must hold instances that fit the shape.
 *
 * Build (scripts/fuzz.sh does this): link with the pipeline's library built
 * with -fsanitize=fuzzer-no-link,address,undefined, e.g.
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -march=x86-64-v2 \
 *     -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_serve_request.c \
 *     build-fuzz/libpipeline-fuzz.a $(pkg-config --libs jansson nettle) -lm
 *   ./fuzz_serve_request -max_total_time=60 CORPUS_DIR tests/corpus/serve_request
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../stages/serve/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const serve_request *r, serve_shape s, int max)
{
	if (r->n < 1 || r->n > max || !r->inst)
		abort();
	for (int i = 0; i < r->n; i++) {
		const serve_instance *in = &r->inst[i];
		if (in->kind == SERVE_IN_TENSOR) {
			if (!in->values)
				abort();
			volatile float sum = 0;   /* reads every value: ASan checks the size */
			for (size_t k = 0; k < (size_t)s.c * s.h * s.w; k++)
				sum += in->values[k];
		} else if (in->kind != SERVE_IN_IMAGE || (!in->bytes && in->len)) {
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const serve_shape shapes[4] = { { 1, 2, 2 }, { 3, 1, 2 }, { 2, 3, 3 }, { 1, 16, 16 } };
	serve_request r;
	pl_err err;
	int rc, max = 8;

	if (size < 1)
		return 0;
	serve_shape s = shapes[data[0] & 3];
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	memset(&err, 0, sizeof(err));
	switch ((data[0] >> 2) % 3) {
	case 0:
		rc = serve_request_v1(body, len, s, max, &r, &err);
		break;
	case 1:
		rc = serve_request_v2(body, len, s, max, &r, &err);
		break;
	default: {
		unsigned char *bytes = NULL;
		size_t n = 0;
		rc = serve_b64_decode(body, len, &bytes, &n, &err);
		if ((rc == 0) != (bytes != NULL) || n > len)
			abort();
		free(bytes);
		if (rc < 0 && (!err.code || !err.msg[0]))
			abort();
		return 0;
	}
	}
	if (rc < 0) {
		if (!err.code || !err.msg[0] || r.n || r.inst || r.id)
			abort();   /* a failure explains itself and leaves nothing */
		return 0;
	}
	check_request(&r, s, max);
	serve_request_release(&r);
	return 0;
}
