/* Read-only views of a net's layers, for writing it in other formats. */
#include "nn_impl.h"

int nn_n_layers(const nn_net *net) { return net->n_layers; }

nn_layer_view nn_layer_at(const nn_net *net, int i)
{
	const nn_layer *ly = &net->layers[i];
	nn_layer_view v = { (nn_layer_kind)ly->kind, ly->in, ly->out, ly->n_out, ly->k, ly->stride,
			    ly->pad, NULL, NULL, NULL, NULL, (float)NN_BN_EPS };

	if (ly->kind == L_CONV || ly->kind == L_DENSE || ly->kind == L_BN) {
		v.w = net->params + ly->w_off;
		v.b = net->params + ly->b_off;
	}
	if (ly->kind == L_BN) {
		v.mean = net->stats + ly->s_off;
		v.var = v.mean + ly->in.c;
	}
	return v;
}
