/* Parses an architecture string ("conv 32 5 pad 2, relu, maxpool 2, dense")
 * into layers with shapes checked, parameter offsets and a normalised text. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nn_impl.h"

int (nn_errorf)(nn_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return -code;
}

/* Splits s into at most max whitespace-separated words (in place). */
static int split_words(char *s, char **words, int max)
{
	int n = 0;
	for (char *p = strtok(s, " \t\r\n"); p; p = strtok(NULL, " \t\r\n")) {
		if (n == max)
			return max + 1;
		words[n++] = p;
	}
	return n;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* Parses the words after the layer name: positional integers then
 * "stride S" / "pad P" options (conv and pools). */
static int parse_args(nn_layer *ly, char **wd, int nw, int n_pos, const char *what,
                      int idx, const char *text, nn_err *err)
{
	int pos[2] = { 0, 0 }, np = 0;
	for (int i = 1; i < nw; i++) {
		int *dst = NULL;
		if (!strcmp(wd[i], "stride") || !strcmp(wd[i], "pad")) {
			if (ly->kind == L_GAP || (ly->kind != L_CONV && !strcmp(wd[i], "pad")) || i + 1 == nw)
				return nn_errorf(err, NN_EUSAGE, "layer %d '%s': unexpected '%s' (expected %s)",
				                 idx, text, wd[i], what);
			dst = !strcmp(wd[i], "stride") ? &ly->stride : &ly->pad;
			if (parse_int(wd[++i], dst == &ly->pad ? 0 : 1, 1024, dst) != 0)
				return nn_errorf(err, NN_EUSAGE, "layer %d '%s': bad %s '%s' (expected %s)",
				                 idx, text, wd[i - 1], wd[i], what);
			continue;
		}
		if (np == n_pos || parse_int(wd[i], 1, 1 << 20, &pos[np]) != 0)
			return nn_errorf(err, NN_EUSAGE, "layer %d '%s': unexpected '%s' (expected %s)",
			                 idx, text, wd[i], what);
		np++;
	}
	if (np < n_pos && !(ly->kind == L_DENSE && np == 0))
		return nn_errorf(err, NN_EUSAGE, "layer %d '%s': missing size (expected %s)", idx, text, what);
	if (ly->kind == L_CONV) {
		ly->n_out = pos[0];
		ly->k = pos[1];
	} else if (ly->kind == L_DENSE) {
		ly->n_out = pos[0];
	} else {
		ly->k = pos[0];
	}
	return 0;
}

/* Fills ly from one comma-separated item; idx is 1-based for messages. */
static int parse_layer(nn_layer *ly, char *item, int idx, nn_err *err)
{
	char text[96], *wd[8];
	snprintf(text, sizeof(text), "%s", item);
	int nw = split_words(item, wd, 7);
	memset(ly, 0, sizeof(*ly));
	ly->stride = 1;
	if (nw == 0)
		return nn_errorf(err, NN_EUSAGE, "layer %d is empty (stray comma?)", idx);
	if (nw > 7)
		return nn_errorf(err, NN_EUSAGE, "layer %d '%s': too many words", idx, text);
	const char *name = wd[0];
	if (!strcmp(name, "conv")) {
		ly->kind = L_CONV;
		return parse_args(ly, wd, nw, 2, "'conv N K [stride S] [pad P]'", idx, text, err);
	}
	if (!strcmp(name, "maxpool") || !strcmp(name, "avgpool")) {
		ly->kind = name[0] == 'm' ? L_MAXPOOL : L_AVGPOOL;
		ly->stride = 0;
		int rc = parse_args(ly, wd, nw, 1, "'maxpool K [stride S]'", idx, text, err);
		if (rc == 0 && ly->stride == 0)
			ly->stride = ly->k;
		return rc;
	}
	if (!strcmp(name, "dense")) {
		ly->kind = L_DENSE;
		return parse_args(ly, wd, nw, 1, "'dense [N]'", idx, text, err);
	}
	if (!strcmp(name, "dropout")) {
		char *end;
		ly->kind = L_DROPOUT;
		if (nw != 2 || (ly->drop_p = strtof(wd[1], &end), *end) || end == wd[1] ||
		    !(ly->drop_p >= 0.0f && ly->drop_p < 1.0f))
			return nn_errorf(err, NN_EUSAGE, "layer %d '%s': expected 'dropout P' with 0 <= P < 1",
			                 idx, text);
		return 0;
	}
	static const struct { const char *name; int kind; } plain[] = {
		{ "relu", L_RELU }, { "bn", L_BN }, { "gap", L_GAP } };
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (!strcmp(name, plain[i].name)) {
			ly->kind = plain[i].kind;
			if (nw != 1)
				return nn_errorf(err, NN_EUSAGE, "layer %d '%s': '%s' takes no arguments",
				                 idx, text, name);
			return 0;
		}
	return nn_errorf(err, NN_EUSAGE, "layer %d '%s': unknown layer '%s' (expected conv, maxpool, "
	                 "avgpool, gap, bn, relu, dropout or dense)", idx, text, name);
}

/* Computes ly's output shape from its input; fails naming the layer. */
static int shape_layer(nn_layer *ly, nn_shape in, int n_classes, int idx, const char *text, nn_err *err)
{
	ly->in = in;
	ly->out = in;
	switch (ly->kind) {
	case L_CONV:
	case L_MAXPOOL:
	case L_AVGPOOL: {
		int h = in.h + 2 * ly->pad, w = in.w + 2 * ly->pad;
		if (h < ly->k || w < ly->k)
			return nn_errorf(err, NN_EUSAGE, "layer %d '%s': input %dx%d is smaller than the %s",
			                 idx, text, in.h, in.w, ly->kind == L_CONV ? "kernel" : "window");
		if (ly->kind == L_CONV && ly->pad >= ly->k)
			return nn_errorf(err, NN_EUSAGE, "layer %d '%s': padding %d must be smaller than the kernel %d",
			                 idx, text, ly->pad, ly->k);
		ly->out.h = (h - ly->k) / ly->stride + 1;
		ly->out.w = (w - ly->k) / ly->stride + 1;
		if (ly->kind == L_CONV)
			ly->out.c = ly->n_out;
		break;
	}
	case L_GAP: ly->out.h = ly->out.w = 1; break;
	case L_DENSE:
		if (ly->n_out == 0)
			ly->n_out = n_classes;
		ly->out = (nn_shape){ ly->n_out, 1, 1 };
		break;
	default: break;
	}
	return 0;
}

/* Writes the normalised text of ly. */
static void layer_text(nn_layer *ly)
{
	static const char *names[] = { "conv", "dense", "maxpool", "avgpool", "gap", "relu", "bn", "dropout" };
	char *t = ly->text;
	size_t sz = sizeof(ly->text);
	if (ly->kind == L_CONV)
		snprintf(t, sz, "conv %d %d", ly->n_out, ly->k);
	else if (ly->kind == L_DENSE)
		snprintf(t, sz, "dense %d", ly->n_out);
	else if (ly->kind == L_MAXPOOL || ly->kind == L_AVGPOOL)
		snprintf(t, sz, "%s %d", names[ly->kind], ly->k);
	else if (ly->kind == L_DROPOUT)
		snprintf(t, sz, "dropout %g", (double)ly->drop_p);
	else
		snprintf(t, sz, "%s", names[ly->kind]);
	size_t len = strlen(t);
	if (ly->stride != (ly->kind == L_CONV ? 1 : ly->k) && ly->kind != L_DENSE && ly->kind != L_DROPOUT &&
	    ly->kind != L_RELU && ly->kind != L_BN && ly->kind != L_GAP)
		len += (size_t)snprintf(t + len, sz - len, " stride %d", ly->stride);
	if (ly->pad)
		snprintf(t + len, sz - len, " pad %d", ly->pad);
}

/* Assigns parameter and statistic offsets and the decay segments. */
static void place_params(struct nn_net *net)
{
	size_t p = 0, s = 0;
	net->n_segs = 0;
	for (int l = 0; l < net->n_layers; l++) {
		nn_layer *ly = &net->layers[l];
		if (ly->kind == L_CONV || ly->kind == L_DENSE) {
			ly->n_w = (size_t)ly->n_out * ly->in.c * ly->in.h * ly->in.w;
			if (ly->kind == L_CONV)
				ly->n_w = (size_t)ly->n_out * ly->in.c * ly->k * ly->k;
			ly->n_b = (size_t)ly->n_out;
		} else if (ly->kind == L_BN) {
			ly->n_w = ly->n_b = (size_t)ly->in.c;
			ly->s_off = s;
			s += 2 * (size_t)ly->in.c;
		} else {
			continue;
		}
		ly->w_off = p;
		ly->b_off = p + ly->n_w;
		net->segs[net->n_segs++] = (nn_seg){ p, ly->n_w, ly->kind != L_BN };
		net->segs[net->n_segs++] = (nn_seg){ ly->b_off, ly->n_b, 0 };
		p += ly->n_w + ly->n_b;
	}
	net->n_params = p;
	net->n_stats = s;
}

/* Parses arch into net->layers for input net->in and net->n_classes
 * (0: not known yet, any count of final outputs is accepted);
 * sets shapes, offsets, flags and net->arch (normalised). */
int nn_parse_arch(struct nn_net *net, const char *arch, nn_err *err)
{
	char *copy = strdup(arch ? arch : ""), *rest = copy, *item;
	nn_shape s = net->in;
	int rc = 0, n = 0;
	size_t cap = 1;
	if (!copy)
		return nn_errorf(err, NN_ENOMEM, "out of memory");
	while (rest && (item = strsep(&rest, ",")) != NULL) {
		char text[96];
		while (isspace((unsigned char)*item))
			item++;
		snprintf(text, sizeof(text), "%s", item);
		for (size_t e = strlen(text); e > 0 && isspace((unsigned char)text[e - 1]); e--)
			text[e - 1] = '\0';
		if (n == NN_MAX_LAYERS) {
			rc = nn_errorf(err, NN_EUSAGE, "too many layers (at most %d)", NN_MAX_LAYERS);
			goto out;
		}
		nn_layer *ly = &net->layers[n];
		if ((rc = parse_layer(ly, item, n + 1, err)) != 0 ||
		    (rc = shape_layer(ly, s, net->n_classes ? net->n_classes : 2, n + 1, text, err)) != 0)
			goto out;
		layer_text(ly);
		if ((size_t)ly->out.c * ly->out.h * ly->out.w > NN_MAX_ACT ||
		    (ly->kind == L_CONV && (size_t)ly->in.c * ly->k * ly->k > NN_MAX_ACT) ||
		    (ly->kind == L_DENSE && (size_t)ly->in.c * ly->in.h * ly->in.w * ly->n_out > NN_MAX_ACT)) {
			rc = nn_errorf(err, NN_EUSAGE, "layer %d '%s': too large (more than %d values per "
			               "sample or weights)", n + 1, text, NN_MAX_ACT);
			goto out;
		}
		cap += strlen(ly->text) + 2;
		s = ly->out;
		n++;
	}
	if (n == 0) {
		rc = nn_errorf(err, NN_EUSAGE, "the architecture is empty (expected e.g. 'conv 32 3 pad 1, "
		               "relu, maxpool 2, dense')");
		goto out;
	}
	if ((net->n_classes && s.c != net->n_classes) || s.h != 1 || s.w != 1) {
		char classes[24] = "";
		if (net->n_classes)
			snprintf(classes, sizeof(classes), " (%d)", net->n_classes);
		rc = nn_errorf(err, NN_EUSAGE, "layer %d '%s': the network ends with %dx%dx%d outputs, "
		               "not one per class%s; end with 'dense'", n, net->layers[n - 1].text,
		               s.c, s.h, s.w, classes);
		goto out;
	}
	net->n_layers = n;
	place_params(net);
	if (!(net->arch = malloc(cap))) {
		rc = nn_errorf(err, NN_ENOMEM, "out of memory");
		goto out;
	}
	size_t len = 0;
	net->arch[0] = '\0';
	for (int l = 0; l < n; l++)
		len += (size_t)snprintf(net->arch + len, cap - len, "%s%s", l ? ", " : "",
		                        net->layers[l].text);
out:
	free(copy);
	return rc;
}
