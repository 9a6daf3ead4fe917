/* Downloads through libcurl into dest.part, resumed with Range requests
 * guarded by If-Range (the validator of the first response is kept in
 * dest.part.validator), retried with exponential backoff, checked against a
 * SHA-256, then renamed to dest and marked complete by a dest.done sidecar. */
#include <stddef.h>   /* fetch.h uses size_t without including it */

#include "fetch.h"

#define CURL_DISABLE_TYPECHECK   /* calls go through the pointers below */
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "log.h"
#include "sha.h"

#define MAX_REDIRS 10
#define VALIDATOR_MAX 512   /* longer ETags are not kept: that download cannot resume */
#define BACKOFF_CAP_MS 30000

/* Outcome of one attempt that did not end in success or a hard error. */
enum { ATTEMPT_DONE = 0, ATTEMPT_RETRY = 1, ATTEMPT_RESTART = 2 };

typedef struct fetch_job {
	const char *url;            /* as given: only ever passed to curl */
	char shown[2048];           /* url without credentials, for messages */
	char userinfo[512];         /* "user:pass" of the url, scrubbed from messages */
	const char *dest;
	char part[PATH_MAX], done[PATH_MAX];
	char validator_path[PATH_MAX]; /* part's sidecar: the validator it was downloaded under */
	int http;                   /* 1 for http(s): a part resumes only under its validator */
	fetch_opts opts;            /* with defaults filled in */
	CURL *curl;
	FILE *out;
	int64_t offset;             /* bytes already in part when the attempt began */
	char if_range[VALIDATOR_MAX]; /* validator sent with the resume request, "" for none */
	char etag[VALIDATOR_MAX], modified[VALIDATOR_MAX]; /* of the response being received */
	int validator_saved;        /* this attempt has recorded the response's validator */
	pl_err write_err;           /* a failed write in a curl callback, code 0 if none */
	log_progress progress;
	char errbuf[CURL_ERROR_SIZE];
	char reason[1024];          /* why the last attempt is worth retrying */
} fetch_job;

/* libcurl and the thirty libraries it pulls in are loaded only when a URL
 * is fetched: every other command (a cached run, a forked predict) starts
 * without paying for their relocation. */
static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	CURLcode (*easy_perform)(CURL *curl);
	void (*easy_cleanup)(CURL *curl);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *line);
	void (*slist_free_all)(struct curl_slist *list);
} lc;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static char curl_load_error[256];

#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_init lc.easy_init
#define curl_easy_setopt lc.easy_setopt
#define curl_easy_getinfo lc.easy_getinfo
#define curl_easy_perform lc.easy_perform
#define curl_easy_cleanup lc.easy_cleanup

static void curl_init_once(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(curl_load_error, sizeof(curl_load_error), "%s", dlerror());
		return;
	}
	*(void **)&lc.global_init = dlsym(h, "curl_global_init");
	*(void **)&lc.easy_init = dlsym(h, "curl_easy_init");
	*(void **)&lc.easy_setopt = dlsym(h, "curl_easy_setopt");
	*(void **)&lc.easy_getinfo = dlsym(h, "curl_easy_getinfo");
	*(void **)&lc.easy_perform = dlsym(h, "curl_easy_perform");
	*(void **)&lc.easy_cleanup = dlsym(h, "curl_easy_cleanup");
	*(void **)&lc.easy_strerror = dlsym(h, "curl_easy_strerror");
	*(void **)&lc.slist_append = dlsym(h, "curl_slist_append");
	*(void **)&lc.slist_free_all = dlsym(h, "curl_slist_free_all");
	if (!lc.global_init || !lc.easy_init || !lc.easy_setopt || !lc.easy_getinfo ||
	    !lc.easy_perform || !lc.easy_cleanup || !lc.easy_strerror ||
	    !lc.slist_append || !lc.slist_free_all) {
		snprintf(curl_load_error, sizeof(curl_load_error), "libcurl.so.4 lacks a function");
		return;
	}
	curl_init_rc = lc.global_init(CURL_GLOBAL_DEFAULT);
}

int fetch_is_url(const char *src)
{
	return src && (strncasecmp(src, "http://", 7) == 0 ||
		       strncasecmp(src, "https://", 8) == 0 ||
		       strncasecmp(src, "file://", 7) == 0);
}

