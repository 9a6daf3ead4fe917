/* PNG through libpng: decoding every colour type and bit depth from memory,
 * and encoding 8- or 16-bit images to a file or to memory. libpng reports errors by longjmp; each setjmp
 * lives in a small guard function whose caller owns every resource, so an
 * error path frees everything and no local is read after the jump.
 *
 * Decoded forms: palette images become RGB (RGBA with tRNS), maxval 255;
 * 16-bit data keeps its range (maxval 65535); gray below 8 bits keeps its
 * stored values with maxval (1 << bits) - 1 (a tRNS colour becomes an alpha
 * channel of 0 or maxval); tRNS on 8/16-bit gray or RGB becomes alpha. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "img_priv.h"

/* zlib cannot expand data by more than about 1032:1 */
#define PNG_MAX_RATIO 1100

typedef struct png_ctx {
	jmp_buf jb;
	const char *name;         /* for messages */
	char msg[256];            /* libpng's message */
	int truncated;            /* the read callback ran out of data */
	const uint8_t *buf;
	size_t len, pos;
	png_structp png;
	png_infop info;
	uint8_t *rows;            /* decoded rows (all of them when interlaced) */
	FILE *f;                  /* writer: the file sink, or NULL for memory */
	uint8_t *out;             /* writer: the memory sink */
	size_t out_len, out_cap;
} png_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
	png_ctx *ctx = png_get_error_ptr(png);

	snprintf(ctx->msg, sizeof(ctx->msg), "%s", msg);
	if (ctx->msg[0] >= 'A' && ctx->msg[0] <= 'Z' && ctx->msg[1] >= 'a')
		ctx->msg[0] = (char)(ctx->msg[0] - 'A' + 'a');
	longjmp(ctx->jb, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static void read_mem(png_structp png, png_bytep dst, size_t n)
{
	png_ctx *ctx = png_get_io_ptr(png);

	if (n > ctx->len - ctx->pos) {
		ctx->truncated = 1;
		png_error(png, "truncated");
	}
	memcpy(dst, ctx->buf + ctx->pos, n);
	ctx->pos += n;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the IHDR size before libpng allocates anything, and refuses a file
 * too small to hold the declared pixels even at zlib's best ratio. */
static int peek_ihdr(const uint8_t *buf, size_t len, const char *name,
		     const img_lim *lim, pl_err *err)
{
	static const int channels[7] = { 1, 0, 3, 1, 2, 0, 4 };
	uint32_t w, h;
	uint64_t bits, raw;
	int rc;

	if (len < 33 || be32(buf + 8) != 13 || memcmp(buf + 12, "IHDR", 4) != 0)
		return 0;   /* libpng gives the precise message */
	w = be32(buf + 16);
	h = be32(buf + 20);
	rc = img_check_size(name, w, h, buf[25] < 7 ? (buf[25] == 3 ? 3 : channels[buf[25]]) : 1,
			    lim, err);
	if (rc < 0)
		return rc;
	bits = buf[25] < 7 ? (uint64_t)channels[buf[25]] * buf[24] : 1;
	raw = (uint64_t)h * (1 + ((uint64_t)w * bits + 7) / 8);
	if ((uint64_t)len * PNG_MAX_RATIO < raw)
		return pl_errorf(err, PL_EDATA,
				 "'%s': truncated png data (declared size %ux%u cannot fit in %zu bytes)",
				 name, w, h, len);
	return 0;
}

/* Sets up libpng's transforms; returns the channel count and fills maxval
 * and trns_gray (the transparent value of low-bit gray, or -1). */
static int setup_transforms(png_ctx *ctx, float *maxval, int *trns_gray)
{
	png_structp png = ctx->png;
	png_infop info = ctx->info;
	int bd = png_get_bit_depth(png, info), ct = png_get_color_type(png, info);
	int trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
	png_color_16p trans_color = NULL;

	*trns_gray = -1;
	*maxval = bd == 16 ? 65535.0f : 255.0f;
	switch (ct) {
	case PNG_COLOR_TYPE_PALETTE:
		png_set_palette_to_rgb(png);
		if (trns)
			png_set_tRNS_to_alpha(png);
		return trns ? 4 : 3;
	case PNG_COLOR_TYPE_GRAY:
		if (bd < 8) {
			png_set_packing(png);
			*maxval = (float)((1 << bd) - 1);
			if (trns && png_get_tRNS(png, info, NULL, NULL, &trans_color) &&
			    trans_color) {
				*trns_gray = trans_color->gray;
				return 2;
			}
			return 1;
		}
		if (trns)
			png_set_tRNS_to_alpha(png);
		return trns ? 2 : 1;
	case PNG_COLOR_TYPE_GRAY_ALPHA:
		return 2;
	case PNG_COLOR_TYPE_RGB:
		if (trns)
			png_set_tRNS_to_alpha(png);
		return trns ? 4 : 3;
	default:
		return 4;
	}
}

/* Converts one decoded row of w pixels into floats. */
static void convert_row(const uint8_t *src, float *dst, int w, int c,
			int sixteen, int trns_gray, float maxval)
{
	size_t i, n = (size_t)w * c;

	if (trns_gray >= 0) {
		for (i = 0; i < (size_t)w; i++) {
			dst[2 * i] = src[i];
			dst[2 * i + 1] = src[i] == trns_gray ? 0.0f : maxval;
		}
	} else if (sixteen) {
		for (i = 0; i < n; i++)
			dst[i] = (float)((unsigned)src[2 * i] << 8 | src[2 * i + 1]);
	} else {
		for (i = 0; i < n; i++)
			dst[i] = src[i];
	}
}

static int read_pixels(png_ctx *ctx, const img_lim *lim, img *out, pl_err *err)
{
	png_structp png = ctx->png;
	png_uint_32 w, h, y;
	size_t rowbytes, n_rows;
	int bd, c, trns_gray, passes, pass, sixteen, rc;
	float maxval;

	png_set_read_fn(png, ctx, read_mem);
	png_set_user_limits(png, (png_uint_32)lim->max_side, (png_uint_32)lim->max_side);
	png_set_chunk_malloc_max(png, 8u << 20);
	png_read_info(png, ctx->info);
	w = png_get_image_width(png, ctx->info);
	h = png_get_image_height(png, ctx->info);
	bd = png_get_bit_depth(png, ctx->info);
	c = setup_transforms(ctx, &maxval, &trns_gray);
	rc = img_check_size(ctx->name, w, h, c, lim, err);
	if (rc < 0)
		return rc;
	sixteen = bd == 16;
	passes = png_set_interlace_handling(png);
	png_read_update_info(png, ctx->info);
	rowbytes = png_get_rowbytes(png, ctx->info);
	if (rowbytes != (size_t)w * (trns_gray >= 0 ? 1 : c) * (sixteen ? 2 : 1))
		return pl_errorf(err, PL_EDATA, "'%s': unsupported png layout (%d-bit, colour type %d)",
				 ctx->name, bd, png_get_color_type(png, ctx->info));
	n_rows = passes > 1 ? h : 1;
	ctx->rows = malloc(rowbytes * n_rows);
	if (!ctx->rows)
		return pl_errorf(err, PL_ENOMEM, "'%s': out of memory", ctx->name);
	rc = img_alloc(out, (int)w, (int)h, c, maxval, ctx->name, err);
	if (rc < 0)
		return rc;
	for (pass = 0; pass < passes - 1; pass++)
		for (y = 0; y < h; y++)
			png_read_row(png, ctx->rows + y * rowbytes, NULL);
	for (y = 0; y < h; y++) {
		uint8_t *row = ctx->rows + (n_rows > 1 ? y * rowbytes : 0);

		png_read_row(png, row, NULL);
		convert_row(row, out->px + (size_t)y * w * c, (int)w, c, sixteen,
			    trns_gray, maxval);
	}
	png_read_end(png, NULL);
	return 0;
}

/* The only setjmp of the decoder: nothing here changes after it. */
static int read_guarded(png_ctx *ctx, const img_lim *lim, img *out, pl_err *err)
{
	if (setjmp(ctx->jb)) {
		if (ctx->truncated)
			return pl_errorf(err, PL_EDATA, "'%s': truncated png data", ctx->name);
		return pl_errorf(err, PL_EDATA, "'%s': corrupt png data (%s)",
				 ctx->name, ctx->msg);
	}
	return read_pixels(ctx, lim, out, err);
}

int png_decode(const uint8_t *buf, size_t len, const char *name,
	       const img_lim *lim, img *out, pl_err *err)
{
	png_ctx ctx;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.name = name;
	ctx.buf = buf;
	ctx.len = len;
	rc = peek_ihdr(buf, len, name, lim, err);
	if (rc < 0)
		return rc;
	ctx.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
	if (ctx.png)
		ctx.info = png_create_info_struct(ctx.png);
	if (!ctx.png || !ctx.info)
		rc = pl_errorf(err, PL_ENOMEM, "'%s': out of memory starting libpng", name);
	else
		rc = read_guarded(&ctx, lim, out, err);
	png_destroy_read_struct(&ctx.png, &ctx.info, NULL);
	free(ctx.rows);
	return rc;
}

/* Memory sink: grows ctx->out (strbuf-like, doubling). */
static void write_mem(png_structp png, png_bytep src, size_t n)
{
	png_ctx *ctx = png_get_io_ptr(png);

	if (n > ctx->out_cap - ctx->out_len) {
		size_t cap = ctx->out_cap ? ctx->out_cap : 4096;
		uint8_t *p;
		while (cap - ctx->out_len < n)
			cap *= 2;
		p = realloc(ctx->out, cap);
		if (!p)
			png_error(png, "out of memory");
		ctx->out = p;
		ctx->out_cap = cap;
	}
	memcpy(ctx->out + ctx->out_len, src, n);
	ctx->out_len += n;
}

static void flush_mem(png_structp png)
{
	(void)png;
}

/* The one encoder: to ctx->f when set, else to memory. 16-bit samples are
 * host-order uint16 (libpng swaps them to PNG's big-endian order). */
static void write_rows(png_ctx *ctx, const uint8_t *px, int w, int h, int c, int bits)
{
	static const int types[5] = { 0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
				      PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA };
	size_t row = (size_t)w * c * (bits / 8);
	int y;

	if (ctx->f)
		png_init_io(ctx->png, ctx->f);
	else
		png_set_write_fn(ctx->png, ctx, write_mem, flush_mem);
	png_set_IHDR(ctx->png, ctx->info, (png_uint_32)w, (png_uint_32)h, bits, types[c],
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
		     PNG_FILTER_TYPE_DEFAULT);
	png_write_info(ctx->png, ctx->info);
	if (bits == 16)
		png_set_swap(ctx->png);
	for (y = 0; y < h; y++)
		png_write_row(ctx->png, px + (size_t)y * row);
	png_write_end(ctx->png, ctx->info);
}

/* The only setjmp of the writer. */
static int write_guarded(png_ctx *ctx, const char *path, const uint8_t *px,
			 int w, int h, int c, int bits, pl_err *err)
{
	if (setjmp(ctx->jb))
		return pl_errorf(err, ctx->f ? PL_EIO : PL_ENOMEM, "cannot write '%s': %s (libpng: %s)",
				 path, ctx->f && ferror(ctx->f) ? strerror(errno) : "encoder failed",
				 ctx->msg);
	write_rows(ctx, px, w, h, c, bits);
	return 0;
}

/* Runs the encoder on ctx (its sink already chosen). */
static int encode(png_ctx *ctx, const char *path, const uint8_t *px, int w, int h, int c,
		  int bits, pl_err *err)
{
	int rc;

	ctx->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, on_error, on_warning);
	if (ctx->png)
		ctx->info = png_create_info_struct(ctx->png);
	if (!ctx->png || !ctx->info)
		rc = pl_errorf(err, PL_ENOMEM, "cannot write '%s': out of memory starting libpng", path);
	else
		rc = write_guarded(ctx, path, px, w, h, c, bits, err);
	png_destroy_write_struct(&ctx->png, &ctx->info);
	return rc;
}

int img_write_png(const char *path, const uint8_t *px, int w, int h, int c,
		  pl_err *err)
{
	png_ctx ctx;
	int rc, rc2;

	memset(&ctx, 0, sizeof(ctx));
	rc = img_check_write_args(path, px, w, h, c, 0x1e, err);
	if (rc < 0)
		return rc;
	rc = img_file_open(path, &ctx.f, err);
	if (rc < 0)
		return rc;
	rc = encode(&ctx, path, px, w, h, c, 8, err);
	rc2 = img_file_close(ctx.f, path, rc < 0, err);
	return rc < 0 ? rc : rc2;
}

int img_encode_png(const void *px, int w, int h, int c, int bits, const char *name,
		   uint8_t **out, size_t *out_len, pl_err *err)
{
	png_ctx ctx;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	*out = NULL;
	*out_len = 0;
	if (bits != 8 && bits != 16)
		return pl_errorf(err, PL_EUSAGE, "cannot encode '%s': %d-bit png (8 or 16)",
				 name, bits);
	rc = img_check_write_args(name, px, w, h, c, 0x1e, err);
	if (rc == 0)
		rc = encode(&ctx, name, px, w, h, c, bits, err);
	if (rc < 0) {
		free(ctx.out);
		return rc;
	}
	*out = ctx.out;
	*out_len = ctx.out_len;
	return 0;
}
