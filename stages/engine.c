/* The stage engine. A stage's outputs are built in WS/.tmp/NAME, stage.json
 * is written last, and the directory is swapped into place with one rename;
 * a result is trusted only when stage.json is valid, its fingerprint equals
 * the one computed now and every listed output is there with its size.
 * A stage run as a part (engine_opts.part) commits its work itself. */
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../io/fetch.h"
#include "../io/fs.h"
#include "../io/json.h"
#include "../io/log.h"
#include "../io/sys.h"
#include "../io/utf8.h"
#include "../io/version.h"
#include "hashcache.h"
#include "wsguard.h"

int engine_find(const stage_def *defs, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(defs[i].name, name))
			return i;
	return -1;
}

const char *engine_state_name(stage_state s)
{
	static const char *names[] = { "cached", "stale", "never run", "failed", "done", "skipped" };
	return names[s];
}

/* ---- fingerprints ---- */

typedef struct cfg_collect { json_t *obj; sha256_ctx *sha; } cfg_collect;

static void collect_key(void *ctx, const cfg_key *key, const char *value)
{
	cfg_collect *cc = ctx;
	char name[160], shown[2048];

	if (key->flags & CFG_RUNTIME)
		return;
	snprintf(name, sizeof(name), "%s.%s", key->section, key->key);
	/* the stored copy (stage.json, status, logs) never holds URL credentials;
	 * the fingerprint still sees them */
	fetch_redact(value, shown, sizeof(shown));
	json_object_set_new(cc->obj, name, json_text(shown));
	sha256_update(cc->sha, name, strlen(name));
	sha256_update(cc->sha, "=", 1);
	sha256_update(cc->sha, value, strlen(value) + 1);
}

/* Hashes the stage's name, format, canonical config, upstream fingerprint
 * (not its outputs' digest) and data identity into s->fingerprint, which
 * stays "" while the identity is unknown; s->config gets the canonical
 * config and s->data the identity. */
static int fingerprint(stage_ctx *ctx, stage_status *s, pl_err *err)
{
	const stage_def *def = ctx->def;
	char sections[128], *save = NULL, head[128];
	sha256_ctx sha;
	cfg_collect cc;
	int rc;

	s->data[0] = '\0';
	s->fingerprint[0] = '\0';
	json_decref(s->config);
	s->config = NULL;
	if (def->identity && (rc = def->identity(ctx, s->data, sizeof(s->data), err)) < 0)
		return rc;
	if ((rc = sha256_init(&sha, err)) < 0)
		return rc;
	cc.obj = s->config = json_object();
	cc.sha = &sha;
	snprintf(head, sizeof(head), "pipeline stage %s format %d\n", def->name, def->format);
	sha256_update(&sha, head, strlen(head));
	snprintf(sections, sizeof(sections), "%s", def->sections);
	for (char *sec = strtok_r(sections, " ", &save); sec; sec = strtok_r(NULL, " ", &save))
		cfg_visit(ctx->cfg, sec, collect_key, &cc);
	sha256_update(&sha, "upstream=", 9);
	sha256_update(&sha, s->up.fingerprint, strlen(s->up.fingerprint) + 1);
	sha256_update(&sha, "data=", 5);
	sha256_update(&sha, s->data, strlen(s->data) + 1);
	if (def->identity && !s->data[0]) {
		sha256_abort(&sha);
		return 0;
	}
	sha256_final(&sha, s->fingerprint);
	return 0;
}

/* ---- reading a committed stage ---- */

static json_t *read_json(const char *path)
{
	return json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
}

/* Whether the output o listed in a stage.json is present in dir with its
 * size and SHA-256 (memoised in hc); the first problem goes into why. */
static int output_ok(const json_t *o, const char *dir, hashcache *hc, char *why, size_t n)
{
	const char *rel = json_string_value(json_object_get(o, "path"));
	const char *sha = json_string_value(json_object_get(o, "sha256"));
	json_int_t bytes = json_integer_value(json_object_get(o, "bytes"));
	char path[PATH_MAX], hex[SHA256_HEX];
	struct stat st;

	if (!rel) {
		snprintf(why, n, "stage.json has an output without a path");
		return 0;
	}
	if (fs_path(path, sizeof(path), NULL, "%s/%s", dir, rel) < 0 || stat(path, &st) != 0) {
		snprintf(why, n, "outputs missing: %s", rel);
		return 0;
	}
	if (st.st_size != bytes) {
		snprintf(why, n, "output changed: %s is %lld bytes, was %lld", rel,
			 (long long)st.st_size, (long long)bytes);
		return 0;
	}
	if (!sha || hashcache_file(hc, path, hex, NULL) < 0 || strcmp(hex, sha)) {
		snprintf(why, n, "output changed: %s no longer has its recorded SHA-256", rel);
		return 0;
	}
	return 1;
}

