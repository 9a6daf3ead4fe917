/* Shared between the image decoders and writers (io/img.c, png.c, jpeg.c,
 * bmp.c); not part of the public API. */
#ifndef PL_IMG_PRIV_H
#define PL_IMG_PRIV_H

#include <stdint.h>
#include <stdio.h>

#include "img.h"

/* Limits with the defaults filled in. */
typedef struct img_lim {
	int64_t max_pixels;
	int max_side;
	int fit_w, fit_h;   /* 0 = full size (see img_limits) */
} img_lim;

/* Checks declared w x h and c channels against lim before any allocation:
 * PL_EDATA naming name for an empty or negative size, or one over a limit
 * (w*h and w*h*c against max_pixels, each side against max_side). */
int img_check_size(const char *name, int64_t w, int64_t h, int c, const img_lim *lim,
		   pl_err *err);

/* Allocates out->px for w*h*c floats and fills the other fields. */
int img_alloc(img *out, int w, int h, int c, float maxval, const char *name,
	      pl_err *err);

/* Per-format decoders: buf holds the whole file, name is for messages. */
int png_decode(const uint8_t *buf, size_t len, const char *name,
	       const img_lim *lim, img *out, pl_err *err);
int jpeg_decode(const uint8_t *buf, size_t len, const char *name,
		const img_lim *lim, img *out, pl_err *err);
int bmp_decode(const uint8_t *buf, size_t len, const char *name,
	       const img_lim *lim, img *out, pl_err *err);

/* Checks the arguments of a writer: w, h > 0 and a channel count allowed by
 * the format (bit i of allowed_c set when c == i is allowed). */
int img_check_write_args(const char *path, const uint8_t *px, int w, int h,
			 int c, unsigned allowed_c, pl_err *err);

/* Opens path for a writer (truncating it); PL_EIO names path. */
int img_file_open(const char *path, FILE **f, pl_err *err);

/* Flushes, fsyncs and closes f. When failed is set, or any of these steps
 * fails, a partial regular file is removed; returns the first error. */
int img_file_close(FILE *f, const char *path, int failed, pl_err *err);

#endif
