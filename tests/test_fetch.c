/* Tests for io/fetch.c against tests/http_server.py on 127.0.0.1: plain,
 * resumed (If-Range: a file changed since comes back whole), retried,
 * failing, stalled and redirected downloads, checksums, reuse without
 * network I/O, file:// URLs and credential redaction. */
#include <stddef.h>

#include "check.h"

#include "../io/fetch.h"
#include "../io/fs.h"
#include "../io/log.h"
#include "../io/sha.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <utime.h>

static pid_t server_pid = -1;
static char server_script[PATH_MAX];
static int port;
static char srv_root[] = "/tmp/plfetch-srv-XXXXXX";
static char srv_log[PATH_MAX];
static unsigned char data[200000];
static const char small[] = "small file for slow servers\n";

/* Short timeouts so failures are quick; callers change what they test. */
static fetch_opts quick(void)
{
	fetch_opts o = { .connect_timeout_s = 5, .low_speed_time_s = 5,
			 .max_attempts = 3, .backoff_ms = 100 };
	return o;
}

static void url_of(char *out, size_t n, const char *path)
{
	snprintf(out, n, "http://127.0.0.1:%d/%s", port, path);
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

/* Puts len bytes into the file name the server serves. */
static void serve_bytes(const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", srv_root, name);
	write_bytes(path, buf, len);
}

/* The strong ETag tests/http_server.py gives len bytes of buf. */
static void etag_of(const void *buf, size_t len, char *out, size_t n)
{
	char hex[SHA256_HEX];

	sha256_hex(buf, len, hex);
	snprintf(out, n, "\"%.16s\"", hex);
}

/* Leaves len bytes of buf as the part of dest, under validator (NULL: none). */
static void write_part(const char *dest, const void *buf, size_t len, const char *validator)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s.part", dest);
	write_bytes(path, buf, len);
	snprintf(path, sizeof(path), "%s.part.validator", dest);
	if (validator)
		write_bytes(path, validator, strlen(validator));
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Number of logged requests whose line contains needle (all with NULL). */
static int requests(const char *needle)
{
	size_t len = 0;
	char *log = check_slurp(srv_log, &len), *line, *save = NULL;
	int n = 0;

	if (!log)
		return 0;
	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!needle || strstr(line, needle))
			n++;
	free(log);
	return n;
}