/* Checks every output listed in rec (see output_ok). */
static int outputs_ok(const json_t *rec, const char *dir, hashcache *hc, char *why, size_t n)
{
	json_t *outs = json_object_get(rec, "outputs"), *o;
	size_t i;

	if (!json_is_array(outs)) {
		snprintf(why, n, "stage.json lists no outputs");
		return 0;
	}
	json_array_foreach(outs, i, o)
		if (!output_ok(o, dir, hc, why, n))
			return 0;
	return 1;
}

/* Describes how the stored config differs from now: "train.lr 0.01 -> 0.02". */
static int config_diff(const json_t *old, const json_t *now, char *out, size_t n)
{
	const char *key;
	json_t *v;
	size_t len = 0;
	int count = 0;

	json_object_foreach((json_t *)now, key, v) {
		json_t *o = json_object_get(old, key);
		const char *was = o ? json_string_value(o) : NULL;
		if (was && !strcmp(was, json_string_value(v)))
			continue;
		if (count++ < 3 && len < n)
			len += (size_t)snprintf(out + len, n - len, "%s%s %s -> %s", len ? ", " : "",
						key, was ? (*was ? was : "''") : "(unset)",
						*json_string_value(v) ? json_string_value(v) : "''");
	}
	json_object_foreach((json_t *)old, key, v)
		if (!json_object_get(now, key) && count++ < 3 && len < n)
			len += (size_t)snprintf(out + len, n - len, "%s%s removed", len ? ", " : "", key);
	return count;
}

/* Why a stage with a valid result whose fingerprint differs is stale. */
static void stale_reason(stage_status *s)
{
	const json_t *rec = s->record;
	const char *old_up = json_string_value(json_object_get(rec, "upstream_fingerprint"));
	const char *old_data = json_string_value(json_object_get(rec, "data"));
	const char *up_name = s->def->upstream;
	char why[400];

	if (json_integer_value(json_object_get(rec, "format")) != s->def->format)
		snprintf(s->reason, sizeof(s->reason), "artifact format changed");
	else if (config_diff(json_object_get(rec, "config"), s->config, why, sizeof(why)))
		snprintf(s->reason, sizeof(s->reason), "config changed: %s", why);
	else if (up_name && s->up.fingerprint[0] && (!old_up || strcmp(old_up, s->up.fingerprint)))
		snprintf(s->reason, sizeof(s->reason), "upstream %s changed", up_name);
	else if (!s->data[0] && s->def->identity)
		snprintf(s->reason, sizeof(s->reason), "input data not yet fetched");
	else if (!old_data || strcmp(old_data, s->data))
		snprintf(s->reason, sizeof(s->reason), "input data changed");
	else
		snprintf(s->reason, sizeof(s->reason), "fingerprint changed");
}

/* Works out the state of one stage from its stored record, the fingerprint
 * computed now and what its upstream holds. */
static void judge(stage_status *s, const char *dir, hashcache *hc)
{
	const char *stored = json_string_value(json_object_get(s->record, "fingerprint"));
	const char *up_name = s->def->upstream;
	char why[400];

	if (!s->record) {
		s->state = ST_NEVER;
		snprintf(s->reason, sizeof(s->reason), fs_exists(dir) ?
			 "no valid stage.json" : "never run");
	} else if (!outputs_ok(s->record, dir, hc, why, sizeof(why))) {
		s->state = ST_STALE;
		snprintf(s->reason, sizeof(s->reason), "%s", why);
	} else if (stored && s->fingerprint[0] && !strcmp(stored, s->fingerprint)) {
		const char *was = json_string_value(json_object_get(s->record, "upstream_outputs"));
		const char *now = s->up.outputs;
		s->state = up_name && (!was || strcmp(was, now)) ? ST_STALE : ST_CACHED;
		snprintf(s->reason, sizeof(s->reason), s->state == ST_CACHED ? "cached" : !*now ?
			 "upstream %s has no result" : "upstream %s has new outputs", up_name);
	} else {
		s->state = ST_STALE;
		stale_reason(s);
	}
	if (s->state != ST_CACHED && s->failure) {
		const char *ffp = json_string_value(json_object_get(s->failure, "fingerprint"));
		if (ffp && !strcmp(ffp, s->fingerprint)) {
			s->state = ST_FAILED;
			snprintf(s->reason, sizeof(s->reason), "failed: %s",
				 json_string_value(json_object_get(s->failure, "message")));
		}
	}
}

