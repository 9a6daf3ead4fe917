/* Logging to stderr: human lines, progress bars on a terminal, or one JSON
 * object per line. A mutex keeps lines from different threads whole. The
 * bar's escape codes go only to a terminal whose TERM is not "dumb". */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "sys.h"
#include "utf8.h"

static log_format fmt_cur = LOG_HUMAN;
static int verbosity_cur;
static char stage_cur[32];
static int rank_cur = -1;  /* -1: not a rank of an MPI job (or rank 0) */
static int bar_open;    /* a progress bar is drawn on the current line */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

void log_setup(log_format format, int verbosity)
{
	fmt_cur = format;
	verbosity_cur = verbosity;
}

log_format log_get_format(void)
{
	return fmt_cur;
}

void log_set_stage(const char *stage)
{
	pthread_mutex_lock(&log_mu);
	snprintf(stage_cur, sizeof(stage_cur), "%s", stage ? stage : "");
	pthread_mutex_unlock(&log_mu);
}

void log_set_rank(int rank)
{
	rank_cur = rank;
}

double log_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Emits one JSON object with level, msg and any extra fields; takes obj. */
static void emit_json(const char *level, const char *msg, json_t *obj)
{
	char when[SYS_TIME_MAX];
	char *line;

	sys_iso_now(when, sizeof(when), 1);
	json_object_set_new(obj, "time", json_string(when));
	json_object_set_new(obj, "level", json_string(level));
	if (stage_cur[0])
		json_object_set_new(obj, "stage", json_string(stage_cur));
	if (rank_cur > 0)
		json_object_set_new(obj, "rank", json_integer(rank_cur));
	json_object_set_new(obj, "msg", json_text(msg));
	line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line)
		fprintf(stderr, "%s\n", line);
	free(line);
	json_decref(obj);
}

static void emit(const char *level, const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&log_mu);
	if (fmt_cur == LOG_JSON) {
		emit_json(level, msg, json_object());
	} else {
		if (bar_open)
			fputs("\r\033[K", stderr);
		bar_open = 0;
		if (rank_cur > 0)
			fprintf(stderr, "rank %d: ", rank_cur);
		if (strcmp(level, "info") == 0)
			fprintf(stderr, "%s%s%s\n", stage_cur, stage_cur[0] ? ": " : "", msg);
		else
			fprintf(stderr, "%s%s%s: %s\n", stage_cur, stage_cur[0] ? ": " : "",
				level, msg);
	}
	pthread_mutex_unlock(&log_mu);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (verbosity_cur < 0)
		return;
	va_start(ap, fmt);
	emit("info", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("warning", fmt, ap);
	va_end(ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("error", fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (verbosity_cur < 1)
		return;
	va_start(ap, fmt);
	emit("debug", fmt, ap);
	va_end(ap);
}

void log_progress_start(log_progress *p, const char *what, int64_t total, const char *unit)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->what, sizeof(p->what), "%s", what);
	snprintf(p->unit, sizeof(p->unit), "%s", unit);
	p->total = total;
	p->t_start = p->t_last = log_now();
}

void log_progress_note(log_progress *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->extra, sizeof(p->extra), fmt, ap);
	va_end(ap);
}

/* Formats done/total, rate and ETA into buf. */
static void progress_text(const log_progress *p, double elapsed, char *buf, size_t n)
{
	int bytes = strcmp(p->unit, "bytes") == 0;
	double scale = bytes ? 1.0 / (1 << 20) : 1.0;
	const char *unit = bytes ? "MiB" : p->unit;
	double rate = elapsed > 0 ? p->done / elapsed : 0;
	size_t len;

	if (p->total > 0)
		len = (size_t)snprintf(buf, n, "%s %3.0f%% %.*f/%.*f %s", p->what,
				       100.0 * p->done / p->total, bytes, p->done * scale,
				       bytes, p->total * scale, unit);
	else
		len = (size_t)snprintf(buf, n, "%s %.*f %s", p->what, bytes, p->done * scale, unit);
	if (len < n)
		len += (size_t)snprintf(buf + len, n - len, ", %.1f %s/s", rate * scale, unit);
	if (len < n && p->total > 0 && rate > 0 && p->done < p->total)
		len += (size_t)snprintf(buf + len, n - len, ", eta %.0f s",
					(p->total - p->done) / rate);
	if (len < n && p->extra[0])
		snprintf(buf + len, n - len, ", %s", p->extra);
}

/* 1 when stderr takes escape codes: a terminal whose TERM is set and is
 * not "dumb" (an editor's shell buffer, a CI log viewer). */
static int stderr_is_smart_tty(void)
{
	const char *term = getenv("TERM");

	return isatty(2) && term && *term && strcmp(term, "dumb") != 0;
}

static void progress_emit(log_progress *p, int final)
{
	double now = log_now(), elapsed = now - p->t_start;
	int tty = fmt_cur == LOG_HUMAN && stderr_is_smart_tty();
	char text[400];

	if (verbosity_cur < 0)
		return;
	if (!final && now - p->t_last < (tty ? 0.1 : 5.0))
		return;
	p->t_last = now;
	progress_text(p, elapsed, text, sizeof(text));
	pthread_mutex_lock(&log_mu);
	if (fmt_cur == LOG_JSON) {
		json_t *obj = json_object();
		json_object_set_new(obj, "event", json_string("progress"));
		json_object_set_new(obj, "done", json_integer(p->done));
		json_object_set_new(obj, "total", json_integer(p->total));
		json_object_set_new(obj, "elapsed_s", json_real(elapsed));
		emit_json("info", text, obj);
	} else if (tty) {
		fprintf(stderr, "\r\033[K%s%s%s", stage_cur, stage_cur[0] ? ": " : "", text);
		bar_open = !final;
		if (final)
			fputc('\n', stderr);
	} else {
		fprintf(stderr, "%s%s%s\n", stage_cur, stage_cur[0] ? ": " : "", text);
	}
	pthread_mutex_unlock(&log_mu);
}

void log_progress_update(log_progress *p, int64_t done)
{
	p->done = done;
	progress_emit(p, 0);
}

void log_progress_end(log_progress *p)
{
	progress_emit(p, 1);
}