/* Finds the userinfo of url: sets *start and *len (0 when there is none). */
static void find_userinfo(const char *url, const char **start, size_t *len)
{
	const char *p = strstr(url, "://"), *at = NULL, *q;

	*start = NULL;
	*len = 0;
	if (!p)
		return;
	p += 3;
	for (q = p; *q && *q != '/' && *q != '?' && *q != '#'; q++)
		if (*q == '@')
			at = q;
	if (at) {
		*start = p;
		*len = (size_t)(at - p);
	}
}

void fetch_redact(const char *url, char *out, size_t n)
{
	const char *user;
	size_t len;

	if (!out || n == 0)
		return;
	find_userinfo(url ? url : "", &user, &len);
	if (!user)
		snprintf(out, n, "%s", url ? url : "");
	else
		snprintf(out, n, "%.*s%s", (int)(user - url), url, user + len + 1);
}

/* Removes every copy of secret from msg (curl's messages should never hold
 * it, but a leaked password is not worth the gamble). */
static void scrub(char *msg, const char *secret)
{
	size_t len = strlen(secret);
	char *hit;

	if (len < 3)
		return;
	while ((hit = strstr(msg, secret)))
		memmove(hit, hit + len, strlen(hit + len) + 1);
}

static void scrub_all(const fetch_job *job, char *msg)
{
	const char *colon = strchr(job->userinfo, ':');

	if (!job->userinfo[0])
		return;
	scrub(msg, job->userinfo);
	if (colon)
		scrub(msg, colon + 1);
}

static void fill_opts(fetch_opts *o, const fetch_opts *in)
{
	*o = in ? *in : (fetch_opts){0};
	if (o->connect_timeout_s <= 0)
		o->connect_timeout_s = 15;
	if (o->low_speed_bytes <= 0)
		o->low_speed_bytes = 1024;
	if (o->low_speed_time_s <= 0)
		o->low_speed_time_s = 30;
	if (o->max_attempts <= 0)
		o->max_attempts = 5;
	if (o->backoff_ms <= 0)
		o->backoff_ms = 500;
}

static int stopped(const fetch_job *job)
{
	return job->opts.stop && *job->opts.stop;
}

/* The validator of the response being received: its strong ETag, else its
 * Last-Modified (a weak ETag cannot vouch for a byte range). */
static const char *response_validator(const fetch_job *job)
{
	return job->etag[0] == '"' ? job->etag : job->modified;
}

/* 1 when the response carries a validator other than the one the resume
 * request sent: the file changed since part was begun. */
static int validator_changed(const fetch_job *job)
{
	const char *now = response_validator(job);

	return job->if_range[0] && now[0] && strcmp(now, job->if_range) != 0;
}

/* Sets out to the value of the header line (len bytes, not NUL-terminated)
 * when it is the header name ("etag:"); a value too long to keep is "". */
static void header_value(const char *line, size_t len, const char *name, char *out,
			 size_t n)
{
	size_t name_len = strlen(name);

	if (len < name_len || strncasecmp(line, name, name_len) != 0)
		return;
	line += name_len;
	len -= name_len;
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len && strchr(" \t\r\n", line[len - 1]))
		len--;
	snprintf(out, n, "%.*s", len < n ? (int)len : 0, line);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *arg)
{
	fetch_job *job = arg;
	size_t len = size * nitems;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0)   /* a new response: after a redirect */
		job->etag[0] = job->modified[0] = '\0';
	header_value(buf, len, "etag:", job->etag, sizeof(job->etag));
	header_value(buf, len, "last-modified:", job->modified, sizeof(job->modified));
	return len;
}

/* Records the validator of a download that starts from zero before its
 * first byte reaches part, so that part never outlives the record of
 * which version of the file it holds. */
static int save_validator(fetch_job *job)
{
	const char *validator = response_validator(job);

	job->validator_saved = 1;
	if (!validator[0])
		return 0;
	return fs_write_atomic(job->validator_path, validator, strlen(validator),
			       &job->write_err);
}

