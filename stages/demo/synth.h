/* The demo plate: a deterministic BBBC014-like 96-well plate of two-channel
 * 8-bit BMPs (nuclei, NF-kB) with a TNF-alpha dose response across the
 * columns, and a metadata.csv, written as a directory or a .tar.gz/.tar.zst. */
#ifndef PL_SYNTH_H
#define PL_SYNTH_H

#include <stdint.h>

#include "../../io/err.h"

/* Bumped whenever the drawing changes, so caches keyed on a synth: source
 * notice that the same seed now gives other bytes. */
#define SYNTH_VERSION 1

#define SYNTH_WELLS 96        /* wells per plate: rows A-H x columns 1-12 */
#define SYNTH_MAX_PLATES 1000
#define SYNTH_MIN_SIDE 32
#define SYNTH_MAX_SIDE 4096

typedef struct synth_opts {
	uint64_t seed;       /* the same seed gives byte-identical output */
	int plates;          /* number of plates, 1..SYNTH_MAX_PLATES */
	int width, height;   /* image size per channel in pixels */
} synth_opts;

/* Fills o with the defaults: seed 1, one plate, 340x256 images. */
void synth_defaults(synth_opts *o);

/* Parses "WxH" (e.g. "340x256") into width and height; PL_EUSAGE naming the
 * text when it is malformed or a side is outside SYNTH_MIN/MAX_SIDE. */
int synth_parse_size(const char *text, int *width, int *height, pl_err *err);

/* Fills o from a source string `synth:plate[?seed=N&plates=N&size=WxH]`
 * ("synth:" alone is the same plate; unset keys keep the defaults). PL_EUSAGE naming the source and the key
 * for anything else. */
int synth_parse_source(const char *src, synth_opts *o, pl_err *err);

/* Checks the ranges of o; PL_EUSAGE naming the field when one is out. */
int synth_check(const synth_opts *o, pl_err *err);

/* Writes the plate(s) to out. A directory when out ends with '/' or is an
 * existing directory: out/plate/ is created (it must not exist yet) with
 * metadata.csv and images/<WELL>_<nuclei|nfkb>.bmp. Otherwise an archive
 * holding the same plate/ tree: .tar.zst/.tzst by extension, else .tar.gz;
 * it replaces out atomically. Missing parent directories are created.
 * Files are staged in a temporary directory beside out that is removed
 * afterwards, also on error. Returns 0, or PL_EUSAGE/PL_EIO/PL_ENOMEM. */
int synth_write(const synth_opts *o, const char *out, pl_err *err);

/* Writes an RGB PNG at png_path showing three wells of the first plate, of
 * low, middle and high dose, side by side (nuclei blue, NF-kB green). */
int synth_preview(const synth_opts *o, const char *png_path, pl_err *err);

#endif