static int ctx_init(stage_ctx *ctx, const stage_def *def, const char *ws, const cfg *c,
		    pl_err *err)
{
	int rc;

	memset(ctx, 0, sizeof(*ctx));
	ctx->ws = ws;
	ctx->cfg = c;
	ctx->name = def->name;
	ctx->def = def;
	if ((rc = fs_path(ctx->out_dir, sizeof(ctx->out_dir), err, "%s/.tmp/%s", ws, def->name)) < 0)
		return rc;
	if (def->upstream)
		return fs_path(ctx->up_dir, sizeof(ctx->up_dir), err, "%s/%s", ws, def->upstream);
	return 0;
}

int engine_fingerprint(stage_ctx *ctx, pl_err *err)
{
	stage_status s = { .def = ctx->def, .up = ctx->up };
	int rc = fingerprint(ctx, &s, err);

	memcpy(ctx->fingerprint, s.fingerprint, sizeof(ctx->fingerprint));
	json_decref(s.config);
	return rc;
}

/* Fills *up for a stage whose upstream up_name has the fingerprint up_fp
 * now: that fingerprint and, when WS/UP holds a result of it, a digest of
 * its outputs. */
static void read_upstream(const char *ws, const char *up_name, const char *up_fp, upstream *up)
{
	char path[PATH_MAX];
	json_t *rec;
	char *outs = NULL;

	memset(up, 0, sizeof(*up));
	if (!up_name || !up_fp[0])
		return;
	snprintf(up->fingerprint, sizeof(up->fingerprint), "%s", up_fp);
	if (fs_path(path, sizeof(path), NULL, "%s/%s/stage.json", ws, up_name) < 0)
		return;
	rec = read_json(path);
	const char *fp = json_string_value(json_object_get(rec, "fingerprint"));
	if (fp && !strcmp(fp, up_fp) &&
	    (outs = json_dumps(json_object_get(rec, "outputs"), JSON_COMPACT | JSON_SORT_KEYS)))
		sha256_hex(outs, strlen(outs), up->outputs);
	free(outs);
	json_decref(rec);
}

/* The pid the lock file open at fd names ("unknown" when none). */
static void holder_pid(int fd, char *pid, size_t n)
{
	ssize_t got = pread(fd, pid, n - 1, 0);

	pid[got > 0 ? got : 0] = '\0';
	pid[strcspn(pid, "\n")] = '\0';
	if (!pid[0])
		snprintf(pid, n, "unknown");
}

/* Whether another process holds the lock of ws now (this one may: a lock
 * on another open file conflicts too); its pid into pid. */
static int lock_held(const char *ws, char *pid, size_t n)
{
	char path[PATH_MAX];
	int fd, held;

	if (fs_path(path, sizeof(path), NULL, "%s/.lock", ws) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	if (held)
		holder_pid(fd, pid, n);
	close(fd);
	return held && atol(pid) != (long)getpid();
}

/* A run with the inputs of now began in WS/.tmp/NAME and did not finish
 * (killed, or the machine went down): says so in the reason, with the
 * stage's note of where it stands (engine_note). */
static void note_interrupted(stage_status *s, const char *ws)
{
	char path[PATH_MAX], *fp = NULL, *note = NULL;
	size_t len;

	if ((s->state != ST_NEVER && s->state != ST_STALE) || !s->fingerprint[0])
		return;
	if (fs_path(path, sizeof(path), NULL, "%s/.tmp/%s/.fingerprint", ws, s->def->name) == 0 &&
	    fs_read_file(path, 128, &fp, &len, NULL) == 0 && !strcmp(fp, s->fingerprint)) {
		char pid[32];
		if (fs_path(path, sizeof(path), NULL, "%s/.tmp/%s/.note", ws, s->def->name) < 0 ||
		    fs_read_file(path, 200, &note, &len, NULL) != 0)
			note = NULL;
		if (lock_held(ws, pid, sizeof(pid)))
			snprintf(s->reason, sizeof(s->reason), "running (pid %s)", pid);
		else
			snprintf(s->reason, sizeof(s->reason), "interrupted%s%s", note ? "; " : "",
				 note ? note : "");
	}
	free(fp);
	free(note);
}

/* Reads WS/NAME/stage.json and the stage's failure record into s. */
static int read_records(stage_status *s, const char *ws, char *dir, size_t n, pl_err *err)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = fs_path(dir, n, err, "%s/%s", ws, s->def->name)) < 0 ||
	    (rc = fs_path(path, sizeof(path), err, "%s/stage.json", dir)) < 0)
		return rc;
	s->record = read_json(path);
	if ((rc = fs_path(path, sizeof(path), err, "%s/.status/%s.failed.json", ws,
			  s->def->name)) < 0)
		return rc;
	s->failure = read_json(path);
	return 0;
}

