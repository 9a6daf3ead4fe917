/* Record shards: samples (label, group, name, c x h x w pixels) stored as
 * one zstd frame each with its own CRC32C, an indexed footer for random
 * access, and a loader that yields float32 NCHW batches in the caller's order. */
#ifndef PL_REC_H
#define PL_REC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Shard file layout (all integers little-endian); the whole file is also a
 * valid zstd stream (`zstd -t` checks it, `zstd -d` yields the payloads):
 *   header   zstd skippable frame (magic 0x184D2A5E) holding 32 bytes:
 *            "PLRECSHD", version u32, dtype u32, c u32, h u32, w u32, crc u32
 *   records  one zstd frame per record; its content is
 *            label i32, group i32, name_len u32, reserved u32,
 *            pixels (c*h*w bytes or floats), name bytes, crc32c u32
 *            (over everything before it)
 *   footer   zstd skippable frame (magic 0x184D2A5F) holding
 *            per record: offset u64, compressed size u32, crc32c u32 of the
 *            compressed frame; then the 32-byte trailer that ends the file:
 *            count u64, footer frame offset u64, index crc32c u32,
 *            trailer crc32c u32 (over the 20 bytes before it), "PLRECEND"
 * The count is taken from the footer only.
 * A writer, reader or loader is used by one thread at a time. */
#define REC_VERSION 1
#define REC_MAX_NAME 1024                  /* bytes of a record name */
#define REC_MAX_CHANNELS 1024
#define REC_MAX_SIDE 65536
#define REC_MAX_SAMPLE_BYTES (256u << 20)  /* pixel bytes of one record */

typedef enum rec_dtype { REC_U8 = 1, REC_F32 = 2 } rec_dtype;

/* One record as read back. name and data point into the reader's buffers. */
typedef struct rec_sample {
	int32_t label;     /* class index */
	int32_t group;     /* group id (well, patient ...), -1 = none */
	const char *name;  /* NUL-terminated source name, "" when none */
	int c, h, w;       /* shape, equal to the shard's */
	rec_dtype dtype;   /* element type of data */
	const void *data;  /* c*h*w uint8_t or float, CHW order */
} rec_sample;

/* Computes the CRC32C (Castagnoli) of len bytes, continuing from crc
 * (start with 0). */
uint32_t rec_crc32c(uint32_t crc, const void *data, size_t len);

/* Writes "<split>-IIIII-of-MMMMM.rec.zst" into buf (size n); returns 0, or
 * -1 when it does not fit or i/m are out of range (0 <= i < m <= 99999). */
int rec_shard_name(char *buf, size_t n, const char *split, int i, int m);

/* As rec_shard_name with the extension ext (".rec.zst", ".tfrecord" ...). */
int rec_shard_name_as(char *buf, size_t n, const char *split, int i, int m,
		      const char *ext);

/* ---- writer ---- */
typedef struct rec_writer rec_writer;

/* Creates (or truncates) the shard at path for samples of shape c x h x w
 * and element type dt, compressed at zstd level (0 = zstd's default).
 * Memory use is fixed: records and the index are streamed to disk (the
 * index through an unnamed temporary file beside path).
 * Returns the writer, or NULL with err filled. */
rec_writer *rec_writer_open(const char *path, rec_dtype dt, int c, int h,
			    int w, int level, pl_err *err);

/* Appends one record; pixels holds c*h*w elements of the shard's dtype in
 * CHW order; name may be NULL (stored as "") and is at most REC_MAX_NAME
 * bytes. After a failure the writer only accepts close/abort. */
int rec_write(rec_writer *w, int32_t label, int32_t group, const char *name,
	      const void *pixels, pl_err *err);

/* Number of records written so far. */
int64_t rec_writer_count(const rec_writer *w);

/* Writes the footer, then fflush + fsync + fclose (all checked) and frees
 * w in every case; on failure the partial file is removed (when it is a
 * regular file). bytes_out (may
 * be NULL) receives the file size. */
