/* Images: decoding PNG (libpng), JPEG (libjpeg-turbo) and BMP into one
 * in-memory form, and writing 8-bit PNG and BMP files. */
#ifndef PL_IMG_H
#define PL_IMG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* A decoded image: interleaved samples (row-major, channel-last), each a
 * float holding the stored value unscaled, 0..maxval. */
typedef struct img {
	int w, h;       /* width and height in pixels */
	int c;          /* channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA */
	float maxval;   /* 255 for 8-bit data, 65535 for 16-bit, (1<<bits)-1 */
	float *px;      /* w*h*c samples, owned; free with img_release */
} img;

/* The largest image file read, in bytes. */
#define IMG_MAX_FILE ((size_t)1 << 30)

/* Limits checked against the declared header before any allocation. */
typedef struct img_limits {
	int64_t max_pixels;   /* w*h, or w*h*c, above this is refused; 0 = 1<<28 */
	int max_side;         /* either side above this is refused; 0 = 65535 */
	int fit_w, fit_h;     /* the decoder may return an image no smaller than
			       * fit_w x fit_h (a JPEG decoded at 1/2, 1/4 or 1/8
			       * scale); 0 = full size */
} img_limits;

/* Decodes the image in buf (PNG, JPEG or BMP, recognised by magic bytes;
 * name is used in messages). lim may be NULL for defaults. On success fills
 * out (caller releases with img_release). Errors: PL_EDATA for corrupt or
 * unsupported data, or a declared size over the limit (the message names
 * `name` and the reason), PL_ENOMEM when allocation fails. */
int img_decode_mem(const void *buf, size_t len, const char *name,
		   const img_limits *lim, img *out, pl_err *err);

/* As img_decode_mem, reading the file at path (PL_EIO if unreadable). */
int img_decode_file(const char *path, const img_limits *lim, img *out,
		    pl_err *err);

/* Whether a file name is an image's by its extension: those decoded, and
 * the formats that are not (TIFF, GIF, WebP), so that decoding reports them
 * as bad images instead of their being passed over in silence. */
int img_is_image_name(const char *name);

/* Frees the pixels of im and zeroes it; NULL and zeroed images are fine. */
void img_release(img *im);

/* Writes an 8-bit PNG of w*h pixels with c channels (1, 2, 3 or 4),
 * interleaved rows of w*c bytes. Every write is checked; PL_EIO on failure. */
int img_write_png(const char *path, const uint8_t *px, int w, int h, int c,
		  pl_err *err);

/* Encodes a PNG of w*h pixels with c channels (1 gray, 2 gray+alpha, 3 RGB,
 * 4 RGBA) into memory: interleaved rows of w*c samples, bytes for bits == 8,
 * host-order uint16 for bits == 16. On success *out (caller frees) holds
 * *out_len bytes; name is for messages. PL_EUSAGE for bad arguments,
 * PL_ENOMEM when the encoder fails. */
int img_encode_png(const void *px, int w, int h, int c, int bits, const char *name,
		   uint8_t **out, size_t *out_len, pl_err *err);

/* Writes an uncompressed bottom-up BMP: c == 1 gives 8-bit with a grey
 * palette, c == 3 gives 24-bit (px is RGB). PL_EIO on failure. */
int img_write_bmp(const char *path, const uint8_t *px, int w, int h, int c,
		  pl_err *err);

#endif