static size_t on_data(char *buf, size_t size, size_t nmemb, void *arg)
{
	fetch_job *job = arg;
	size_t len = size * nmemb;
	long status = 0;

	/* bodies of error responses are not the file */
	curl_easy_getinfo(job->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 300)
		return len;
	if (job->offset == 0 && !job->validator_saved && save_validator(job) < 0)
		return 0;
	if (fwrite(buf, 1, len, job->out) != len) {
		pl_errorf(&job->write_err, PL_EIO, "cannot write '%s': %s", job->part,
			  strerror(errno ? errno : EIO));
		return 0;
	}
	return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	fetch_job *job = arg;
	long status = 0;

	(void)ultotal;
	(void)ulnow;
	if (stopped(job))
		return 1;
	curl_easy_getinfo(job->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 300)
		return 0;
	if (dltotal > 0)
		job->progress.total = job->offset + dltotal;
	log_progress_update(&job->progress, job->offset + dlnow);
	return 0;
}

static int setup_curl(fetch_job *job)
{
	CURL *c = job->curl;
	const fetch_opts *o = &job->opts;
	int bad = 0;

	bad |= curl_easy_setopt(c, CURLOPT_URL, job->url);
	bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
	bad |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	bad |= curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)MAX_REDIRS);
	bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
	bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_bytes);
	bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
	bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
	bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "pipeline/1");
	bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, job->errbuf);
	bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, job);
	bad |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	bad |= curl_easy_setopt(c, CURLOPT_HEADERDATA, job);
	bad |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	bad |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	bad |= curl_easy_setopt(c, CURLOPT_XFERINFODATA, job);
	return bad ? -1 : 0;
}

static int remove_file(const char *path, pl_err *err)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return pl_errorf(err, PL_EIO, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Removes part and its validator: the next attempt starts from zero. */
static int drop_part(fetch_job *job, pl_err *err)
{
	int rc = remove_file(job->part, err);

	job->offset = 0;
	return rc < 0 ? rc : remove_file(job->validator_path, err);
}

/* Reads the validator part was downloaded under into if_range; returns 1
 * when there is one fit to send as a header, 0 otherwise. */
static int load_validator(fetch_job *job)
{
	char *text = NULL;
	size_t len = 0;
	int ok;

	job->if_range[0] = '\0';
	if (fs_read_file(job->validator_path, sizeof(job->if_range) - 1, &text, &len,
			 NULL) < 0)
		return 0;
	ok = len > 0 && strlen(text) == len;
	for (size_t i = 0; ok && i < len; i++)
		ok = (unsigned char)text[i] >= ' ' && text[i] != 0x7f;
	if (ok)
		memcpy(job->if_range, text, len + 1);
	free(text);
	return ok;
}

/* Notes how much of part is there and whether it may be resumed: over http
 * only under the validator it was downloaded with, which goes out as
 * If-Range so that a file changed since comes back whole. A part with no
 * validator cannot be checked and is dropped. file:// parts resume as they are. */
static int plan_resume(fetch_job *job, pl_err *err)
{
	struct stat st;

	job->offset = stat(job->part, &st) == 0 ? (int64_t)st.st_size : 0;
	job->if_range[0] = '\0';
	if (job->offset == 0)
		return remove_file(job->validator_path, err);
	if (!job->http || load_validator(job))
		return 0;
	log_warn("the partial download of %s has no validator (ETag or Last-Modified) "
		 "to check it against; downloading from the start", job->shown);
	return drop_part(job, err);
}

/* Opens part for appending from where plan_resume says the attempt starts. */
static int open_part(fetch_job *job, pl_err *err)
{
	int rc;

	if ((rc = plan_resume(job, err)) < 0)
		return rc;
	job->out = fopen(job->part, "ab");
	if (!job->out)
		return pl_errorf(err, PL_EIO, "cannot write '%s': %s", job->part,
				 strerror(errno));
	return 0;
}

static int close_part(fetch_job *job, int sync, pl_err *err)
{
	FILE *f = job->out;
	int bad;

	job->out = NULL;
	if (!f)
		return 0;
	bad = fflush(f) != 0 || (sync && fsync(fileno(f)) != 0);
	bad |= fclose(f) != 0;
	if (bad)
		return pl_errorf(err, PL_EIO, "cannot write '%s': %s", job->part,
				 strerror(errno));
	return 0;
}

static int retry_because(fetch_job *job, const char *fmt, const char *what)
{
	/* a reason too long for job->reason is cut; < 0 is an encoding error */
	if (snprintf(job->reason, sizeof(job->reason), fmt, what, job->shown) < 0)
		job->reason[0] = '\0';
	scrub_all(job, job->reason);
	return ATTEMPT_RETRY;
}

/* Curl errors that a later attempt may not see. */
static int transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT: case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING: case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2: case CURLE_HTTP2_STREAM: case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
		return 1;
	default:
		return 0;
	}
}

