/* Preprocessing shared by prepare and predict: stack channel images,
 * convert channels, resize, cut tiles, intensity transforms. */
#ifndef PL_PREPROC_H
#define PL_PREPROC_H

#include <stdint.h>

#include <jansson.h>

#include "../io/cfg.h"
#include "../io/img.h"

/* Channels of a sample, in all: its channel files, or the planes they stack. */
#define PREP_MAX_CHANNELS 16

enum { PREP_STACKED, PREP_GRAY, PREP_RGB };
enum { PREP_ANSCOMBE = 1, PREP_MINMAX, PREP_CLIP };

typedef struct prep_opts {
	int size;               /* output side, pixels */
	int resize_w, resize_h; /* resize before tiling; 0 = keep */
	int tile;               /* tile side; 0 = whole image */
	int ops[8], n_ops;      /* PREP_ANSCOMBE ... in order */
	int channels_out;       /* PREP_STACKED, PREP_GRAY, PREP_RGB */
	img_limits lim;
} prep_opts;

/* Output of one sample: n_tiles tiles of c x size x size floats in 0..1,
 * channel-planar (CHW), one after another. */
typedef struct prep_result {
	int c, n_tiles;
	float *tiles;           /* owned; free with prep_result_release */
} prep_result;

/* Reads the [prepare] (and image limit) settings of c. */
int prep_from_cfg(const cfg *c, prep_opts *o, pl_err *err);

/* The same settings as JSON (stored in the model for predict) and back. */
json_t *prep_to_json(const prep_opts *o);
int prep_from_json(const json_t *j, prep_opts *o, pl_err *err);

/* Channels of the output for inputs totalling in_channels channels. */
int prep_out_channels(const prep_opts *o, int in_channels);

/* Stacks n decoded images (one per channel file; alpha is dropped) and
 * produces the tiles; names[i] names image i in messages. */
int prep_images(const prep_opts *o, const img *ims, const char *const *names, int n,
		prep_result *out, pl_err *err);

/* Decodes the n files (paths) and calls prep_images. */
int prep_files(const prep_opts *o, char *const *paths, int n, prep_result *out,
	       pl_err *err);

void prep_result_release(prep_result *r);

/* Rounds n values in 0..1 to 8-bit steps as u8 records store them; the
 * bytes go to out (may be NULL) and the values are replaced by byte/255. */
void prep_quantize_u8(float *px, uint8_t *out, size_t n);

#endif
