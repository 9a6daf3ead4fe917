/* Serving a package: verifying it, loading its model, and predicting
 * images with exactly the preprocessing of prepare. */
#ifndef PL_SERVE_H
#define PL_SERVE_H

#include "../io/err.h"
#include "../io/img.h"

typedef struct serve_pkg serve_pkg;

/* Opens the package at path: every file must be listed in MANIFEST.json
 * once with its SHA-256, and nothing else may be in it. Caller frees with
 * serve_close. */
int serve_open(const char *path, serve_pkg **out, pl_err *err);
void serve_close(serve_pkg *p);

int serve_n_classes(const serve_pkg *p);
const char *serve_class(const serve_pkg *p, int k);
/* Number of channel files one sample has (1 for a folder-per-class model). */
int serve_n_files(const serve_pkg *p);
/* Number of input channels of the network. */
int serve_n_channels(const serve_pkg *p);

/* Predicts one sample from its n decoded channel images (names for
 * messages): probs gets n_classes probabilities averaged over its tiles.
 * Images of exactly the network's input size are taken as one tile. */
int serve_predict(serve_pkg *p, const img *ims, const char *const *names, int n,
		  float *probs, pl_err *err);

#endif
