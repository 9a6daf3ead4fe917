/* model.onnx: the graph is built from the net's layer views as protobuf-c
 * messages in one arena (freed at once), packed and written. Weights are
 * referenced in place as raw little-endian float data, not copied. */
#include "onnx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../io/fs.h"
#include "../../io/version.h"
#include "onnx.pb-c.h"

#define OPSET 13
#define IR_VERSION 7        /* the IR of opset 13 */
#define MAX_NODES 256       /* a layer takes at most 3 nodes, NN has at most 64 layers */

/* Every allocation of one model, freed together. */
typedef struct block { struct block *next; max_align_t data[]; } block;

typedef struct builder {
	block *blocks;
	int oom;
	Onnx__NodeProto *nodes[MAX_NODES];
	Onnx__TensorProto *inits[MAX_NODES];
	int n_nodes, n_inits, n_values;
	char value[32];         /* the name of the current tensor */
	int rank;               /* its rank: 4 (NCHW) or 2 (N x features) */
} builder;

static void *alloc(builder *b, size_t n)
{
	block *blk = b->oom ? NULL : calloc(1, sizeof(block) + n);

	if (!blk) {
		b->oom = 1;
		return NULL;
	}
	blk->next = b->blocks;
	b->blocks = blk;
	return blk->data;
}