/* Computes the status of one stage, s->up being set. With unknown_ok, a
 * data identity that cannot be had (no source configured yet) leaves the
 * fingerprint unknown instead of failing, and is the reason of a stage
 * that has a result. */
static int assess(const stage_def *def, const char *ws, const cfg *c, int unknown_ok,
		  stage_status *s, pl_err *err)
{
	char dir[PATH_MAX];
	pl_err why = { 0 };
	stage_ctx ctx;
	hashcache *hc;
	int rc;

	s->def = def;
	if ((rc = ctx_init(&ctx, def, ws, c, err)) < 0)
		return rc;
	ctx.up = s->up;
	if ((rc = fingerprint(&ctx, s, unknown_ok ? &why : err)) < 0 && !unknown_ok)
		return pl_errprefix(err, "%s: ", def->name);
	if ((rc = read_records(s, ws, dir, sizeof(dir), err)) < 0)
		return rc;
	if (!(hc = hashcache_open(ws, "outputs")))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	judge(s, dir, hc);
	hashcache_save(hc, NULL);   /* only speed is lost when it cannot be saved */
	hashcache_free(hc);
	if (why.code)   /* nothing can run until this is mended: say so */
		snprintf(s->reason, sizeof(s->reason), "%s: %s", s->state == ST_NEVER ?
			 "never run" : "cannot tell", why.msg);
	note_interrupted(s, ws);
	return 0;
}

/* What engine_walk does with each stage once it is assessed. */
typedef int (*stage_visit)(void *arg, int i, stage_status *s, pl_err *err);

/* The one walk over the stages in order: each is assessed against the
 * fingerprint its upstream has at that point (after visit ran the
 * upstream, if it did), then handed to visit (may be NULL). */
static int walk(const stage_def *defs, int n, const char *ws, const cfg *c, int unknown_ok,
		stage_status *st, stage_visit visit, void *arg, pl_err *err)
{
	int rc = 0;

	memset(st, 0, sizeof(*st) * (size_t)n);
	for (int i = 0; i < n && rc == 0; i++) {
		int up = defs[i].upstream ? engine_find(defs, n, defs[i].upstream) : -1;
		read_upstream(ws, defs[i].upstream, up >= 0 ? st[up].fingerprint : "", &st[i].up);
		rc = assess(&defs[i], ws, c, unknown_ok, &st[i], err);
		if (rc == 0 && visit)
			rc = visit(arg, i, &st[i], err);
	}
	return rc;
}

int engine_status(const stage_def *defs, int n, const char *ws, const cfg *c, int unknown_ok,
		  stage_status *st, pl_err *err)
{
	int rc = walk(defs, n, ws, c, unknown_ok, st, NULL, NULL, err);

	if (rc < 0)
		engine_status_release(st, n);
	return rc;
}

void engine_status_release(stage_status *st, int n)
{
	for (int i = 0; i < n; i++) {
		json_decref(st[i].record);
		json_decref(st[i].failure);
		json_decref(st[i].config);
		st[i].record = st[i].failure = st[i].config = NULL;
	}
}

/* ---- committing a stage ---- */

/* Appends the regular file or folder dir/rel to outs (see list_outputs). */
static int list_output(const char *dir, const char *rel, json_t *outs, pl_err *err);

/* Appends every regular file under dir/rel to outs, sorted, with size and
 * SHA-256. */
