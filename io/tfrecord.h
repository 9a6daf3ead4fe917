/* TFRecord shards of tf.train.Example records, for users who train with
 * TensorFlow (tf.data.TFRecordDataset, compression_type "" or "GZIP").
 *
 * Framing of each record (all little-endian):
 *   u64 length, u32 masked CRC32C of those 8 bytes,
 *   length bytes of data, u32 masked CRC32C of the data,
 * where mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8.
 * A file whose name ends in ".gz" is one gzip stream of that framing.
 *
 * The data is a tf.train.Example (io/example.proto, encoded with
 * protobuf-c) with the keys of TensorFlow's ImageNet converter:
 *   image/encoded      bytes  the sample as PNG: 8-bit for u8, 16-bit for
 *                             f32 (round(v * 65535); a value
 *                             outside 0..1 is refused);
 *                             1-4 channels as gray, gray+alpha, RGB, RGBA;
 *                             more channels as one gray image of the planes
 *                             stacked vertically (channels * height rows)
 *   image/format       bytes  "png"
 *   image/height, image/width, image/channels   int64 (the sample's shape)
 *   image/class/label  int64  class index (a line of labels.txt)
 *   image/class/text   bytes  class name
 *   image/group        int64  group index (a line of groups.txt), -1 = none
 *   image/filename     bytes  the source file (with "#T" for tile T)
 */
#ifndef PL_TFRECORD_H
#define PL_TFRECORD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rec.h"

#define TFR_EXT ".tfrecord"
#define TFR_EXT_GZ ".tfrecord.gz"
#define TFR_MAX_RECORD (512u << 20)   /* bytes of one record's data */

/* The TFRecord mask of a CRC32C. */
uint32_t tfr_mask_crc(uint32_t crc);

/* Whether path names a TFRecord shard (ends in .tfrecord or .tfrecord.gz). */
int tfr_is_shard_name(const char *path);

/* ---- writer ---- */
typedef struct tfr_writer tfr_writer;

/* Creates the shard at path (gzip-compressed when it ends in ".gz") for
 * samples of dtype dt and shape c x h x w. classes (n_classes names, indexed
 * by label) are borrowed and must outlive the writer. NULL on error (err
 * filled: PL_EUSAGE for a bad shape, PL_EIO, PL_ENOMEM). */
tfr_writer *tfr_writer_open(const char *path, rec_dtype dt, int c, int h, int w,
			    char *const *classes, int n_classes, pl_err *err);

/* Appends one Example; pixels hold c*h*w values of the dtype in CHW order;
 * name may be NULL. PL_EDATA for a label outside the classes or an f32
 * value outside 0..1, PL_EIO. */
int tfr_write(tfr_writer *w, int32_t label, int32_t group, const char *name,
	      const void *pixels, pl_err *err);

/* Records written so far. */
int64_t tfr_writer_count(const tfr_writer *w);

/* Finishes the stream, fsyncs and closes; *bytes_out (may be NULL) gets the
 * file size. Always frees w; on error the partial file is removed. */
int tfr_writer_close(tfr_writer *w, uint64_t *bytes_out, pl_err *err);

/* Frees w and removes its partial file; NULL is a no-op. */
void tfr_writer_abort(tfr_writer *w);

/* ---- reader ---- */
typedef struct tfr_reader tfr_reader;

/* Opens a shard and indexes it: walks the framing once, checking every
 * length and data CRC, and learns the shape and dtype from the first record
 * (a .gz shard is inflated once into an unnamed temporary file). An empty
 * shard has shape 0x0x0. NULL on error (PL_EIO, PL_EDATA naming the file
 * and the record). */
tfr_reader *tfr_reader_open(const char *path, pl_err *err);

int64_t tfr_reader_count(const tfr_reader *r);
void tfr_reader_shape(const tfr_reader *r, int *c, int *h, int *w);
rec_dtype tfr_reader_dtype(const tfr_reader *r);

/* Reads record i: decodes its Example and PNG back to the stored pixels
 * (CHW, the dtype). out's pointers stay valid until the next tfr_read on r.
 * PL_EDATA names the file and the record when a key is missing or wrong. */
int tfr_read(tfr_reader *r, int64_t i, rec_sample *out, pl_err *err);

/* Closes r; NULL is a no-op. */
void tfr_reader_close(tfr_reader *r);

#endif