static char *text(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *text(builder *b, const char *fmt, ...)
{
	va_list ap;
	char buf[4096];
	char *s;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	len = strlen(buf) + 1;
	if ((s = alloc(b, len)))
		memcpy(s, buf, len);
	return s;
}

/* An initializer named name of float data (dims given, n_dims of them). */
static const char *add_tensor(builder *b, const char *name, const float *data, size_t n,
			      const int64_t *dims, int n_dims)
{
	Onnx__TensorProto *t = alloc(b, sizeof(*t));
	int64_t *d = alloc(b, (size_t)n_dims * sizeof(*d));

	if (!t || !d || b->n_inits == MAX_NODES)
		return b->oom = 1, name;
	onnx__tensor_proto__init(t);
	memcpy(d, dims, (size_t)n_dims * sizeof(*d));
	t->name = text(b, "%s", name);
	t->n_dims = (size_t)n_dims;
	t->dims = d;
	t->has_data_type = 1;
	t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	t->has_raw_data = 1;
	t->raw_data.len = n * sizeof(float);
	t->raw_data.data = (uint8_t *)data;   /* packed, never written through */
	b->inits[b->n_inits++] = t;
	return t->name;
}

static const char *add_ints(builder *b, const char *name, const int64_t *v, int n)
{
	Onnx__TensorProto *t = alloc(b, sizeof(*t));
	int64_t *copy = alloc(b, (size_t)n * sizeof(*copy)), *dims = alloc(b, sizeof(*dims));

	if (!t || !copy || !dims || b->n_inits == MAX_NODES)
		return b->oom = 1, name;
	onnx__tensor_proto__init(t);
	memcpy(copy, v, (size_t)n * sizeof(*copy));
	dims[0] = n;
	t->name = text(b, "%s", name);
	t->n_dims = 1;
	t->dims = dims;
	t->has_data_type = 1;
	t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
	t->n_int64_data = (size_t)n;
	t->int64_data = copy;
	b->inits[b->n_inits++] = t;
	return t->name;
}

static Onnx__AttributeProto *attr_ints(builder *b, const char *name, int64_t v, int n)
{
	Onnx__AttributeProto *a = alloc(b, sizeof(*a));
	int64_t *ints = alloc(b, (size_t)n * sizeof(*ints));

	if (!a || !ints)
		return NULL;
	onnx__attribute_proto__init(a);
	a->name = text(b, "%s", name);
	a->has_type = 1;
	a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
	for (int i = 0; i < n; i++)
		ints[i] = v;
	a->n_ints = (size_t)n;
	a->ints = ints;
	return a;
}

static Onnx__AttributeProto *attr_int(builder *b, const char *name, int64_t v)
{
	Onnx__AttributeProto *a = alloc(b, sizeof(*a));

	if (!a)
		return NULL;
	onnx__attribute_proto__init(a);
	a->name = text(b, "%s", name);
	a->has_type = 1;
	a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
	a->has_i = 1;
	a->i = v;
	return a;
}

static Onnx__AttributeProto *attr_float(builder *b, const char *name, float v)
{
	Onnx__AttributeProto *a = alloc(b, sizeof(*a));

	if (!a)
		return NULL;
	onnx__attribute_proto__init(a);
	a->name = text(b, "%s", name);
	a->has_type = 1;
	a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
	a->has_f = 1;
	a->f = v;
	return a;
}

/* Adds node op on the current tensor and n_extra further inputs; its
 * output (named out, or a new name) becomes the current tensor. Returns
 * the node, to which attributes can be added (room for 4). */
static Onnx__NodeProto *add_node(builder *b, const char *op, const char *out,
				 const char *const *extra, int n_extra)
{
	Onnx__NodeProto *n = alloc(b, sizeof(*n));
	char **in = alloc(b, (size_t)(n_extra + 1) * sizeof(char *));
	char **outs = alloc(b, sizeof(char *));
	Onnx__AttributeProto **attrs = alloc(b, 4 * sizeof(*attrs));

	if (!n || !in || !outs || !attrs || b->n_nodes == MAX_NODES) {
		b->oom = 1;
		return NULL;
	}
	onnx__node_proto__init(n);
	in[0] = text(b, "%s", b->value);
	for (int i = 0; i < n_extra; i++)
		in[i + 1] = (char *)extra[i];
	if (out)
		snprintf(b->value, sizeof(b->value), "%s", out);
	else
		snprintf(b->value, sizeof(b->value), "x%d", ++b->n_values);
	outs[0] = text(b, "%s", b->value);
	n->name = text(b, "node%d_%s", b->n_nodes, op);
	n->op_type = text(b, "%s", op);
	n->n_input = (size_t)n_extra + 1;
	n->input = in;
	n->n_output = 1;
	n->output = outs;
	n->attribute = attrs;
	b->nodes[b->n_nodes++] = n;
	return n;
}

static void add_attr(builder *b, Onnx__NodeProto *n, Onnx__AttributeProto *a)
{
	if (!n || !a) {
		b->oom = 1;
		return;
	}
	n->attribute[n->n_attribute++] = a;
}

/* The standardisation of the input, with the training statistics. */
static void add_standardise(builder *b, const nn_meta *meta)
{
	int64_t dims[4] = { 1, meta->n_channels, 1, 1 };
	const char *mean = add_tensor(b, "mean", meta->mean, (size_t)meta->n_channels, dims, 4);
	const char *std = add_tensor(b, "std", meta->std, (size_t)meta->n_channels, dims, 4);

	add_node(b, "Sub", NULL, &mean, 1);
	add_node(b, "Div", NULL, &std, 1);
}

/* Makes the current tensor 4-D ([N, C, 1, 1] after a dense layer) or 2-D. */
static void set_rank(builder *b, int rank, int i, nn_shape in)
{
	char name[32];

	if (b->rank == rank)
		return;
	if (rank == 2) {
		add_attr(b, add_node(b, "Flatten", NULL, NULL, 0), attr_int(b, "axis", 1));
	} else {
		int64_t shape[4] = { 0, in.c, in.h, in.w };
		snprintf(name, sizeof(name), "shape%d", i);
		const char *s = add_ints(b, name, shape, 4);
		add_node(b, "Reshape", NULL, &s, 1);
	}
	b->rank = rank;
}

static void add_weights(builder *b, const nn_layer_view *v, int i, const char **wb)
{
	char wn[32], bn[32];
	int64_t conv[4] = { v->n_out, v->in.c, v->k, v->k };
	int64_t dense[2] = { v->n_out, (int64_t)v->in.c * v->in.h * v->in.w };
	int64_t bias[1] = { v->n_out };
	int is_conv = v->kind == NN_LAYER_CONV;

	snprintf(wn, sizeof(wn), "w%d", i);
	snprintf(bn, sizeof(bn), "b%d", i);
	wb[0] = add_tensor(b, wn, v->w, (size_t)(is_conv ? conv[0] * conv[1] * conv[2] * conv[3] :
						 dense[0] * dense[1]), is_conv ? conv : dense, is_conv ? 4 : 2);
	wb[1] = add_tensor(b, bn, v->b, (size_t)v->n_out, bias, 1);
}

static void add_bn(builder *b, const nn_layer_view *v, int i)
{
	const char *in[4];
	const float *data[4] = { v->w, v->b, v->mean, v->var };
	static const char *const names[4] = { "gamma", "beta", "mean", "var" };
	int64_t dims[1] = { v->in.c };
	char name[32];

	for (int k = 0; k < 4; k++) {
		snprintf(name, sizeof(name), "%s%d", names[k], i);
		in[k] = add_tensor(b, name, data[k], (size_t)v->in.c, dims, 1);
	}
	add_attr(b, add_node(b, "BatchNormalization", NULL, in, 4), attr_float(b, "epsilon", v->eps));
}

static void add_layer(builder *b, const nn_layer_view *v, int i)
{
	const char *wb[2];
	Onnx__NodeProto *n;

	switch (v->kind) {
	case NN_LAYER_CONV:
		set_rank(b, 4, i, v->in);
		add_weights(b, v, i, wb);
		n = add_node(b, "Conv", NULL, wb, 2);
		add_attr(b, n, attr_ints(b, "kernel_shape", v->k, 2));
		add_attr(b, n, attr_ints(b, "strides", v->stride, 2));
		add_attr(b, n, attr_ints(b, "pads", v->pad, 4));
		break;
	case NN_LAYER_DENSE:
		set_rank(b, 2, i, v->in);
		add_weights(b, v, i, wb);
		add_attr(b, add_node(b, "Gemm", NULL, wb, 2), attr_int(b, "transB", 1));
		break;
	case NN_LAYER_MAXPOOL:
	case NN_LAYER_AVGPOOL:
		set_rank(b, 4, i, v->in);
		n = add_node(b, v->kind == NN_LAYER_MAXPOOL ? "MaxPool" : "AveragePool", NULL, NULL, 0);
		add_attr(b, n, attr_ints(b, "kernel_shape", v->k, 2));
		add_attr(b, n, attr_ints(b, "strides", v->stride, 2));
		break;
	case NN_LAYER_GAP:
		set_rank(b, 4, i, v->in);
		add_node(b, "GlobalAveragePool", NULL, NULL, 0);
		break;
	case NN_LAYER_RELU:
		add_node(b, "Relu", NULL, NULL, 0);
		break;
	case NN_LAYER_BN:
		add_bn(b, v, i);
		break;
	case NN_LAYER_DROPOUT:   /* inference: the identity */
		break;
	}
}

/* A float tensor type with dims (-1: the batch, "N"). */
static Onnx__ValueInfoProto *value_info(builder *b, const char *name, const int64_t *dims, int n)
{
	Onnx__ValueInfoProto *vi = alloc(b, sizeof(*vi));
	Onnx__TypeProto *tp = alloc(b, sizeof(*tp));
	Onnx__TypeProto__Tensor *tt = alloc(b, sizeof(*tt));
	Onnx__TensorShapeProto *sh = alloc(b, sizeof(*sh));
	Onnx__TensorShapeProto__Dimension **d = alloc(b, (size_t)n * sizeof(*d));

	if (!vi || !tp || !tt || !sh || !d)
		return NULL;
	onnx__value_info_proto__init(vi);
	onnx__type_proto__init(tp);
	onnx__type_proto__tensor__init(tt);
	onnx__tensor_shape_proto__init(sh);
	for (int i = 0; i < n; i++) {
		if (!(d[i] = alloc(b, sizeof(*d[i]))))
			return NULL;
		onnx__tensor_shape_proto__dimension__init(d[i]);
		if (dims[i] < 0) {
			d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
			d[i]->dim_param = text(b, "N");
		} else {
			d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
			d[i]->dim_value = dims[i];
		}
	}
	sh->n_dim = (size_t)n;
	sh->dim = d;
	tt->has_elem_type = 1;
	tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	tt->shape = sh;
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	vi->name = text(b, "%s", name);
	vi->type = tp;
	return vi;
}

/* The graph from "input" to "probabilities". */
static Onnx__GraphProto *build_graph(builder *b, const nn_net *net, const nn_meta *meta)
{
	Onnx__GraphProto *g = alloc(b, sizeof(*g));
	Onnx__ValueInfoProto **in = alloc(b, sizeof(*in)), **out = alloc(b, sizeof(*out));
	nn_shape s = nn_input_shape(net);
	int64_t in_dims[4] = { -1, s.c, s.h, s.w }, out_dims[2] = { -1, nn_n_classes(net) };

	if (!g || !in || !out)
		return NULL;
	onnx__graph_proto__init(g);
	snprintf(b->value, sizeof(b->value), "input");
	b->rank = 4;
	if (meta->n_channels == s.c)
		add_standardise(b, meta);
	for (int i = 0; i < nn_n_layers(net); i++) {
		nn_layer_view v = nn_layer_at(net, i);
		add_layer(b, &v, i);
	}
	set_rank(b, 2, nn_n_layers(net), s);
	add_attr(b, add_node(b, "Softmax", "probabilities", NULL, 0), attr_int(b, "axis", 1));
	in[0] = value_info(b, "input", in_dims, 4);
	out[0] = value_info(b, "probabilities", out_dims, 2);
	g->name = text(b, "pipeline");
	g->n_node = (size_t)b->n_nodes;
	g->node = b->nodes;
	g->n_initializer = (size_t)b->n_inits;
	g->initializer = b->inits;
	g->n_input = 1;
	g->input = in;
	g->n_output = 1;
	g->output = out;
	return b->oom || !in[0] || !out[0] ? NULL : g;
}

/* metadata_props: classes (a JSON array), name, version. */
static Onnx__StringStringEntryProto **metadata(builder *b, const nn_meta *meta, const char *name,
					       const char *version)
{
	Onnx__StringStringEntryProto **props = alloc(b, 3 * sizeof(*props));
	json_t *classes = json_array();
	char *list;
	static const char *const keys[3] = { "classes", "name", "version" };

	for (int c = 0; c < meta->n_classes; c++)
		json_array_append_new(classes, json_string(meta->class_names[c]));
	list = json_dumps(classes, JSON_COMPACT);
	json_decref(classes);
	for (int i = 0; props && list && i < 3; i++) {
		if (!(props[i] = alloc(b, sizeof(*props[i]))))
			break;
		onnx__string_string_entry_proto__init(props[i]);
		props[i]->key = text(b, "%s", keys[i]);
		props[i]->value = text(b, "%s", i == 0 ? list : i == 1 ? name : version);
	}
	if (!list)
		b->oom = 1;
	free(list);
	return props;
}

static int pack_and_write(Onnx__ModelProto *m, const char *path, pl_err *err)
{
	size_t len = onnx__model_proto__get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	int rc;

	if (!buf)
		return pl_errorf(err, PL_ENOMEM, "out of memory writing '%s'", path);
	onnx__model_proto__pack(m, buf);
	rc = fs_write_file(path, buf, len, err);
	free(buf);
	return rc;
}

int onnx_write(const nn_net *net, const nn_meta *meta, const char *name, const char *version,
	       const char *path, pl_err *err)
{
	builder b = { 0 };
	Onnx__ModelProto m;
	Onnx__OperatorSetIdProto opset, *opsets[1] = { &opset };
	int rc = 0;

	onnx__model_proto__init(&m);
	onnx__operator_set_id_proto__init(&opset);
	opset.domain = "";
	opset.has_version = 1;
	opset.version = OPSET;
	m.has_ir_version = 1;
	m.ir_version = IR_VERSION;
	m.n_opset_import = 1;
	m.opset_import = opsets;
	m.producer_name = "pipeline";
	m.producer_version = PL_VERSION;
	m.graph = build_graph(&b, net, meta);
	m.metadata_props = metadata(&b, meta, name, version);
	m.n_metadata_props = 3;
	if (b.oom || !m.graph)
		rc = pl_errorf(err, PL_ENOMEM, "out of memory building '%s'", path);
	else
		rc = pack_and_write(&m, path, err);
	while (b.blocks) {
		block *next = b.blocks->next;
		free(b.blocks);
		b.blocks = next;
	}
	return rc;
}

int onnx_write_model(const char *model_path, const char *name, const char *version,
		     const char *path, pl_err *err)
{
	nn_meta meta = { 0 };
	nn_err e = { 0 };
	nn_net *net = nn_model_load(model_path, 1, 1, &meta, &e);
	int rc;

	if (!net)
		return pl_errorf(err, PL_EDATA, "%s", e.msg);
	rc = onnx_write(net, &meta, name, version, path, err);
	nn_net_free(net);
	nn_meta_free(&meta);
	return rc;
}