static int list_outputs(const char *dir, const char *rel, json_t *outs, pl_err *err)
{
	char path[PATH_MAX], child[PATH_MAX];
	struct dirent **names = NULL;
	int n, rc;

	if ((rc = fs_path(path, sizeof(path), err, "%s%s%s", dir, *rel ? "/" : "", rel)) < 0)
		return rc;
	if ((n = scandir(path, &names, NULL, alphasort)) < 0)
		return pl_errorf(err, PL_EIO, "cannot list '%s': %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		if (rc < 0 || !strcmp(name, ".") || !strcmp(name, "..") ||
		    (!*rel && (!strcmp(name, "stage.json") || !strcmp(name, ".fingerprint"))))
			continue;
		rc = fs_path(child, sizeof(child), err, "%s%s%s", rel, *rel ? "/" : "", name);
		if (rc == 0)
			rc = list_output(dir, child, outs, err);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int list_output(const char *dir, const char *rel, json_t *outs, pl_err *err)
{
	char path[PATH_MAX], hex[SHA256_HEX];
	struct stat st;
	int rc;

	if ((rc = fs_path(path, sizeof(path), err, "%s/%s", dir, rel)) < 0)
		return rc;
	if (lstat(path, &st) != 0)
		return pl_errorf(err, PL_EIO, "cannot stat '%s': %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return list_outputs(dir, rel, outs, err);
	if (!S_ISREG(st.st_mode))
		return 0;
	if ((rc = sha256_file(path, hex, err)) < 0)
		return rc;
	json_array_append_new(outs, json_pack("{s:s,s:I,s:s}", "path", rel,
					      "bytes", (json_int_t)st.st_size, "sha256", hex));
	return 0;
}

int engine_note(const stage_ctx *ctx, const char *note, pl_err *err)
{
	char path[PATH_MAX];
	int rc = fs_path(path, sizeof(path), err, "%s/.note", ctx->out_dir);

	return rc < 0 ? rc : fs_write_atomic(path, note, strlen(note), err);
}

/* The note of where an unfinished run stands is not part of the result. */
static int drop_note(const stage_ctx *ctx, pl_err *err)
{
	char path[PATH_MAX];
	int rc = fs_path(path, sizeof(path), err, "%s/.note", ctx->out_dir);

	if (rc == 0 && unlink(path) != 0 && errno != ENOENT)
		return pl_errorf(err, PL_EIO, "cannot remove '%s': %s", path, strerror(errno));
	return rc;
}

/* Writes ctx.out_dir/stage.json, the last file of a stage, from what the
 * assessment s found and what the stage reported in ctx. */
static int write_record(stage_ctx *ctx, const stage_status *s, const char *started,
			double elapsed, pl_err *err)
{
	char path[PATH_MAX], finished[SYS_TIME_MAX], host[256] = "";
	json_t *rec, *outs = json_array();
	int rc;

	if ((rc = fs_path(path, sizeof(path), err, "%s/.fingerprint", ctx->out_dir)) == 0) {
		unlink(path);
		rc = list_outputs(ctx->out_dir, "", outs, err);
	}
	if (rc < 0) {
		json_decref(outs);
		return rc;
	}
	sys_iso_now(finished, sizeof(finished), 0);
	gethostname(host, sizeof(host) - 1);
	rec = json_pack("{s:s,s:i,s:s,s:s?,s:s,s:s,s:s,s:O,s:s,s:s,s:f,s:s,s:s,s:O,s:o}",
			"stage", s->def->name, "format", s->def->format, "fingerprint",
			s->fingerprint, "upstream", s->def->upstream, "upstream_fingerprint",
			s->up.fingerprint, "upstream_outputs", s->up.outputs, "data", s->data,
			"config", s->config, "started", started, "finished", finished,
			"elapsed_s", elapsed, "host", host, "pipeline_version", PL_VERSION,
			"metrics", ctx->metrics, "outputs", outs);
	json_object_update_missing(rec, ctx->info);
	rc = json_write_in(ctx->out_dir, "stage.json", rec, err);
	json_decref(rec);
	return rc;
}

/* Swaps the finished WS/.tmp/NAME into WS/NAME with one rename. */
static int commit(const char *ws, const char *name, const char *tmp, pl_err *err)
{
	char final[PATH_MAX], old[PATH_MAX];
	int rc;

	if ((rc = fs_path(final, sizeof(final), err, "%s/%s", ws, name)) < 0 ||
	    (rc = fs_path(old, sizeof(old), err, "%s/.tmp/%s.old", ws, name)) < 0)
		return rc;
	if ((rc = fs_fsync_tree(tmp, err)) < 0 || (rc = fs_rmtree(old, err)) < 0)
		return rc;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
		if ((rc = fs_fsync_dir(ws, err)) < 0)
			return rc;
		if (rename(tmp, old) != 0)
			return pl_errorf(err, PL_EIO, "cannot move '%s' aside: %s", tmp, strerror(errno));
		return fs_rmtree(old, err);
	}
	if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)
		return pl_errorf(err, PL_EIO, "cannot move '%s' into place: %s", final, strerror(errno));
	if (fs_exists(final) && rename(final, old) != 0)
		return pl_errorf(err, PL_EIO, "cannot move '%s' aside: %s", final, strerror(errno));
	if ((rc = fs_rename(tmp, final, err)) < 0)
		return rc;
	return fs_rmtree(old, err);
}

