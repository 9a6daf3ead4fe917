/* Image entry points: format sniffing, limits, decoding a file and the
 * checked file handling shared by the PNG and BMP writers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "img_priv.h"

#define IMG_DEFAULT_PIXELS ((int64_t)1 << 28)
#define IMG_DEFAULT_SIDE 65535

int img_check_size(const char *name, int64_t w, int64_t h, int c, const img_lim *lim,
		   pl_err *err)
{
	if (w <= 0 || h <= 0)
		return pl_errorf(err, PL_EDATA,
				 "'%s': image has no pixels (declared size %lldx%lld)",
				 name, (long long)w, (long long)h);
	if (w > lim->max_pixels / h)
		return pl_errorf(err, PL_EDATA,
				 "'%s': declared size %lldx%lld is over the limit of %lld pixels",
				 name, (long long)w, (long long)h,
				 (long long)lim->max_pixels);
	if (w > lim->max_side || h > lim->max_side)
		return pl_errorf(err, PL_EDATA,
				 "'%s': declared size %lldx%lld is over the limit of %d pixels per side",
				 name, (long long)w, (long long)h, lim->max_side);
	if (c > 1 && w * h > lim->max_pixels / c)
		return pl_errorf(err, PL_EDATA,
				 "'%s': declared size %lldx%lld with %d channels is over the limit of "
				 "%lld values (width x height x channels)", name, (long long)w,
				 (long long)h, c, (long long)lim->max_pixels);
	return 0;
}

int img_alloc(img *out, int w, int h, int c, float maxval, const char *name,
	      pl_err *err)
{
	size_t n = (size_t)w * (size_t)h * (size_t)c;

	out->px = malloc(n * sizeof(float));
	if (!out->px)
		return pl_errorf(err, PL_ENOMEM,
				 "'%s': out of memory for %dx%d image with %d channels",
				 name, w, h, c);
	out->w = w;
	out->h = h;
	out->c = c;
	out->maxval = maxval;
	return 0;
}

static void resolve_limits(const img_limits *lim, img_lim *res)
{
	res->max_pixels = lim && lim->max_pixels > 0 ? lim->max_pixels
						     : IMG_DEFAULT_PIXELS;
	res->max_side = lim && lim->max_side > 0 ? lim->max_side
						 : IMG_DEFAULT_SIDE;
	res->fit_w = lim && lim->fit_w > 0 ? lim->fit_w : 0;
	res->fit_h = lim && lim->fit_h > 0 ? lim->fit_h : 0;
}

int img_decode_mem(const void *buf, size_t len, const char *name,
		   const img_limits *lim, img *out, pl_err *err)
{
	static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	const uint8_t *p = buf;
	img_lim res;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!name)
		name = "(memory)";
	resolve_limits(lim, &res);
	if (len == 0)
		return pl_errorf(err, PL_EDATA, "'%s': empty file, not an image", name);
	if (len >= 8 && memcmp(p, png_magic, 8) == 0)
		rc = png_decode(p, len, name, &res, out, err);
	else if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		rc = jpeg_decode(p, len, name, &res, out, err);
	else if (len >= 2 && p[0] == 'B' && p[1] == 'M')
		rc = bmp_decode(p, len, name, &res, out, err);
	else if (len >= 4 && (!memcmp(p, "II*\0", 4) || !memcmp(p, "MM\0*", 4)))
		return pl_errorf(err, PL_EDATA, "'%s': a TIFF image, which is not read (convert it "
				 "to PNG)", name);
	else if (len >= 4 && !memcmp(p, "GIF8", 4))
		return pl_errorf(err, PL_EDATA, "'%s': a GIF image, which is not read (convert it "
				 "to PNG)", name);
	else if (len >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4))
		return pl_errorf(err, PL_EDATA, "'%s': a WebP image, which is not read (convert it "
				 "to PNG)", name);
	else
		return pl_errorf(err, PL_EDATA,
				 "'%s': not a png, jpeg or bmp image (unknown magic bytes)",
				 name);
	if (rc < 0)
		img_release(out);
	return rc;
}

int img_decode_file(const char *path, const img_limits *lim, img *out,
		    pl_err *err)
{
	char *data = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = fs_read_file(path, IMG_MAX_FILE, &data, &len, err);
	if (rc == 0)
		rc = img_decode_mem(data, len, path, lim, out, err);
	free(data);
	return rc;
}

void img_release(img *im)
{
	if (!im)
		return;
	free(im->px);
	memset(im, 0, sizeof(*im));
}

int img_check_write_args(const char *path, const uint8_t *px, int w, int h,
			 int c, unsigned allowed_c, pl_err *err)
{
	if (w <= 0 || h <= 0 || c < 0 || c > 31 || !(allowed_c & (1u << c)) || !px)
		return pl_errorf(err, PL_EUSAGE,
				 "cannot write '%s': invalid image %dx%d with %d channels",
				 path, w, h, c);
	if ((int64_t)w * h > IMG_DEFAULT_PIXELS || w > IMG_DEFAULT_SIDE || h > IMG_DEFAULT_SIDE)
		return pl_errorf(err, PL_EUSAGE,
				 "cannot write '%s': image %dx%d is over the size limit",
				 path, w, h);
	return 0;
}

int img_file_open(const char *path, FILE **f, pl_err *err)
{
	*f = fopen(path, "wb");
	if (!*f)
		return pl_errorf(err, PL_EIO, "cannot create '%s': %s", path, strerror(errno));
	return 0;
}

int img_file_close(FILE *f, const char *path, int failed, pl_err *err)
{
	struct stat st;
	int rc = 0, regular;

	/* only a regular file of ours is removed, never a device like /dev/full */
	regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
	if (failed)
		fclose(f);
	else
		rc = fs_fclose_synced(f, path, err);
	if ((failed || rc < 0) && regular)
		unlink(path);
	return rc;
}

int img_is_image_name(const char *name)
{
	static const char *const exts[] = { ".png", ".bmp", ".jpg", ".jpeg", ".jfif", ".tif",
					    ".tiff", ".gif", ".webp" };
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(exts) / sizeof(exts[0]); i++)
		if (!strcasecmp(dot, exts[i]))
			return 1;
	return 0;
}