/* 1 when a TLS handshake failed because the server answered in plain
 * text (an https:// URL on an http port): OpenSSL reads the start of an
 * HTTP reply as a record of a TLS version that does not exist; GnuTLS
 * says it got an unexpected packet. Retrying cannot help. */
static int plain_http_reply(const char *msg)
{
	return strstr(msg, "wrong version number") || strstr(msg, "packet length too long") ||
	       strstr(msg, "unexpected TLS packet") || strstr(msg, "record layer failure");
}

/* 1 when a resume request got something other than the rest of the file
 * part began: the whole file (200: changed since, or ranges ignored; curl
 * takes a new file as long as part for "already complete"), a refusal,
 * a piece of another version from a server that ignores If-Range, or a
 * 206 for another range than the one asked (curl stops at its
 * Content-Range before any byte reaches part). */
static int resume_refused(const fetch_job *job, CURLcode rc, long status)
{
	if (job->offset == 0)
		return 0;
	if (status == 206)
		return validator_changed(job) || rc == CURLE_RANGE_ERROR ||
		       rc == CURLE_BAD_DOWNLOAD_RESUME;
	return status == 200 || status == 416 || rc == CURLE_BAD_DOWNLOAD_RESUME ||
	       (rc == CURLE_RANGE_ERROR && status < 300);
}

/* Sorts the outcome of one transfer into done, retry, restart or error. */
static int classify(fetch_job *job, CURLcode rc, pl_err *err)
{
	char msg[CURL_ERROR_SIZE + 64];
	long status = 0;

	curl_easy_getinfo(job->curl, CURLINFO_RESPONSE_CODE, &status);
	snprintf(msg, sizeof(msg), "%s", job->errbuf[0] ? job->errbuf : lc.easy_strerror(rc));
	if (msg[0] >= 'A' && msg[0] <= 'Z' && msg[1] >= 'a' && msg[1] <= 'z')
		msg[0] = (char)(msg[0] - 'A' + 'a');   /* our messages are lowercase */
	scrub_all(job, msg);
	if (stopped(job))
		return pl_errorf(err, PL_EINTR, "download of %s interrupted", job->shown);
	if (job->write_err.code)
		return pl_errorf(err, job->write_err.code, "%s", job->write_err.msg);
	if (rc == CURLE_TOO_MANY_REDIRECTS)
		return pl_errorf(err, PL_EDATA, "more than %d redirects from %s (a "
				 "redirect loop?)", MAX_REDIRS, job->shown);
	if (resume_refused(job, rc, status))
		return ATTEMPT_RESTART;
	if (status >= 500 || status == 408 || status == 429) {
		char code[16];

		snprintf(code, sizeof(code), "%ld", status);
		return retry_because(job, "http %s from %s", code);
	}
	if (status >= 300)
		return pl_errorf(err, PL_EDATA, "http %ld from %s", status, job->shown);
	if (rc == CURLE_OK)
		return ATTEMPT_DONE;
	if (rc == CURLE_SSL_CONNECT_ERROR && plain_http_reply(msg))
		return pl_errorf(err, PL_EUSAGE, "%s: the server does not speak TLS on that "
				 "port (%s): use http:// or the server's https port", job->shown, msg);
	if (transient(rc))
		return retry_because(job, "%s (%s)", msg);
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		return pl_errorf(err, PL_EDATA, "cannot verify the TLS certificate of "
				 "%s: %s (fix the certificate, or set tls_verify "
				 "= false to skip the check)", job->shown, msg);
	if (rc == CURLE_FILE_COULDNT_READ_FILE)
		return pl_errorf(err, PL_EIO, "cannot read %s: %s", job->shown, msg);
	return pl_errorf(err, PL_EDATA, "cannot download %s: %s", job->shown, msg);
}

/* Asks for the rest of part, if any, under its validator (If-Range). The
 * caller frees *headers with slist_free_all after the transfer. */