int rec_writer_close(rec_writer *w, uint64_t *bytes_out, pl_err *err);

/* Closes w without a footer and removes its file; NULL is a no-op. */
void rec_writer_abort(rec_writer *w);

/* ---- reader ---- */
typedef struct rec_reader rec_reader;

/* Opens a shard and checks its header, footer and index (not the records:
 * each is checked when read). A path ending in .tfrecord or .tfrecord.gz is
 * a TFRecord shard (io/tfrecord.h), read through the same calls. Returns NULL with err filled (PL_EIO, or
 * PL_EDATA naming the file and what is wrong). Free with rec_reader_close. */
rec_reader *rec_reader_open(const char *path, pl_err *err);

/* Number of records in the shard. */
int64_t rec_reader_count(const rec_reader *r);

/* Sample shape and element type of the shard. */
void rec_reader_shape(const rec_reader *r, int *c, int *h, int *w);
rec_dtype rec_reader_dtype(const rec_reader *r);

/* Reads record i (0 <= i < count) into out; out->name and out->data stay
 * valid until the next rec_read on r. A record whose checksum, size or
 * content is wrong is PL_EDATA naming the shard file and the index. */
int rec_read(rec_reader *r, int64_t i, rec_sample *out, pl_err *err);

/* Closes r; NULL is a no-op. */
void rec_reader_close(rec_reader *r);

/* ---- training / evaluation loader ---- */
typedef struct rec_loader rec_loader;

/* Opens n_paths shards (all of one shape; a mismatch is PL_EDATA naming
 * both files) as one sequence of records in the order given. One zstd
 * context and one set of buffers serve all shards. Free with
 * rec_loader_close. */
rec_loader *rec_loader_open(const char *const *paths, int n_paths, pl_err *err);

/* Total number of records over all shards. */
int64_t rec_loader_count(const rec_loader *l);

/* Sample shape and element type shared by the shards. */
void rec_loader_shape(const rec_loader *l, int *c, int *h, int *w);
rec_dtype rec_loader_dtype(const rec_loader *l);

/* Sets per-channel standardisation applied while converting to float:
 * x = (v - mean[ch]) / std[ch], where v is the stored value (uint8 data is
 * first scaled to 0..1 by /255). The arrays hold c values and are copied;
 * NULL mean means no standardisation. Returns 0, or -PL_EDATA naming the
 * channel whose mean is not finite or whose std is not positive and finite
 * (-PL_EUSAGE for a mean without std, -PL_ENOMEM); the previous
 * standardisation then stays. */
int rec_loader_set_norm(rec_loader *l, const float *mean, const float *std, pl_err *err);

/* Starts an epoch that delivers the records in order: order[i] is the
 * position (0 .. count-1, shards in the order given) of the i-th record
 * (a training epoch passes a permutation, e.g. nn_epoch_order's); order
 * is the caller's and must stay valid until the next rec_loader_epoch or
 * rec_loader_close. NULL: the records as stored (for evaluation). A
 * position out of range makes rec_loader_next fail with PL_EUSAGE. */
void rec_loader_epoch(rec_loader *l, const int64_t *order);

/* Delivers the next batch of at most max_n records of the epoch:
 * x gets n*c*h*w floats (NCHW), labels n values, groups (may be NULL) n
 * values; *n_out = n, 0 at the end of the epoch. On error the epoch
 * position is undefined; start a new epoch. */
int rec_loader_next(rec_loader *l, int max_n, float *x, int32_t *labels,
		    int32_t *groups, int *n_out, pl_err *err);

/* Name of record i (0 <= i < n_out) of the last batch, valid until the
 * next rec_loader_next; NULL when i is out of range. */
const char *rec_loader_name(const rec_loader *l, int i);

/* Position in the whole sequence (0 .. count-1, shards in the order given)
 * of record i of the last batch, or -1 when i is out of range. */
int64_t rec_loader_index(const rec_loader *l, int i);

/* Closes every shard and frees l; NULL is a no-op. */
void rec_loader_close(rec_loader *l);

#endif