/* Remembers the hashes stage.json records for the committed outputs of
 * WS/NAME, so the next run need not read them to trust them. */
static void remember_outputs(const char *ws, const char *name)
{
	char path[PATH_MAX];
	hashcache *hc = hashcache_open(ws, "outputs");
	json_t *rec = NULL, *o;
	size_t i;

	if (!hc || fs_path(path, sizeof(path), NULL, "%s/%s/stage.json", ws, name) < 0 ||
	    !(rec = read_json(path))) {
		hashcache_free(hc);
		return;
	}
	json_array_foreach(json_object_get(rec, "outputs"), i, o) {
		const char *rel = json_string_value(json_object_get(o, "path"));
		const char *sha = json_string_value(json_object_get(o, "sha256"));
		if (rel && sha && strlen(sha) == SHA256_HEX - 1 &&
		    fs_path(path, sizeof(path), NULL, "%s/%s/%s", ws, name, rel) == 0)
			hashcache_note(hc, path, sha);
	}
	hashcache_save(hc, NULL);
	hashcache_free(hc);
	json_decref(rec);
}

/* Prepares WS/.tmp/NAME: kept when it belongs to the same fingerprint (a
 * resumable stage continues there), emptied otherwise. */
static int prepare_tmp(const stage_ctx *ctx, const char *fp, pl_err *err)
{
	char path[PATH_MAX], *old = NULL;
	size_t len;
	int rc, keep = 0;

	if ((rc = fs_path(path, sizeof(path), err, "%s/.fingerprint", ctx->out_dir)) < 0)
		return rc;
	if (fp[0] && fs_read_file(path, 128, &old, &len, NULL) == 0)
		keep = strcmp(old, fp) == 0;
	free(old);
	if (keep)
		return 0;
	if ((rc = fs_rmtree(ctx->out_dir, err)) < 0 || (rc = fs_mkdirs(ctx->out_dir, err)) < 0)
		return rc;
	return fp[0] ? fs_write_file(path, fp, strlen(fp), err) : 0;
}

static void record_failure(const char *ws, const char *name, const char *fp, const pl_err *e)
{
	char dir[PATH_MAX], path[PATH_MAX], when[SYS_TIME_MAX];
	json_t *rec;

	if (fs_path(dir, sizeof(dir), NULL, "%s/.status", ws) < 0 ||
	    fs_path(path, sizeof(path), NULL, "%s/%s.failed.json", dir, name) < 0)
		return;
	sys_iso_now(when, sizeof(when), 0);
	rec = json_pack("{s:s,s:s,s:i,s:s}", "fingerprint", fp, "message", e->msg,
			"code", e->code, "time", when);
	if (rec && fs_mkdirs(dir, NULL) == 0)
		json_write_atomic(path, rec, NULL);
	json_decref(rec);
}

static void clear_failure(const char *ws, const char *name)
{
	char path[PATH_MAX];

	if (fs_path(path, sizeof(path), NULL, "%s/.status/%s.failed.json", ws, name) == 0)
		unlink(path);
}

/* After the stage's own work: the fingerprint, when the data identity
 * became known only while running, then stage.json and the commit. */
