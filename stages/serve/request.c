/* Request bodies of `pipeline serve` into instances: JSON through jansson,
 * base64 through nettle. Kept apart from HTTP so that it can be fuzzed. */
#include "request.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nettle/base64.h>

#define MAX_DEPTH 8   /* nesting of a v2 "data" array: [n][c][h][w] and then some */

#define B64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"

int serve_b64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len,
		     pl_err *err)
{
	size_t pad = 0, padded, i;
	char *norm;
	unsigned char *bytes;
	struct base64_decode_ctx b64;
	size_t got = 0;
	int ok;

	*out = NULL;
	*out_len = 0;
	while (len > 0 && text[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	for (i = 0; i < len && text[i] && strchr(B64_ALPHABET, text[i]); i++)
		;
	if (i < len || len % 4 == 1 || len > (size_t)1 << 30)
		return pl_errorf(err, PL_EDATA, "not base64 (character %zu)", i);
	padded = (len + 3) / 4 * 4;
	norm = malloc(padded + 1);
	bytes = malloc(padded / 4 * 3 + 1);
	if (!norm || !bytes) {
		free(norm);
		free(bytes);
		return pl_errorf(err, PL_ENOMEM, "out of memory decoding base64");
	}
	/* the URL-safe alphabet as the standard one, the padding made whole */
	for (i = 0; i < len; i++)
		norm[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
	memset(norm + len, '=', padded - len);
	base64_decode_init(&b64);
	ok = base64_decode_update(&b64, &got, bytes, padded, norm) && base64_decode_final(&b64);
	free(norm);
	if (!ok) {
		free(bytes);
		return pl_errorf(err, PL_EDATA, "not base64");
	}
	*out = bytes;
	*out_len = got;
	return 0;
}

void serve_request_release(serve_request *r)
{
	for (int i = 0; i < r->n; i++) {
		free(r->inst[i].bytes);
		free(r->inst[i].values);
	}
	free(r->inst);
	free(r->id);
	memset(r, 0, sizeof(*r));
}

static int parse_body(const char *body, size_t len, json_t **root, pl_err *err)
{
	json_error_t je;

	*root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!*root)
		return pl_errorf(err, PL_EDATA, "malformed JSON at line %d column %d: %s", je.line,
				 je.column, je.text);
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return pl_errorf(err, PL_EDATA, "the body must be a JSON object");
	}
	return 0;
}

static int alloc_instances(serve_request *r, size_t n, int max_instances, const char *what,
			   pl_err *err)
{
	if (n == 0)
		return pl_errorf(err, PL_EDATA, "%s holds no instance", what);
	if (n > (size_t)max_instances)
		return pl_errorf(err, PL_EDATA, "%s holds %zu instances, at most %d are taken", what,
				 n, max_instances);
	if (!(r->inst = calloc(n, sizeof(*r->inst))))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	r->n = (int)n;
	return 0;
}

/* One instance from base64 text. */
static int take_b64(serve_instance *in, const char *text, size_t len, int index, pl_err *err)
{
	int rc;

	in->kind = SERVE_IN_IMAGE;
	if ((rc = serve_b64_decode(text, len, &in->bytes, &in->len, err)) < 0)
		return pl_errprefix(err, "instance %d: ", index);
	return 0;
}

/* Copies the numbers of v, nested exactly as dims (n_dims of them), into
 * out. */
static int take_nested(const json_t *v, const int *dims, int n_dims, serve_shape s, float *out,
		       size_t *pos, int index, pl_err *err)
{
	if (n_dims == 0) {
		if (!json_is_number(v))
			return pl_errorf(err, PL_EDATA, "instance %d: value %zu is not a number", index,
					 *pos);
		out[(*pos)++] = (float)json_number_value(v);
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) != (size_t)dims[0])
		return pl_errorf(err, PL_EDATA, "instance %d: wrong shape: an array of %zu where the "
				 "model's input [%d,%d,%d] wants %d", index,
				 json_is_array(v) ? json_array_size(v) : 0, s.c, s.h, s.w, dims[0]);
	for (size_t i = 0; i < json_array_size(v); i++) {
		int rc = take_nested(json_array_get(v, i), dims + 1, n_dims - 1, s, out, pos, index, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int take_v1_instance(serve_instance *in, const json_t *v, serve_shape s, int index,
			    pl_err *err)
{
	const json_t *b64 = json_object_get(v, "b64");
	int dims[3] = { s.c, s.h, s.w };
	size_t pos = 0;

	if (json_is_object(v) && json_is_string(b64))
		return take_b64(in, json_string_value(b64), json_string_length(b64), index, err);
	if (json_is_object(v))
		return pl_errorf(err, PL_EDATA, "instance %d: an object instance needs a \"b64\" "
				 "string", index);
	if (!json_is_array(v))
		return pl_errorf(err, PL_EDATA, "instance %d: neither {\"b64\": ...} nor an array of "
				 "shape [%d,%d,%d]", index, s.c, s.h, s.w);
	in->kind = SERVE_IN_TENSOR;
	if (!(in->values = malloc((size_t)s.c * s.h * s.w * sizeof(float))))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	return take_nested(v, dims, 3, s, in->values, &pos, index, err);
}

int serve_request_v1(const char *body, size_t len, serve_shape s, int max_instances,
		     serve_request *out, pl_err *err)
{
	json_t *root, *instances;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = parse_body(body, len, &root, err)) < 0)
		return rc;
	instances = json_object_get(root, "instances");
	if (!json_is_array(instances))
		rc = pl_errorf(err, PL_EDATA, "the body has no \"instances\" array");
	else
		rc = alloc_instances(out, json_array_size(instances), max_instances, "\"instances\"", err);
	for (int i = 0; rc == 0 && i < out->n; i++)
		rc = take_v1_instance(&out->inst[i], json_array_get(instances, i), s, i, err);
	json_decref(root);
	if (rc < 0)
		serve_request_release(out);
	return rc;
}

/* Counts the leaves of a (nested) "data" array, and checks they all are
 * numbers (want_strings 0) or strings (1). */
static int count_leaves(const json_t *v, int want_strings, int depth, size_t *n, pl_err *err)
{
	if (json_is_array(v)) {
		if (depth == MAX_DEPTH)
			return pl_errorf(err, PL_EDATA, "\"data\" is nested over %d deep", MAX_DEPTH);
		for (size_t i = 0; i < json_array_size(v); i++) {
			int rc = count_leaves(json_array_get(v, i), want_strings, depth + 1, n, err);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (want_strings ? !json_is_string(v) : !json_is_number(v))
		return pl_errorf(err, PL_EDATA, "\"data\" item %zu is not a %s", *n,
				 want_strings ? "string (base64 of an image)" : "number");
	(*n)++;
	return 0;
}

/* Visits the leaves of "data" in row-major order. */
static int each_leaf(const json_t *v, serve_request *r, size_t *pos, size_t per, int bytes,
		     pl_err *err)
{
	size_t i = *pos;
	int rc = 0;

	if (json_is_array(v)) {
		for (size_t k = 0; rc == 0 && k < json_array_size(v); k++)
			rc = each_leaf(json_array_get(v, k), r, pos, per, bytes, err);
		return rc;
	}
	(*pos)++;
	if (bytes)
		return take_b64(&r->inst[i], json_string_value(v), json_string_length(v), (int)i, err);
	r->inst[i / per].kind = SERVE_IN_TENSOR;
	r->inst[i / per].values[i % per] = (float)json_number_value(v);
	return 0;
}

/* The number of instances that shape declares, checked against the model's
 * input (FP32) or as [n] (BYTES); 0 after filling err. */
static size_t v2_instances(const json_t *shape, int bytes, serve_shape s, pl_err *err)
{
	size_t n_dims = json_array_size(shape);
	long long d[4] = { 1, 0, 0, 0 };
	size_t first = n_dims == 3 ? 1 : 0;

	for (size_t i = 0; i < n_dims && i < 4; i++)
		if (!json_is_integer(json_array_get(shape, i)) ||
		    (d[first + i] = json_integer_value(json_array_get(shape, i))) < 1) {
			pl_errorf(err, PL_EDATA, "\"shape\" must hold positive integers");
			return 0;
		}
	if (bytes && n_dims == 1)
		return (size_t)d[0];
	if (!bytes && (n_dims == 3 || n_dims == 4) && d[1] == s.c && d[2] == s.h && d[3] == s.w)
		return (size_t)d[0];
	if (bytes)
		pl_errorf(err, PL_EDATA, "wrong shape: a BYTES input has shape [n]");
	else
		pl_errorf(err, PL_EDATA, "wrong shape: the model's input is [n,%d,%d,%d]", s.c, s.h, s.w);
	return 0;
}

static int take_v2_input(const json_t *input, serve_shape s, int max_instances,
			 serve_request *r, pl_err *err)
{
	const char *type = json_string_value(json_object_get(input, "datatype"));
	const json_t *data = json_object_get(input, "data");
	size_t per = (size_t)s.c * s.h * s.w, n, leaves = 0, pos = 0;
	int bytes = type && !strcmp(type, "BYTES"), rc;

	if (!type || (!bytes && strcmp(type, "FP32")))
		return pl_errorf(err, PL_EDATA, "the input's \"datatype\" must be FP32 or BYTES");
	if (!json_is_array(json_object_get(input, "shape")) || !json_is_array(data))
		return pl_errorf(err, PL_EDATA, "the input needs a \"shape\" and a \"data\" array");
	if (!(n = v2_instances(json_object_get(input, "shape"), bytes, s, err)))
		return -PL_EDATA;
	if ((rc = count_leaves(data, bytes, 0, &leaves, err)) < 0)
		return rc;
	if (leaves != n * (bytes ? 1 : per))
		return pl_errorf(err, PL_EDATA, "wrong shape: \"data\" holds %zu values, \"shape\" "
				 "says %zu", leaves, n * (bytes ? 1 : per));
	if ((rc = alloc_instances(r, n, max_instances, "the input", err)) < 0)
		return rc;
	for (int i = 0; !bytes && i < r->n; i++)
		if (!(r->inst[i].values = malloc(per * sizeof(float))))
			return pl_errorf(err, PL_ENOMEM, "out of memory");
	return each_leaf(data, r, &pos, bytes ? 1 : per, bytes, err);
}

int serve_request_v2(const char *body, size_t len, serve_shape s, int max_instances,
		     serve_request *out, pl_err *err)
{
	json_t *root, *inputs, *id;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = parse_body(body, len, &root, err)) < 0)
		return rc;
	inputs = json_object_get(root, "inputs");
	id = json_object_get(root, "id");
	if (!json_is_array(inputs) || json_array_size(inputs) != 1 ||
	    !json_is_object(json_array_get(inputs, 0)))
		rc = pl_errorf(err, PL_EDATA, "the body needs \"inputs\": [one input object]");
	else if (id && !json_is_string(id))
		rc = pl_errorf(err, PL_EDATA, "\"id\" must be a string");
	else if (id && !(out->id = strdup(json_string_value(id))))
		rc = pl_errorf(err, PL_ENOMEM, "out of memory");
	if (rc == 0)
		rc = take_v2_input(json_array_get(inputs, 0), s, max_instances, out, err);
	json_decref(root);
	if (rc < 0)
		serve_request_release(out);
	return rc;
}
