/* Preprocessing shared by prepare and predict: stack channel images,
 * convert channels, resize, cut tiles, intensity transforms. */
#ifndef PL_PREPROC_H
#define PL_PREPROC_H

#include <stdint.h>

#include <jansson.h>

#include "../io/cfg.h"
#include "../io/img.h"

/* Channels of a sample, in all: its channel files, or the planes they stack. */
#define PREPROC_MAX_CHANNELS 16

enum { PREPROC_STACKED, PREPROC_GRAY, PREPROC_RGB };
enum { PREPROC_ANSCOMBE = 1, PREPROC_MINMAX, PREPROC_CLIP };

typedef struct preproc_opts {
	int size;               /* output side, pixels */
	int resize_w, resize_h; /* resize before tiling; 0 = keep */
	int tile;               /* tile side; 0 = whole image */
	int ops[8], n_ops;      /* PREPROC_ANSCOMBE ... in order */
	int channels_out;       /* PREPROC_STACKED, PREPROC_GRAY, PREPROC_RGB */
	img_limits lim;
} preproc_opts;

/* Output of one sample: n_tiles tiles of c x size x size floats in 0..1,
 * channel-planar (CHW), one after another. */
typedef struct preproc_result {
	int c, n_tiles;
	float *tiles;           /* owned; free with preproc_result_release */
} preproc_result;

/* Reads the [prepare] (and image limit) settings of c. */
int preproc_from_cfg(const cfg *c, preproc_opts *o, pl_err *err);

/* The same settings as JSON (stored in the model for predict) and back. */
json_t *preproc_to_json(const preproc_opts *o);
int preproc_from_json(const json_t *j, preproc_opts *o, pl_err *err);

/* Channels of the output for inputs totalling in_channels channels. */
int preproc_out_channels(const preproc_opts *o, int in_channels);

/* Stacks n decoded images (one per channel file; alpha is dropped) and
 * produces the tiles; names[i] names image i in messages. */
int preproc_images(const preproc_opts *o, const img *ims, const char *const *names, int n,
		preproc_result *out, pl_err *err);

/* The decode limits for a sample of n_files channel files: o's limits,
 * with the size preprocessing resizes the whole image to as the fit target
 * (size x size without tiles; none with tiles, or for several channel
 * files, whose sizes must agree).
 * prepare and predict decode with these, so both see the same pixels. */
void preproc_decode_limits(const preproc_opts *o, int n_files, img_limits *lim);

/* Decodes the n files (paths) with preproc_decode_limits and calls
 * preproc_images. */
int preproc_files(const preproc_opts *o, char *const *paths, int n, preproc_result *out,
	       pl_err *err);

/* As preproc_files, decoding n images from memory: bufs[i] (lens[i] bytes)
 * named names[i] in messages. */
int preproc_mem(const preproc_opts *o, const void *const *bufs, const size_t *lens,
		const char *const *names, int n, preproc_result *out, pl_err *err);

void preproc_result_release(preproc_result *r);

/* Rounds n values in 0..1 to 8-bit steps as u8 records store them; the
 * bytes go to out (may be NULL) and the values are replaced by byte/255. */
void preproc_quantize_u8(float *px, uint8_t *out, size_t n);

#endif