static int set_range(fetch_job *job, struct curl_slist **headers, pl_err *err)
{
	char line[sizeof(job->if_range) + 16];

	*headers = NULL;
	if (job->if_range[0]) {
		snprintf(line, sizeof(line), "If-Range: %s", job->if_range);
		if (!(*headers = lc.slist_append(NULL, line)))
			return pl_errorf(err, PL_ENOMEM, "out of memory");
	}
	if (curl_easy_setopt(job->curl, CURLOPT_HTTPHEADER, *headers) != CURLE_OK ||
	    curl_easy_setopt(job->curl, CURLOPT_RESUME_FROM_LARGE,
			     (curl_off_t)job->offset) != CURLE_OK)
		return pl_errorf(err, PL_EFAIL, "cannot set up libcurl for %s", job->shown);
	return 0;
}

/* One transfer into part, resuming from its current size. */
static int attempt(fetch_job *job, pl_err *err)
{
	struct curl_slist *headers = NULL;
	int out, closed;

	job->errbuf[0] = '\0';
	job->validator_saved = 0;
	pl_errclear(&job->write_err);
	if ((out = open_part(job, err)) < 0)
		return out;
	if ((out = set_range(job, &headers, err)) == 0)
		out = classify(job, curl_easy_perform(job->curl), err);
	curl_easy_setopt(job->curl, CURLOPT_HTTPHEADER, NULL);
	lc.slist_free_all(headers);
	closed = close_part(job, out == ATTEMPT_DONE, out < 0 ? NULL : err);
	if (out == ATTEMPT_RESTART) {
		log_warn(validator_changed(job) ? "%s changed since the partial download; "
			 "downloading it from the start" : "%s ignored the resume request; "
			 "downloading from the start", job->shown);
		if ((out = drop_part(job, err)) == 0)
			out = ATTEMPT_RESTART;
	}
	return closed < 0 && out >= 0 ? closed : out;
}

/* Sleeps ms milliseconds in short slices so a stop request is seen. */
static int backoff_sleep(fetch_job *job, long ms, pl_err *err)
{
	struct timespec slice = { 0, 50 * 1000000L };

	for (long left = ms; left > 0; left -= 50) {
		if (stopped(job))
			return pl_errorf(err, PL_EINTR, "download of %s interrupted",
					 job->shown);
		nanosleep(&slice, NULL);
	}
	return 0;
}

/* Runs attempts until one succeeds, fails hard, or max_attempts are used.
 * A restart (the server ignored the resume request, or the file changed
 * under its validator) deletes the part, so the next attempt cannot restart
 * again: restarts need no limit of their own; the retries before them are
 * counted. */
static int download(fetch_job *job, pl_err *err)
{
	long delay = job->opts.backoff_ms;
	int n = 1, rc;

	for (;;) {
		if (stopped(job))
			return pl_errorf(err, PL_EINTR, "download of %s interrupted",
					 job->shown);
		rc = attempt(job, err);
		if (rc == ATTEMPT_DONE || rc < 0)
			return rc;
		if (rc == ATTEMPT_RESTART)
			continue;
		if (n >= job->opts.max_attempts)
			return pl_errorf(err, PL_ETEMP, "download failed after %d "
					 "attempt%s, the last: %s", n, n == 1 ? "" : "s", job->reason);
		log_warn("retrying in %.1f s (attempt %d of %d): %s", delay / 1000.0,
			 n + 1, job->opts.max_attempts, job->reason);
		if ((rc = backoff_sleep(job, delay, err)) < 0)
			return rc;
		delay = delay * 2 > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : delay * 2;
		n++;
	}
}

static int valid_hex(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return 0;
	return i == 64;
}

/* 1 when dest and dest.done exist and match the expected digest. */
static int already_done(const fetch_job *job)
{
	char *recorded = NULL;
	size_t len = 0;
	int ok;

	if (!fs_exists(job->dest) || fs_read_file(job->done, 4096, &recorded, &len, NULL) < 0)
		return 0;
	ok = !job->opts.sha256 || !job->opts.sha256[0] ||
	     (len >= 64 && strncasecmp(recorded, job->opts.sha256, 64) == 0);
	free(recorded);
	return ok;
}

/* Verifies part, renames it to dest, writes the dest.done sidecar and
 * removes part's validator. */