/* Runs fetch_url with stderr captured into a heap string (caller frees). */
static int fetch_captured(const char *url, const char *dest, const fetch_opts *o,
			  pl_err *err, char **captured)
{
	int saved = dup(2), fd = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t len = 0;
	int rc;

	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	rc = fetch_url(url, dest, o, err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	*captured = check_slurp("stderr.txt", &len);
	if (!*captured)
		*captured = strdup("");
	return rc;
}

static void test_plain(void)
{
	char url[256], hex[SHA256_HEX], *done;
	fetch_opts o = quick();
	pl_err err = {0};
	size_t len = 0;

	url_of(url, sizeof(url), "data.bin");
	CHECK_OK(fetch_url(url, "dl.bin", &o, &err), &err);
	CHECK(check_file_equals("dl.bin", data, sizeof(data)), "content");
	CHECK(!exists("dl.bin.part"), "part removed");
	sha256_hex(data, sizeof(data), hex);
	done = check_slurp("dl.bin.done", &len);
	CHECK(done && strncmp(done, hex, 64) == 0, "done records the sha256: %s", done);
	free(done);
}

static void test_resume_after_drop(void)
{
	char url[256], etag[32], want[128];
	fetch_opts o = quick();
	pl_err err = {0};

	url_of(url, sizeof(url), "drop/data.bin");
	CHECK_OK(fetch_url(url, "dl.bin", &o, &err), &err);
	CHECK(check_file_equals("dl.bin", data, sizeof(data)), "content after resume");
	CHECK(requests("/drop/data.bin") == 2, "%d requests", requests("/drop/data.bin"));
	etag_of(data, sizeof(data), etag, sizeof(etag));
	snprintf(want, sizeof(want), "/drop/data.bin range=bytes=%zu- if-range=%s",
		 sizeof(data) / 2, etag);
	CHECK(requests(want) == 1, "second request resumes with '%s'", want);
	CHECK(!exists("dl.bin.part") && !exists("dl.bin.part.validator"), "sidecars removed");
}

/* Without an ETag the date is the validator: a weak ETag cannot vouch for a range. */
static void test_resume_by_date(void)
{
	char url[256], path[PATH_MAX], want[128];
	struct utimbuf when = { 1700000000, 1700000000 };
	fetch_opts o = quick();
	pl_err err = {0};

	serve_bytes("dated.bin", data, sizeof(data));
	snprintf(path, sizeof(path), "%s/dated.bin", srv_root);
	CHECK(utime(path, &when) == 0, "utime");
	url_of(url, sizeof(url), "drop/weak/dated.bin");
	CHECK_OK(fetch_url(url, "dl.bin", &o, &err), &err);
	CHECK(check_file_equals("dl.bin", data, sizeof(data)), "content after resume");
	snprintf(want, sizeof(want), "range=bytes=%zu- if-range=Tue, 14 Nov 2023 22:13:20 GMT",
		 sizeof(data) / 2);
	CHECK(requests(want) == 1, "resumed with '%s'", want);
}

/* Interrupts a download of name half way (through /drop/) into dl.bin,
 * then serves now (len bytes) as name and downloads again; returns the
 * second fetch_url's result, its log in *log_text (caller frees). */
static int resume_after_change(const char *name, const void *now, size_t len,
			       pl_err *err, char **log_text)
{
	char url[256], path[64];
	fetch_opts o = quick();
	int rc;

	serve_bytes(name, data, sizeof(data));
	snprintf(path, sizeof(path), "drop/%s", name);
	url_of(url, sizeof(url), path);
	o.max_attempts = 1;
	rc = fetch_url(url, "dl.bin", &o, err);
	CHECK(rc == -PL_ETEMP, "first download interrupted: rc %d: %s", rc, err->msg);
	CHECK(check_file_equals("dl.bin.part", data, sizeof(data) / 2), "half kept");
	CHECK(exists("dl.bin.part.validator"), "validator kept");
	serve_bytes(name, now, len);
	o.max_attempts = 3;
	return fetch_captured(url, "dl.bin", &o, err, log_text);
}

/* A file changed on the server since the interruption comes back whole
 * (If-Range does not match): never spliced onto the old part. */
static void test_resume_changed_file(void)
{
	static unsigned char now[sizeof(data) - 777];
	char etag[32], want[128], *log_text = NULL;
	pl_err err = {0};

	for (size_t i = 0; i < sizeof(now); i++)
		now[i] = (unsigned char)(data[i] ^ 0x5a);
	CHECK_OK(resume_after_change("changed.bin", now, sizeof(now), &err, &log_text), &err);
	CHECK(check_file_equals("dl.bin", now, sizeof(now)), "the new file, whole");
	etag_of(data, sizeof(data), etag, sizeof(etag));
	snprintf(want, sizeof(want), "/drop/changed.bin range=bytes=%zu- if-range=%s",
		 sizeof(data) / 2, etag);
	CHECK(requests(want) == 1, "resume asked with '%s'", want);
	CHECK(requests("/drop/changed.bin range=- if-range=-") == 2, "then started over");
	CHECK(strstr(log_text, "changed since the partial download"), "log: %s", log_text);
	free(log_text);
}

/* A new file exactly as long as the part: curl calls that "already
 * downloaded", but a 200 to a resume request is never the rest of part. */
static void test_resume_changed_to_part_size(void)
{
	static unsigned char now[sizeof(data) / 2];
	char *log_text = NULL;
	pl_err err = {0};

	memset(now, 'N', sizeof(now));
	CHECK_OK(resume_after_change("same-size.bin", now, sizeof(now), &err, &log_text), &err);
	CHECK(check_file_equals("dl.bin", now, sizeof(now)), "the new file, not the old half");
	free(log_text);
}

/* A part that no validator vouches for is not resumed blindly. */
static void test_resume_without_validator(void)
{
	char url[256], junk[1000], *log_text = NULL;
	fetch_opts o = quick();
	pl_err err = {0};
	int before = requests("range=bytes=1000-");

	memset(junk, 'J', sizeof(junk));
	write_part("dl.bin", junk, sizeof(junk), NULL);
	url_of(url, sizeof(url), "data.bin");
	CHECK_OK(fetch_captured(url, "dl.bin", &o, &err, &log_text), &err);
	CHECK(check_file_equals("dl.bin", data, sizeof(data)), "started over");
	CHECK(requests("range=bytes=1000-") == before, "no range request");
	CHECK(strstr(log_text, "downloading from the start"), "log: %s", log_text);
	free(log_text);
}

static void test_server_ignores_range(void)
{
	char url[256], junk[1000], *log_text = NULL;
	fetch_opts o = quick();
	pl_err err = {0};

	memset(junk, 'J', sizeof(junk));
	write_part("dl.bin", junk, sizeof(junk), "\"old\"");
	url_of(url, sizeof(url), "norange/data.bin");
	CHECK_OK(fetch_captured(url, "dl.bin", &o, &err, &log_text), &err);
	CHECK(check_file_equals("dl.bin", data, sizeof(data)), "restarted from zero");
	CHECK(requests("/norange/data.bin range=bytes=1000- if-range=\"old\"") == 1,
	      "tried to resume");
	CHECK(requests("/norange/data.bin range=- if-range=-") == 1, "then started over");
	CHECK(strstr(log_text, "ignored the resume request"), "log: %s", log_text);
	free(log_text);
}

/* A server that ignores If-Range sends a piece of the new version (206):
 * its validator tells, and the download starts over. */
static void test_server_ignores_if_range(void)
{
	char url[256], junk[1000];
	fetch_opts o = quick();
	pl_err err = {0};

	memset(junk, 'J', sizeof(junk));
	write_part("dl.bin", junk, sizeof(junk), "\"old\"");
	url_of(url, sizeof(url), "oldrange/data.bin");
	CHECK_OK(fetch_url(url, "dl.bin", &o, &err), &err);
	CHECK(check_file_equals("dl.bin", data, sizeof(data)), "restarted from zero");
	CHECK(requests("/oldrange/data.bin range=- if-range=-") == 1, "then started over");
}

static void test_flaky_then_ok(void)
{
	char url[256], want[sizeof(url) + 64], *log_text = NULL;
	fetch_opts o = quick();
	pl_err err = {0};
	int rc;

	o.max_attempts = 5;
	url_of(url, sizeof(url), "flaky/data.bin");
	rc = fetch_captured(url, "dl.bin", &o, &err, &log_text);
	CHECK(rc == 0, "rc %d: %s", rc, err.msg);
	CHECK(check_file_equals("dl.bin", data, sizeof(data)), "content");
	CHECK(requests("/flaky/data.bin") == 3, "%d requests", requests("/flaky/data.bin"));
	snprintf(want, sizeof(want), "retrying in 0.1 s (attempt 2 of 5): http 500 from %s", url);
	CHECK(strstr(log_text, want), "log lacks '%s': %s", want, log_text);
	CHECK(strstr(log_text, "retrying in 0.2 s (attempt 3 of 5)"),
	      "backoff doubles: %s", log_text);
	free(log_text);
}

static void test_404_fails_fast(void)
{
	char url[256];
	fetch_opts o = quick();
	pl_err err = {0};
	int before = requests("/404"), rc;

	url_of(url, sizeof(url), "404");
	rc = fetch_url(url, "dl.bin", &o, &err);
	CHECK(rc == -PL_EDATA && err.code == PL_EDATA, "rc %d", rc);
	CHECK(strstr(err.msg, "http 404") && strstr(err.msg, url), "%s", err.msg);
	CHECK(requests("/404") == before + 1, "no retry");
	CHECK(!exists("dl.bin") && !exists("dl.bin.done") && !exists("dl.bin.part"),
	      "nothing left behind");
}

static void test_stall_times_out(void)
{
	char url[256];
	fetch_opts o = { .low_speed_time_s = 2, .max_attempts = 2, .backoff_ms = 100 };
	pl_err err = {0};
	int rc;

	url_of(url, sizeof(url), "stall/data.bin");
	rc = fetch_url(url, "dl.bin", &o, &err);
	CHECK(rc == -PL_ETEMP, "rc %d: %s", rc, err.msg);
	CHECK(strstr(err.msg, "after 2 attempts") && strstr(err.msg, url), "%s", err.msg);
	CHECK(requests("/stall/data.bin") == 2, "%d requests", requests("/stall/data.bin"));
	CHECK(!exists("dl.bin"), "no result");
}

static void test_drip_too_slow(void)
{
	char url[256];
	fetch_opts o = { .low_speed_time_s = 2, .max_attempts = 1, .backoff_ms = 100 };
	pl_err err = {0};
	int rc;

	url_of(url, sizeof(url), "drip/small.txt");
	rc = fetch_url(url, "dl.txt", &o, &err);
	CHECK(rc == -PL_ETEMP, "rc %d: %s", rc, err.msg);
	CHECK(strstr(err.msg, "after 1 attempt, the last"), "%s", err.msg);
}

static void test_sha_wrong(void)
{
	char url[256];
	fetch_opts o = quick();
	pl_err err = {0};
	int rc;

	o.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
	url_of(url, sizeof(url), "data.bin");
	rc = fetch_url(url, "dl.bin", &o, &err);
	CHECK(rc == -PL_EDATA, "rc %d: %s", rc, err.msg);
	CHECK(strstr(err.msg, "sha256 mismatch") && strstr(err.msg, o.sha256), "%s", err.msg);
	CHECK(!exists("dl.bin") && !exists("dl.bin.part") && !exists("dl.bin.done") &&
	      !exists("dl.bin.part.validator"), "download not kept");
}

static void test_sha_right_and_rerun(void)
{
	char url[256], hex[SHA256_HEX];
	fetch_opts o = quick();
	pl_err err = {0};
	int before;

	sha256_hex(data, sizeof(data), hex);
	for (char *p = hex; *p; p++)
		*p = (char)(*p >= 'a' ? *p - 32 : *p);   /* case does not matter */
	o.sha256 = hex;
	url_of(url, sizeof(url), "data.bin");
	CHECK_OK(fetch_url(url, "dl.bin", &o, &err), &err);
	CHECK(exists("dl.bin.done"), "marked done");
	before = requests(NULL);
	CHECK_OK(fetch_url(url, "dl.bin", &o, &err), &err);
	CHECK(requests(NULL) == before, "rerun made %d requests", requests(NULL) - before);
	CHECK(check_file_equals("dl.bin", data, sizeof(data)), "content kept");
	/* a changed checksum is not satisfied by the old download */
	o.sha256 = "1111111111111111111111111111111111111111111111111111111111111111";
	CHECK(fetch_url(url, "dl.bin", &o, &err) == -PL_EDATA, "%s", err.msg);
	CHECK(requests(NULL) == before + 1, "downloaded again");
	CHECK(!exists("dl.bin") && !exists("dl.bin.done"), "mismatch not kept");
}

static void test_file_url(void)
{
	char url[PATH_MAX + 32];
	fetch_opts o = quick();
	pl_err err = {0};
	int rc;

	snprintf(url, sizeof(url), "file://%s/data.bin", srv_root);
	CHECK(fetch_is_url(url), "file URL");
	CHECK_OK(fetch_url(url, "dl.bin", &o, &err), &err);
	CHECK(check_file_equals("dl.bin", data, sizeof(data)), "content");
	write_bytes("f.part", data, 5000);
	CHECK(rename("f.part", "f.bin.part") == 0, "rename");
	CHECK_OK(fetch_url(url, "f.bin", &o, &err), &err);
	CHECK(check_file_equals("f.bin", data, sizeof(data)), "resumed file URL");
	snprintf(url, sizeof(url), "file://%s/missing.bin", srv_root);
	rc = fetch_url(url, "m.bin", &o, &err);
	CHECK(rc == -PL_EIO && strstr(err.msg, "missing.bin"), "rc %d: %s", rc, err.msg);
}

static void test_redact(void)
{
	char out[256];

	fetch_redact("https://user:pa55@host.example/x?a=b@c", out, sizeof(out));
	CHECK(strcmp(out, "https://host.example/x?a=b@c") == 0, "%s", out);
	fetch_redact("http://token@host:8080/", out, sizeof(out));
	CHECK(strcmp(out, "http://host:8080/") == 0, "%s", out);
	fetch_redact("http://host/path@x", out, sizeof(out));
	CHECK(strcmp(out, "http://host/path@x") == 0, "%s", out);
	fetch_redact("file:///tmp/a", out, sizeof(out));
	CHECK(strcmp(out, "file:///tmp/a") == 0, "%s", out);
	fetch_redact("https://u:p@h/x", out, 5);
	CHECK(strcmp(out, "http") == 0, "truncated: %s", out);
}

static void test_credentials_redacted(void)
{
	char url[256], shown[256], *log_text = NULL;
	fetch_opts o = quick();
	pl_err err = {0};
	int rc;

	snprintf(url, sizeof(url), "http://alice:s3cretpw@127.0.0.1:%d/404", port);
	snprintf(shown, sizeof(shown), "http://127.0.0.1:%d/404", port);
	rc = fetch_url(url, "dl.bin", &o, &err);
	CHECK(rc == -PL_EDATA && strstr(err.msg, shown), "%s", err.msg);
	CHECK(!strstr(err.msg, "s3cretpw") && !strstr(err.msg, "alice"), "%s", err.msg);
	o.max_attempts = 5;
	snprintf(url, sizeof(url), "http://alice:s3cretpw@127.0.0.1:%d/flaky/small.txt", port);
	rc = fetch_captured(url, "small.txt", &o, &err, &log_text);
	CHECK(rc == 0, "rc %d: %s", rc, err.msg);
	CHECK(strstr(log_text, "retrying") && !strstr(log_text, "s3cretpw") &&
	      !strstr(log_text, "alice"), "log: %s", log_text);
	free(log_text);
	snprintf(url, sizeof(url), "http://alice:s3cretpw@127.0.0.1:1/x");
	o.max_attempts = 1;
	rc = fetch_url(url, "dl.bin", &o, &err);
	CHECK(rc == -PL_ETEMP && !strstr(err.msg, "s3cretpw"), "%s", err.msg);
}

static void test_redirects(void)
{
	char url[256];
	fetch_opts o = quick();
	pl_err err = {0};
	int rc;

	url_of(url, sizeof(url), "redirect/data.bin");
	CHECK_OK(fetch_url(url, "dl.bin", &o, &err), &err);
	CHECK(check_file_equals("dl.bin", data, sizeof(data)), "followed");
	url_of(url, sizeof(url), "redirect-loop");
	rc = fetch_url(url, "loop.bin", &o, &err);
	CHECK(rc == -PL_EDATA, "rc %d: %s", rc, err.msg);
	CHECK(strstr(err.msg, "redirect loop") && strstr(err.msg, url), "%s", err.msg);
}

static void test_connection_refused(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	fetch_opts o = quick();
	char url[256];
	pl_err err = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	      getsockname(fd, (struct sockaddr *)&addr, &len) == 0, "free port");
	close(fd);   /* nothing listens there now */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ntohs(addr.sin_port));
	o.max_attempts = 2;
	rc = fetch_url(url, "dl.bin", &o, &err);
	CHECK(rc == -PL_ETEMP && strstr(err.msg, "after 2 attempts"), "rc %d: %s", rc, err.msg);
}