static int finish_one(stage_ctx *ctx, stage_status *s, const char *started, double t0,
		      pl_err *err)
{
	int rc = 0;

	if (!s->fingerprint[0]) {
		if ((rc = fingerprint(ctx, s, err)) < 0)
			return rc;
		if (!s->fingerprint[0])
			return pl_errorf(err, PL_EFAIL, "the input data identity is still unknown");
	}
	if (ctx->part)
		return 0;
	if ((rc = drop_note(ctx, err)) < 0 ||
	    (rc = write_record(ctx, s, started, log_now() - t0, err)) < 0 ||
	    (rc = commit(ctx->ws, s->def->name, ctx->out_dir, err)) < 0)
		return rc;
	remember_outputs(ctx->ws, s->def->name);
	clear_failure(ctx->ws, s->def->name);
	return 0;
}

/* Runs one stage and commits it; s->fingerprint is updated when the data
 * identity became known while running. */
static int run_one(const engine_opts *o, stage_status *s, pl_err *err)
{
	char started[SYS_TIME_MAX];
	double t0 = log_now();
	stage_ctx ctx;
	int rc;

	if ((rc = ctx_init(&ctx, s->def, o->ws, o->cfg, err)) < 0)
		return rc;
	ctx.stop = o->stop;
	ctx.part = o->part;
	ctx.up = s->up;
	memcpy(ctx.fingerprint, s->fingerprint, sizeof(ctx.fingerprint));
	ctx.metrics = json_object();
	ctx.info = json_object();
	sys_iso_now(started, sizeof(started), 0);
	log_set_stage(s->def->name);
	if (ctx.part)
		log_info("running part %s", ctx.part);
	else
		log_info("running (%s)", s->reason);
	rc = ctx.part ? 0 : prepare_tmp(&ctx, s->fingerprint, err);
	if (rc == 0 && (rc = s->def->run(&ctx, err)) == 0)
		rc = finish_one(&ctx, s, started, t0, err);
	if (rc == 0) {
		s->state = ST_RAN;
		log_info("done in %.1f s", log_now() - t0);
	} else {
		if (!ctx.part)
			record_failure(o->ws, s->def->name, s->fingerprint, err);
		s->state = ST_FAILED;
		pl_errprefix(err, "%s: ", s->def->name);
		snprintf(s->reason, sizeof(s->reason), "failed: %s", err->msg);
	}
	log_set_stage(NULL);
	json_decref(ctx.metrics);
	json_decref(ctx.info);
	return rc;
}

int engine_follow(const stage_def *def, const engine_opts *o, pl_err *err)
{
	stage_ctx ctx;
	int rc;

	if ((rc = ctx_init(&ctx, def, o->ws, o->cfg, err)) < 0)
		return rc;
	ctx.stop = o->stop;
	ctx.metrics = json_object();
	ctx.info = json_object();
	log_set_stage(def->name);
	rc = def->run(&ctx, err);
	if (rc < 0)
		pl_errprefix(err, "%s: ", def->name);
	log_set_stage(NULL);
	json_decref(ctx.metrics);
	json_decref(ctx.info);
	return rc;
}

static void log_decision(const stage_status *s, int dry_run)
{
	const char *finished = json_string_value(json_object_get(s->record, "finished"));
	double secs = json_real_value(json_object_get(s->record, "elapsed_s"));

	log_set_stage(s->def->name);
	if (s->state == ST_CACHED)
		log_info("cached (finished %s, took %.1f s)", finished ? finished : "?", secs);
	else if (dry_run)
		log_info("would run (%s)", s->reason);
	log_set_stage(NULL);
}

/* engine_run's plan: the stages [from, until] run unless cached, force
 * (-1: all, when o->force is set) runs even then. */
typedef struct run_plan {
	const engine_opts *o;
	int from, until, force;
} run_plan;

static int run_visit(void *arg, int i, stage_status *s, pl_err *err)
{
	const run_plan *p = arg;
	const engine_opts *o = p->o;
	int rc;

	if (i < p->from && s->state != ST_CACHED)
		return pl_errorf(err, PL_EUSAGE, "%s cannot start: %s has no current result (%s); "
				 "run it first", o->from, s->def->name, s->reason);
	if (i > p->until)
		s->state = ST_SKIPPED;
	if (i >= p->from && i <= p->until) {
		if (o->force && (p->force < 0 || p->force == i) && s->state == ST_CACHED) {
			s->state = ST_STALE;
			snprintf(s->reason, sizeof(s->reason), "forced");
		}
		log_decision(s, o->dry_run);
		if (s->state != ST_CACHED && !o->dry_run && (rc = run_one(o, s, err)) < 0)
			return rc;
	}
	if (o->stop && *o->stop && i < p->until)
		return pl_errorf(err, PL_EINTR, "interrupted");
	return 0;
}

