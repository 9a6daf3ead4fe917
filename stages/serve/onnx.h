/* The package's model.onnx: the network as an ONNX model (opset 13),
 * written with protobuf-c from the pinned stages/serve/onnx.proto. */
#ifndef PL_SERVE_ONNX_H
#define PL_SERVE_ONNX_H

#include "../../io/err.h"
#include "../../nn/nn.h"

/* Writes net as an ONNX model at path: input "input", float32 NCHW of the
 * pixels scaled to 0..1 as prepare stores them (before standardisation);
 * the standardisation with meta's mean and std as Sub and Div nodes; the
 * layers; output "probabilities" after Softmax. meta's class names go in
 * metadata_props ("classes", a JSON array), with name and version. */
int onnx_write(const nn_net *net, const nn_meta *meta, const char *name, const char *version,
	       const char *path, pl_err *err);

/* As onnx_write, for the model file at model_path. */
int onnx_write_model(const char *model_path, const char *name, const char *version,
		     const char *path, pl_err *err);

#endif