static void test_reset(void)
{
	char url[256];
	fetch_opts o = quick();
	pl_err err = {0};
	int before = requests("/reset"), rc;

	o.max_attempts = 2;
	url_of(url, sizeof(url), "reset");
	rc = fetch_url(url, "dl.bin", &o, &err);
	CHECK(rc == -PL_ETEMP, "rc %d: %s", rc, err.msg);
	CHECK(requests("/reset") == before + 2, "retried once");
}

static void test_stop(void)
{
	volatile int stop = 1;
	char url[256];
	fetch_opts o = quick();
	pl_err err = {0};
	int before = requests(NULL), rc;

	o.stop = &stop;
	url_of(url, sizeof(url), "data.bin");
	rc = fetch_url(url, "dl.bin", &o, &err);
	CHECK(rc == -PL_EINTR && strstr(err.msg, "interrupted"), "rc %d: %s", rc, err.msg);
	CHECK(requests(NULL) == before, "no request made");
}

static void *set_stop_later(void *arg)
{
	struct timespec wait = { 0, 500 * 1000000L };

	nanosleep(&wait, NULL);
	*(volatile int *)arg = 1;
	return NULL;
}

/* A stop request during a slow transfer is seen by the progress callback. */
static void test_stop_during_transfer(void)
{
	volatile int stop = 0;
	fetch_opts o = { .low_speed_time_s = 20, .max_attempts = 1 };
	char url[256];
	pl_err err = {0};
	pthread_t t;
	int before = requests("/drip/small.txt"), rc;

	o.stop = &stop;
	url_of(url, sizeof(url), "drip/small.txt");
	CHECK(pthread_create(&t, NULL, set_stop_later, (void *)&stop) == 0, "thread");
	rc = fetch_url(url, "dl.txt", &o, &err);
	pthread_join(t, NULL);
	CHECK(rc == -PL_EINTR && strstr(err.msg, "interrupted"), "rc %d: %s", rc, err.msg);
	CHECK(requests("/drip/small.txt") == before + 1, "one request, no retry");
}

