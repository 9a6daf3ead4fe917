/* JPEG through libjpeg-turbo (libjpeg API, from memory): baseline and
 * progressive, gray, colour and CMYK/YCCK (converted to RGB), 8-bit
 * samples, at full size or, given a fit target in the limits, at the
 * smallest DCT scale (1/2, 1/4, 1/8) not below it. Errors and
 * data-corruption warnings longjmp back here instead of exiting or decoding
 * grey blocks; a baseline file whose only flaw is a missing end-of-image
 * marker is decoded with a warning, as libjpeg's own tools do. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "img_priv.h"
#include "log.h"

/* Progressive files with thousands of tiny scans decode very slowly. */
#define JPEG_MAX_SCANS 500

typedef struct jpeg_ctx {
	struct jpeg_error_mgr pub;    /* first: libjpeg casts to this */
	struct jpeg_progress_mgr progress;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
	struct jpeg_decompress_struct cinfo;
	JSAMPLE *row;
	int scanning;                 /* start_decompress returned: reading the scan */
	int no_eoi;                   /* the data ended where a marker was due */
} jpeg_ctx;

static void on_error_exit(j_common_ptr cinfo)
{
	static const char prefix[] = "Corrupt JPEG data: ";
	jpeg_ctx *ctx = (jpeg_ctx *)cinfo->err;
	char msg[JMSG_LENGTH_MAX];
	const char *p = msg;

	cinfo->err->format_message(cinfo, msg);
	if (strncmp(p, prefix, sizeof(prefix) - 1) == 0)
		p += sizeof(prefix) - 1;
	snprintf(ctx->msg, sizeof(ctx->msg), "%s", p);
	if (ctx->msg[0] >= 'A' && ctx->msg[0] <= 'Z')
		ctx->msg[0] = (char)(ctx->msg[0] - 'A' + 'a');
	longjmp(ctx->jb, 1);
}

/* Warnings that mean the entropy-coded data is damaged are errors. The
 * end of the data where the next marker was due is one only in files of
 * several scans: in a single-scan baseline file every pixel has arrived
 * and only the end-of-image marker is missing (a cut inside the scan
 * warns JWRN_HIT_MARKER next, which is fatal). */
static void on_message(j_common_ptr cinfo, int level)
{
	jpeg_ctx *ctx = (jpeg_ctx *)cinfo->err;
	j_decompress_ptr d = (j_decompress_ptr)cinfo;
	int code = cinfo->err->msg_code;

	if (level >= 0)
		return;
	if (code == JWRN_JPEG_EOF && ctx->scanning && !d->progressive_mode &&
	    d->comps_in_scan == d->num_components) {
		ctx->no_eoi = 1;
		return;
	}
	if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER ||
	    code == JWRN_MUST_RESYNC || code == JWRN_HUFF_BAD_CODE ||
	    code == JWRN_ARITH_BAD_CODE || code == JWRN_NOT_SEQUENTIAL ||
	    code == JWRN_BOGUS_PROGRESSION)
		on_error_exit(cinfo);
	cinfo->err->num_warnings++;
}

static void on_progress(j_common_ptr cinfo)
{
	jpeg_ctx *ctx = (jpeg_ctx *)cinfo->err;

	if (cinfo->is_decompressor &&
	    ((j_decompress_ptr)cinfo)->input_scan_number > JPEG_MAX_SCANS) {
		snprintf(ctx->msg, sizeof(ctx->msg), "more than %d scans", JPEG_MAX_SCANS);
		longjmp(ctx->jb, 1);
	}
}

/* Checks the header; returns the channel count or a negative error. */
static int check_header(jpeg_ctx *ctx, const char *name, const img_lim *lim,
			pl_err *err)
{
	j_decompress_ptr cinfo = &ctx->cinfo;
	int rc;

	rc = img_check_size(name, cinfo->image_width, cinfo->image_height, cinfo->num_components,
			    lim, err);
	if (rc < 0)
		return rc;
	if (cinfo->data_precision != 8)
		return pl_errorf(err, PL_EDATA, "'%s': %d-bit jpeg is not supported (only 8-bit)",
				 name, cinfo->data_precision);
	switch (cinfo->jpeg_color_space) {
	case JCS_GRAYSCALE:
		cinfo->out_color_space = JCS_GRAYSCALE;
		return 1;
	case JCS_CMYK:
	case JCS_YCCK:   /* libjpeg turns YCCK into CMYK; cmyk_row makes RGB of it */
		cinfo->out_color_space = JCS_CMYK;
		return 4;
	default:
		if (cinfo->num_components != 3)
			return pl_errorf(err, PL_EDATA, "'%s': jpeg with %d components is not supported",
					 name, cinfo->num_components);
		cinfo->out_color_space = JCS_RGB;
		return 3;
	}
}