int engine_run(const stage_def *defs, int n, const engine_opts *o, stage_status *st,
	       pl_err *err)
{
	int all = o->force && !strcmp(o->force, "all");
	run_plan p = {
		.o = o,
		.from = o->from ? engine_find(defs, n, o->from) : 0,
		.until = o->until ? engine_find(defs, n, o->until) : n - 1,
		.force = o->force && !all ? engine_find(defs, n, o->force) : -1,
	};

	memset(st, 0, sizeof(*st) * (size_t)n);
	if (p.from < 0 || p.until < 0 || (o->force && !all && p.force < 0))
		return pl_errorf(err, PL_EUSAGE, "unknown stage '%s'",
				 p.from < 0 ? o->from : p.until < 0 ? o->until : o->force);
	return walk(defs, n, o->ws, o->cfg, 0, st, run_visit, &p, err);
}

/* ---- lock and clean ---- */

/* Opens WS/.lock without following a link, and only when it is a regular
 * file with no other name (not a hard link to a file elsewhere): the pid
 * written into it then overwrites nothing but an older pid. */
static int open_lock(const char *path, int *fd, pl_err *err)
{
	struct stat st;

	*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (*fd < 0 && errno == ELOOP)
		return pl_errorf(err, PL_EUSAGE, "lock file '%s' is a symbolic link: the "
				 "workspace writes nothing through links (remove it)", path);
	if (*fd < 0)
		return pl_errorf(err, PL_EIO, "cannot open lock file '%s': %s", path, strerror(errno));
	if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(*fd);
		*fd = -1;
		return pl_errorf(err, PL_EUSAGE, "lock file '%s' is not a file of the workspace "
				 "(not a regular file, or linked from elsewhere): "
				 "remove it", path);
	}
	return 0;
}

int engine_lock(const char *ws, int *fd, pl_err *err)
{
	char path[PATH_MAX], pid[32] = "";
	int rc;

	if ((rc = fs_mkdirs(ws, err)) < 0 ||
	    (rc = fs_path(path, sizeof(path), err, "%s/.lock", ws)) < 0 ||
	    (rc = open_lock(path, fd, err)) < 0)
		return rc;
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		holder_pid(*fd, pid, sizeof(pid));
		close(*fd);
		*fd = -1;
		if (e != EWOULDBLOCK)
			return pl_errorf(err, PL_EIO, "cannot lock '%s': %s", path, strerror(e));
		return pl_errorf(err, PL_ELOCK, "workspace '%s' is in use by another pipeline "
				 "(pid %s); wait for it to finish", ws, pid);
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(*fd, 0) != 0 || pwrite(*fd, pid, strlen(pid), 0) < 0) {
		rc = pl_errorf(err, PL_EIO, "cannot write lock file '%s': %s", path, strerror(errno));
	} else if ((rc = wsguard_check(ws, err)) == 0)
		return 0;
	engine_unlock(*fd);
	*fd = -1;
	return rc;
}

int engine_lock_wait(const char *ws, int *fd, const volatile sig_atomic_t *stop, pl_err *err)
{
	struct timespec pause = { 0, 200 * 1000000L };
	int rc;

	for (int said = 0; (rc = engine_lock(ws, fd, err)) == -PL_ELOCK; said = 1) {
		if (!said)   /* the message up to its advice, which this follows */
			log_info("%.*s; waiting for it", (int)strcspn(err->msg, ";"), err->msg);
		if (stop && *stop)
			return pl_errorf(err, PL_EINTR, "interrupted while waiting for workspace '%s'", ws);
		nanosleep(&pause, NULL);
	}
	return rc;
}

void engine_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int engine_clean(const char *ws, const char *name, pl_err *err)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = fs_path(path, sizeof(path), err, "%s/%s", ws, name)) < 0 ||
	    (rc = fs_rmtree(path, err)) < 0 ||
	    (rc = fs_path(path, sizeof(path), err, "%s/.tmp/%s", ws, name)) < 0 ||
	    (rc = fs_rmtree(path, err)) < 0)
		return rc;
	clear_failure(ws, name);
	return 0;
}
