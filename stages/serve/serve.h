/* Serving a package: verifying it, loading its model, and predicting
 * images with exactly the preprocessing of prepare. */
#ifndef PL_SERVE_H
#define PL_SERVE_H

#include <jansson.h>

#include "../../io/err.h"
#include "../../io/img.h"

typedef struct serve_pkg serve_pkg;

/* Opens the package at path, reading only what predicting uses: MANIFEST.json
 * and model.pnn, which must match its SHA-256 there; every entry met on the
 * way must be listed there, once. A package made now stores those two first,
 * so the rest is not even decompressed; the other entries are not checked
 * (serve_verify checks them). Caller frees with serve_close. */
int serve_open(const char *path, serve_pkg **out, pl_err *err);
/* As serve_open, the network running on threads (>= 1) worker threads. */
int serve_open_threads(const char *path, int threads, serve_pkg **out, pl_err *err);
void serve_close(serve_pkg *p);
/* Checks the whole package at path: every file listed in MANIFEST.json once
 * with its SHA-256, each there and matching, and nothing else in it. Sets
 * *n_files (when not NULL) to the entries it holds. PL_EDATA naming the
 * entry at fault. */
int serve_verify(const char *path, int *n_files, pl_err *err);

int serve_n_classes(const serve_pkg *p);
const char *serve_class(const serve_pkg *p, int k);
/* Number of channel files one sample has (1 for a folder-per-class model). */
int serve_n_files(const serve_pkg *p);
/* Number of input channels of the network. */
int serve_n_channels(const serve_pkg *p);
/* Side of the network's square input, pixels. */
int serve_side(const serve_pkg *p);
/* The package's name and version (MANIFEST.json). */
const char *serve_name(const serve_pkg *p);
const char *serve_version(const serve_pkg *p);
/* Worker threads the network runs on. */
int serve_threads(const serve_pkg *p);

/* Fills lim with the limits to decode a sample's images with: those of
 * prepare for the model's preprocessing and channel files (see
 * preproc_decode_limits), so that predicting an image sees the pixels
 * prepare saw. */
void serve_decode_limits(const serve_pkg *p, img_limits *lim);

/* Samples are predicted in batches: each is preprocessed and queued, and
 * serve_run runs the network on every queued tile at once. */

/* Preprocesses one sample from its n decoded channel images (names[i] names
 * image i in messages; names[0] names the sample in serve_run) and queues
 * its tiles. Images of exactly the network's input size are taken as one
 * tile. On error (PL_EUSAGE when n is not the model's number of channel
 * files, PL_EDATA for images that do not fit it) nothing is queued. */
int serve_queue(serve_pkg *p, const img *ims, const char *const *names, int n, pl_err *err);

/* Queues one image that holds all the channels of a sample: for a model of
 * several channel files, all its channels in order when their number is
 * the model's (gray+alpha for two, RGBA for four), else its colour
 * channels in order, or G and B of a colour image for two files (the
 * reference workload's tiles). PL_EUSAGE when it has too few channels. */
int serve_queue_image(serve_pkg *p, const img *im, const char *name, pl_err *err);

/* Queues one sample given as the network's input tile (channels x side x
 * side floats, the pixels scaled to 0..1 as prepare stores them before
 * standardisation): it is standardised like an image. PL_EDATA for a value
 * outside 0..1. */
int serve_queue_tensor(serve_pkg *p, const float *x, const char *name, pl_err *err);

/* Nonzero when enough tiles are queued to fill a batch of the network. */
int serve_batch_full(const serve_pkg *p);

/* Called by serve_run for each queued sample, in queue order: probs holds
 * n_classes probabilities averaged over the sample's tiles. */
typedef void serve_emit_fn(void *ctx, const char *name, const float *probs);

/* Predicts every queued sample, calls emit for each, and empties the
 * queue (also on error: PL_EFAIL when the network fails). */
int serve_run(serve_pkg *p, serve_emit_fn *emit, void *ctx, pl_err *err);

/* The class of highest probability in probs (the first on a tie). */
int serve_best(const serve_pkg *p, const float *probs);

/* The result object `pipeline predict` prints: {"file": name, "label",
 * "scores": {class: p rounded to 1e-6}}, without "file" when name is NULL.
 * Caller owns the reference. */
json_t *serve_result_json(const serve_pkg *p, const char *name, const float *probs);

#endif