static void test_bad_input(void)
{
	fetch_opts o = quick();
	pl_err err = {0};
	char url[256];

	CHECK(!fetch_is_url("ftp://host/x") && !fetch_is_url("/tmp/x") &&
	      !fetch_is_url("synth:plate") && !fetch_is_url(NULL), "not URLs");
	CHECK(fetch_is_url("HTTPS://host/x") && fetch_is_url("http://h/"), "URLs");
	CHECK(fetch_url("ftp://host/x", "dl.bin", &o, &err) == -PL_EUSAGE, "%s", err.msg);
	o.sha256 = "abc";
	url_of(url, sizeof(url), "data.bin");
	CHECK(fetch_url(url, "dl.bin", &o, &err) == -PL_EUSAGE &&
	      strstr(err.msg, "64 hex digits"), "%s", err.msg);
}

static void test_write_errors(void)
{
	char url[256];
	fetch_opts o = quick();
	pl_err err = {0};
	int rc;

	url_of(url, sizeof(url), "data.bin");
	rc = fetch_url(url, "nodir/dl.bin", &o, &err);
	CHECK(rc == -PL_EIO && strstr(err.msg, "nodir/dl.bin.part"), "rc %d: %s", rc, err.msg);
	CHECK(symlink("/dev/full", "full.bin.part") == 0, "symlink");
	rc = fetch_url(url, "full.bin", &o, &err);
	CHECK(rc == -PL_EIO && strstr(err.msg, "full.bin.part"), "rc %d: %s", rc, err.msg);
	CHECK(!exists("full.bin"), "no result");
}

