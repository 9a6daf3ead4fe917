/* Decoding the bodies of `pipeline serve`'s prediction requests into
 * instances (encoded images or input tensors), without any HTTP: the TF
 * Serving / KServe v1 and Open Inference Protocol v2 JSON forms. */
#ifndef PL_SERVE_REQUEST_H
#define PL_SERVE_REQUEST_H

#include <stddef.h>

#include "../../io/err.h"

/* The network's input of one sample: channels x side x side. */
typedef struct serve_shape { int c, h, w; } serve_shape;

typedef enum { SERVE_IN_IMAGE, SERVE_IN_TENSOR } serve_in_kind;

/* One sample of a request. */
typedef struct serve_instance {
	serve_in_kind kind;
	unsigned char *bytes;   /* SERVE_IN_IMAGE: the encoded image (PNG, JPEG, BMP), owned */
	size_t len;
	float *values;          /* SERVE_IN_TENSOR: c x h x w floats, owned */
} serve_instance;

typedef struct serve_request {
	serve_instance *inst;   /* n instances, owned */
	int n;
	char *id;               /* v2 "id" to echo, or NULL; owned */
} serve_request;

/* Decodes a v1 body {"instances": [...]}: each instance {"b64": "..."} or
 * a nested array of shape [c][h][w]. At most max_instances. Fills out
 * (release with serve_request_release; empty on error). Errors are
 * PL_EDATA naming what is wrong ("malformed JSON at line 1 column 9: ...",
 * "instance 2: ..."). */
int serve_request_v1(const char *body, size_t len, serve_shape s, int max_instances,
		     serve_request *out, pl_err *err);

/* Decodes a v2 infer body {"id"?, "inputs": [one input]}: an FP32 input of
 * shape [n, c, h, w] (or [c, h, w]) with its "data" flat or nested, or a
 * BYTES input of shape [n] whose data are base64-encoded images. */
int serve_request_v2(const char *body, size_t len, serve_shape s, int max_instances,
		     serve_request *out, pl_err *err);

/* Decodes base64 text (standard or URL-safe alphabet, padding optional)
 * into a new buffer (caller frees). PL_EDATA when it is not base64. */
int serve_b64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len,
		     pl_err *err);

void serve_request_release(serve_request *r);

#endif
