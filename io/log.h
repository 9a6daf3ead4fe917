/* Logging: human lines (and progress bars on a terminal) or one JSON object
 * per line for cluster log collectors. Thread-safe. Writes to stderr. */
#ifndef PL_LOG_H
#define PL_LOG_H

#include <stdint.h>

typedef enum log_format { LOG_HUMAN, LOG_JSON } log_format;

/* verbosity: -1 quiet (warnings only), 0 normal, 1 verbose (debug lines). */
void log_setup(log_format format, int verbosity);
log_format log_get_format(void);

/* Names the stage that following lines belong to (NULL for none). */
void log_set_stage(const char *stage);
/* A rank of an MPI job other than 0: every line says which ("rank 2: ",
 * or a "rank" field in JSON). */
void log_set_rank(int rank);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A progress report for long work: a redrawn bar with rate and ETA on a
 * terminal (TERM set, not "dumb"), a plain line every few seconds otherwise
 * (no escape codes), JSON objects with
 * --log-format json. total may be 0 when unknown. unit names the items
 * ("images", "bytes" - bytes are shown as MiB). Updates are cheap and
 * throttled; call log_progress_end once. */
typedef struct log_progress {
	char what[64];
	char unit[16];
	int64_t total, done;
	double t_start, t_last;
	char extra[96];   /* free text shown after the rate, e.g. "loss 0.31" */
} log_progress;

void log_progress_start(log_progress *p, const char *what, int64_t total,
			const char *unit);
void log_progress_update(log_progress *p, int64_t done);
/* Sets the free text shown with the next update. */
void log_progress_note(log_progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_progress_end(log_progress *p);

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double log_now(void);

#endif