/* Starts the server script (HTTPS when cert and key are given); returns
 * its port, or -1. */
static int start_server(const char *script, const char *cert, const char *key,
			pid_t *pid)
{
	char line[32];
	int fds[2];
	size_t n = 0;

	if (pipe(fds) != 0)
		return -1;
	*pid = fork();
	if (*pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl("/usr/bin/python3", "python3", script, srv_root, srv_log, cert,
		      key, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (*pid > 0 && n < sizeof(line) - 1 && read(fds[0], line + n, 1) == 1 &&
	       line[n] != '\n')
		n++;
	line[n] = '\0';
	close(fds[0]);
	return atoi(line) > 0 ? atoi(line) : -1;
}

static void stop_server(pid_t pid)
{
	int status;

	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
	}
}

/* TLS is verified by default: a self-signed server is refused unless
 * insecure is set. */
static void test_https_verification(void)
{
	char cmd[512], url[256];
	fetch_opts o = quick();
	pl_err err = {0};
	pid_t pid = -1;
	int tls_port, rc;

	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out cert.pem "
		 "-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
		 ">/dev/null 2>&1");
	CHECK(system(cmd) == 0, "openssl made a certificate");
	tls_port = start_server(server_script, "cert.pem", "key.pem", &pid);
	CHECK(tls_port > 0, "https server started");
	if (tls_port > 0) {
		snprintf(url, sizeof(url), "https://127.0.0.1:%d/data.bin", tls_port);
		o.max_attempts = 1;
		rc = fetch_url(url, "dl.bin", &o, &err);
		CHECK(rc == -PL_EDATA && strstr(err.msg, "certificate") && strstr(err.msg, url),
		      "rc %d: %s", rc, err.msg);
		CHECK(!exists("dl.bin"), "nothing kept");
		o.insecure = 1;
		CHECK_OK(fetch_url(url, "dl.bin", &o, &err), &err);
		CHECK(check_file_equals("dl.bin", data, sizeof(data)), "content over https");
	}
	stop_server(pid);
}