static int finish(fetch_job *job, pl_err *err)
{
	char hex[SHA256_HEX], line[SHA256_HEX + 1];
	const char *want = job->opts.sha256;
	int rc;

	if ((rc = sha256_file(job->part, hex, err)) < 0)
		return rc;
	if (want && want[0] && strcasecmp(hex, want) != 0) {
		drop_part(job, NULL);
		return pl_errorf(err, PL_EDATA, "sha256 mismatch for %s: expected %s, "
				 "got %s (the download was deleted; check the "
				 "checksum or the source)", job->shown, want, hex);
	}
	snprintf(line, sizeof(line), "%s\n", hex);
	if ((rc = fs_rename(job->part, job->dest, err)) < 0 ||
	    (rc = fs_write_atomic(job->done, line, strlen(line), err)) < 0)
		return rc;
	return remove_file(job->validator_path, err);
}

/* Writes dest + suffix into out (size n); returns 0 when it does not fit. */
static int sidecar_path(char *out, size_t n, const char *dest, const char *suffix)
{
	return fs_path(out, n, NULL, "%s%s", dest, suffix) == 0;
}

static int job_init(fetch_job *job, const char *url, const char *dest,
		    const fetch_opts *opts, pl_err *err)
{
	const char *user;
	size_t len;

	memset(job, 0, sizeof(*job));
	job->url = url;
	job->dest = dest;
	fill_opts(&job->opts, opts);
	fetch_redact(url, job->shown, sizeof(job->shown));
	find_userinfo(url, &user, &len);
	if (user)
		snprintf(job->userinfo, sizeof(job->userinfo), "%.*s", (int)len, user);
	if (!fetch_is_url(url))
		return pl_errorf(err, PL_EUSAGE, "'%s' is not an http://, https:// or "
				 "file:// URL", job->shown);
	if (job->opts.sha256 && job->opts.sha256[0] && !valid_hex(job->opts.sha256))
		return pl_errorf(err, PL_EUSAGE, "sha256 '%s' for %s is not 64 hex "
				 "digits", job->opts.sha256, job->shown);
	if (!sidecar_path(job->part, sizeof(job->part), dest, ".part") ||
	    !sidecar_path(job->done, sizeof(job->done), dest, ".done") ||
	    !sidecar_path(job->validator_path, sizeof(job->validator_path), dest,
			  ".part.validator"))
		return pl_errorf(err, PL_EUSAGE, "download path '%s' is too long", dest);
	job->http = strncasecmp(url, "file://", 7) != 0;
	return 0;
}

/* Removes a dest left without its .done marker (and a marker left alone). */
static int clear_stale(const fetch_job *job, pl_err *err)
{
	if ((unlink(job->done) != 0 && errno != ENOENT) ||
	    (unlink(job->dest) != 0 && errno != ENOENT))
		return pl_errorf(err, PL_EIO, "cannot remove stale '%s': %s",
				 job->dest, strerror(errno));
	return 0;
}

/* A failed first attempt leaves an empty part: nothing worth resuming. */
static void drop_empty_part(fetch_job *job)
{
	struct stat st;

	if (lstat(job->part, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
		drop_part(job, NULL);
}

int fetch_url(const char *url, const char *dest, const fetch_opts *opts,
	      pl_err *err)
{
	fetch_job job;
	const char *base;
	char what[64];
	int rc;

	if ((rc = job_init(&job, url, dest, opts, err)) < 0)
		return rc;
	if (already_done(&job)) {
		log_debug("using %s downloaded before from %s", dest, job.shown);
		return 0;
	}
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return pl_errorf(err, PL_EFAIL, "cannot initialise libcurl: %s (install the "
				 "libcurl4 package)", curl_load_error[0] ? curl_load_error :
				 lc.easy_strerror(curl_init_rc));
	if ((rc = clear_stale(&job, err)) < 0)
		return rc;
	if (!(job.curl = curl_easy_init()) || setup_curl(&job) < 0) {
		rc = pl_errorf(err, PL_EFAIL, "cannot set up libcurl for %s", job.shown);
		goto out;
	}
	base = strrchr(dest, '/');
	snprintf(what, sizeof(what), "download %s", base ? base + 1 : dest);
	log_progress_start(&job.progress, what, 0, "bytes");
	rc = download(&job, err);
	if (rc == 0 || job.progress.done > 0)
		log_progress_end(&job.progress);
	if (rc == 0)
		rc = finish(&job, err);
	else
		drop_empty_part(&job);
out:
	if (job.curl)
		curl_easy_cleanup(job.curl);
	return rc;
}
