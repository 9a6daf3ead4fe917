/* Fetching sources (libcurl): http, https and file URLs into a local file,
 * resumable, retried with backoff, verified against an optional SHA-256. */
#ifndef PL_FETCH_H
#define PL_FETCH_H

#include <stddef.h>

#include "err.h"

typedef struct fetch_opts {
	const char *sha256;       /* expected hex digest, NULL or "" = none */
	long connect_timeout_s;   /* 0 = 15 */
	long low_speed_bytes;     /* abort below this rate ... 0 = 1024 */
	long low_speed_time_s;    /* ... sustained this long; 0 = 30 */
	int max_attempts;         /* 0 = 5 */
	long backoff_ms;          /* first retry delay, doubled each time, capped at 30 s; 0 = 500 */
	int insecure;             /* 1 = do not verify TLS certificates */
	const volatile int *stop; /* when set and *stop becomes non-zero, give up with PL_EINTR */
} fetch_opts;

/* Returns 1 when src is a URL fetch_url handles (http://, https://, file://). */
int fetch_is_url(const char *src);

/* Downloads url to dest. A complete dest (marked by a sidecar dest.done)
 * is reused with no network I/O. A partial dest (dest.part) is resumed
 * with an HTTP Range request carrying If-Range with the validator (strong
 * ETag, else Last-Modified) of the response it was begun from, kept in
 * dest.part.validator: a file changed since is downloaded again whole, and
 * an http part with no validator starts over (file:// parts resume as they
 * are). Timeouts, connection errors and 5xx are retried with
 * exponential backoff; 4xx fails at once (PL_EDATA, message with status and
 * URL). After max_attempts, PL_ETEMP. A sha256 mismatch deletes the download
 * (dest.part and its validator; dest is not made) and is PL_EDATA. Credentials in the URL never appear in messages. Progress goes
 * through log_progress (io/log.h). */
int fetch_url(const char *url, const char *dest, const fetch_opts *opts,
	      pl_err *err);

/* Writes url with any user:password@ removed into out (size n). */
void fetch_redact(const char *url, char *out, size_t n);

#endif