static void find_script(char *out, size_t n)
{
	const char *root = getenv("PL_ROOT");
	char exe[PATH_MAX];
	ssize_t len;
	pl_err err;

	if (!root) {   /* ROOT/BUILD/tests/test_fetch -> ROOT/tests/http_server.py */
		len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[len > 0 ? len : 0] = '\0';
		for (int k = 0; k < 3; k++) {
			char *slash = strrchr(exe, '/');

			if (slash)
				*slash = '\0';
		}
		root = exe;
	}
	if (fs_path(out, n, &err, "%s/tests/http_server.py", root) < 0) {
		fprintf(stderr, "test_fetch: %s\n", err.msg);
		exit(1);
	}
}

static void fill_data(void)
{
	uint32_t seed = 12345;
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(data); i++) {
		seed = seed * 1664525u + 1013904223u;
		data[i] = (unsigned char)(seed >> 24);
	}
	snprintf(path, sizeof(path), "%s/data.bin", srv_root);
	write_bytes(path, data, sizeof(data));
	snprintf(path, sizeof(path), "%s/small.txt", srv_root);
	write_bytes(path, small, strlen(small));
}

int main(void)
{
	char cmd[PATH_MAX + 16];

	if (!mkdtemp(srv_root)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(srv_log, sizeof(srv_log), "%s/requests.log", srv_root);
	fill_data();
	find_script(server_script, sizeof(server_script));
	log_setup(LOG_HUMAN, 0);
	if ((port = start_server(server_script, NULL, NULL, &server_pid)) < 0) {
		fprintf(stderr, "cannot start %s\n", server_script);
		check_failed++;
	} else {
		RUN(test_plain);
		RUN(test_resume_after_drop);
		RUN(test_resume_by_date);
		RUN(test_resume_changed_file);
		RUN(test_resume_changed_to_part_size);
		RUN(test_resume_without_validator);
		RUN(test_server_ignores_range);
		RUN(test_server_ignores_if_range);
		RUN(test_flaky_then_ok);
		RUN(test_404_fails_fast);
		RUN(test_stall_times_out);
		RUN(test_drip_too_slow);
		RUN(test_sha_wrong);
		RUN(test_sha_right_and_rerun);
		RUN(test_file_url);
		RUN(test_redact);
		RUN(test_credentials_redacted);
		RUN(test_redirects);
		RUN(test_connection_refused);
		RUN(test_reset);
		RUN(test_stop);
		RUN(test_stop_during_transfer);
		RUN(test_https_verification);
		RUN(test_bad_input);
		RUN(test_write_errors);
	}
	stop_server(server_pid);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", srv_root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", srv_root);
	return check_report("test_fetch");
}