/* CMYK samples to RGB: r = (1 - c)(1 - k) and so on. Adobe's files (the
 * usual ones) store the four inverted, so there r = c * k. */
static void cmyk_row(const JSAMPLE *src, float *dst, JDIMENSION w, int inverted)
{
	for (JDIMENSION x = 0; x < w; x++, src += 4, dst += 3) {
		unsigned k = inverted ? src[3] : 255u - src[3];
		for (int i = 0; i < 3; i++) {
			unsigned v = inverted ? src[i] : 255u - src[i];
			dst[i] = (float)((v * k + 127) / 255);
		}
	}
}

/* DCT scaling: the smallest of 1/8, 1/4 and 1/2 whose output is still no
 * smaller than the fit target on both sides, else full size. */
static void pick_scale(j_decompress_ptr cinfo, const img_lim *lim)
{
	if (lim->fit_w <= 0 && lim->fit_h <= 0)
		return;
	for (unsigned denom = 8; denom > 1; denom /= 2) {
		cinfo->scale_num = 1;
		cinfo->scale_denom = denom;
		jpeg_calc_output_dimensions(cinfo);
		if ((int)cinfo->output_width >= lim->fit_w && (int)cinfo->output_height >= lim->fit_h)
			return;
	}
	cinfo->scale_denom = 1;
}

static int read_pixels(jpeg_ctx *ctx, const uint8_t *buf, size_t len,
		       const char *name, const img_lim *lim, img *out, pl_err *err)
{
	j_decompress_ptr cinfo = &ctx->cinfo;
	size_t i, n;
	int c, rc;

	jpeg_mem_src(cinfo, buf, (unsigned long)len);
	jpeg_read_header(cinfo, TRUE);
	c = check_header(ctx, name, lim, err);
	if (c < 0)
		return c;
	pick_scale(cinfo, lim);
	jpeg_start_decompress(cinfo);
	ctx->scanning = 1;
	if ((int)cinfo->output_components != c)
		return pl_errorf(err, PL_EDATA, "'%s': unexpected jpeg output of %d components",
				 name, cinfo->output_components);
	ctx->row = malloc((size_t)cinfo->output_width * c);
	if (!ctx->row)
		return pl_errorf(err, PL_ENOMEM, "'%s': out of memory", name);
	rc = img_alloc(out, (int)cinfo->output_width, (int)cinfo->output_height, c == 4 ? 3 : c,
		       255.0f, name, err);
	if (rc < 0)
		return rc;
	n = (size_t)cinfo->output_width * out->c;
	while (cinfo->output_scanline < cinfo->output_height) {
		float *dst = out->px + (size_t)cinfo->output_scanline * n;

		if (jpeg_read_scanlines(cinfo, &ctx->row, 1) != 1)
			return pl_errorf(err, PL_EDATA, "'%s': truncated jpeg data", name);
		if (c == 4)
			cmyk_row(ctx->row, dst, cinfo->output_width, cinfo->saw_Adobe_marker);
		else
			for (i = 0; i < n; i++)
				dst[i] = ctx->row[i];
	}
	jpeg_finish_decompress(cinfo);
	if (ctx->no_eoi)
		log_warn("'%s': jpeg has no end-of-image marker; decoded its complete scan", name);
	return 0;
}

/* The only setjmp of the decoder: nothing here changes after it. */
static int read_guarded(jpeg_ctx *ctx, const uint8_t *buf, size_t len,
			const char *name, const img_lim *lim, img *out, pl_err *err)
{
	if (setjmp(ctx->jb)) {
		if (ctx->pub.msg_code == JWRN_JPEG_EOF)
			return pl_errorf(err, PL_EDATA, "'%s': truncated jpeg data", name);
		return pl_errorf(err, PL_EDATA, "'%s': corrupt jpeg data (%s)", name,
				 ctx->msg);
	}
	jpeg_create_decompress(&ctx->cinfo);
	ctx->cinfo.progress = &ctx->progress;
	return read_pixels(ctx, buf, len, name, lim, out, err);
}

int jpeg_decode(const uint8_t *buf, size_t len, const char *name,
		const img_lim *lim, img *out, pl_err *err)
{
	jpeg_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (!ctx)
		return pl_errorf(err, PL_ENOMEM, "'%s': out of memory", name);
	ctx->cinfo.err = jpeg_std_error(&ctx->pub);
	ctx->pub.error_exit = on_error_exit;
	ctx->pub.emit_message = on_message;
	ctx->progress.progress_monitor = on_progress;
	rc = read_guarded(ctx, buf, len, name, lim, out, err);
	jpeg_destroy_decompress(&ctx->cinfo);
	free(ctx->row);
	free(ctx);
	return rc;
}
