/* The fleet protocol on Redis: connection with reconnect and backoff, and
 * the Lua scripts that move jobs between states atomically.
 *
 * Keys under PREFIX (every script gets it as ARGV[1]):
 *   PREFIX:stream            the job stream, read by the group "workers";
 *                            an entry is {job ID}, pending until acknowledged
 *   PREFIX:dead              the dead-letter stream
 *   PREFIX:job:ID            the job record (hash): status, spec, worker ...
 *   PREFIX:jobs              every job id (set)
 *   PREFIX:subs              every submission id (set)
 *   PREFIX:sub:S             a submission (hash: kind, what, created)
 *   PREFIX:subjobs:S         its jobs (sorted set, scored by layer)
 *   PREFIX:delayed           jobs waiting for a transient retry (sorted set
 *                            by due time, ms)
 *   PREFIX:workers           live workers (hash: name -> JSON)
 * A job's "next" field lists the jobs that wait for it, "deps" counts the
 * prerequisites not yet done. */
#include "queue.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../io/log.h"

#define CONNECT_TIMEOUT_S 2.0
#define COMMAND_TIMEOUT_S 15.0     /* longer than any BLOCK the worker uses */
#define RECONNECT_FIRST_S 0.1
#define MAX_WORDS 32

/* Shared by every script: names, acknowledgement, and walking "next". */
static const char lua_lib[] =
	"local P = ARGV[1]\n"
	"local S = P .. ':stream'\n"
	"local G = 'workers'\n"
	"local function jk(id) return P .. ':job:' .. id end\n"
	"local function owner(sid)\n"
	"  local p = redis.call('XPENDING', S, G, sid, sid, 1)\n"
	"  if #p == 0 then return nil end\n"
	"  return p[1][2]\n"
	"end\n"
	"local function ack(sid)\n"
	"  if sid ~= '' then redis.call('XACK', S, G, sid); redis.call('XDEL', S, sid) end\n"
	"end\n"
	"local function enqueue(id) redis.call('XADD', S, '*', 'job', id) end\n"
	/* with from 'queued' to 'cancelled' (why given), or back (why nil) */
	"local function walk_down(id, from, to, why, now, ttl)\n"
	"  local todo = {id}\n"
	"  while #todo > 0 do\n"
	"    local nx = redis.call('HGET', jk(table.remove(todo)), 'next') or ''\n"
	"    for d in string.gmatch(nx, '%S+') do\n"
	"      local k = jk(d)\n"
	"      local st = redis.call('HGET', k, 'status')\n"
	"      local r = redis.call('HGET', k, 'reason') or ''\n"
	"      if st == from and (why or string.sub(r, 1, 12) == 'prerequisite') then\n"
	"        redis.call('HSET', k, 'status', to, 'reason', why or '', 'finished', why and now or '')\n"
	"        if why then redis.call('EXPIRE', k, ttl) else redis.call('PERSIST', k) end\n"
	"        table.insert(todo, d)\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"end\n";

/* SUBMIT id sub kind layer layer_name label spec now ttl prereqs what:
 * {"new"|"exists", status}. The job waits for its prerequisites that are
 * not done; one that failed cancels it at once. */
static const char lua_submit[] =
	"local id, sub = ARGV[2], ARGV[3]\n"
	"local k = jk(id)\n"
	"redis.call('SADD', P .. ':subs', sub)\n"
	"if redis.call('EXISTS', P .. ':sub:' .. sub) == 0 then\n"
	"  redis.call('HSET', P .. ':sub:' .. sub, 'kind', ARGV[4], 'what', ARGV[12], 'created', ARGV[9])\n"
	"end\n"
	"redis.call('ZADD', P .. ':subjobs:' .. sub, ARGV[5], id)\n"
	"local st = redis.call('HGET', k, 'status')\n"
	"if st then return {'exists', st} end\n"
	"local deps, bad = 0, nil\n"
	"for p in string.gmatch(ARGV[11], '%S+') do\n"
	"  local ps = redis.call('HGET', jk(p), 'status')\n"
	"  if ps ~= 'done' then\n"
	"    deps = deps + 1\n"
	"    redis.call('HSET', jk(p), 'next', (redis.call('HGET', jk(p), 'next') or '') .. ' ' .. id)\n"
	"    if ps ~= 'queued' and ps ~= 'running' then bad = p .. ' is ' .. (ps or 'gone') end\n"
	"  end\n"
	"end\n"
	"redis.call('HSET', k, 'id', id, 'kind', ARGV[4], 'submission', sub, 'layer', ARGV[5],\n"
	"  'layer_name', ARGV[6], 'label', ARGV[7], 'spec', ARGV[8], 'created', ARGV[9],\n"
	"  'deps', deps, 'attempts', 0, 'status', 'queued')\n"
	"redis.call('SADD', P .. ':jobs', id)\n"
	"if bad then\n"
	"  redis.call('HSET', k, 'status', 'cancelled', 'reason', 'prerequisite ' .. bad, 'finished', ARGV[9])\n"
	"  return {'new', 'cancelled'}\n"
	"end\n"
	"if deps == 0 then enqueue(id) end\n"
	"return {'new', 'queued'}\n";

/* START id sid worker deliveries max_deliveries now ttl: "run", "skip"
 * (finished, cancelled or gone: acknowledged) or "dead". */
static const char lua_start[] =
	"local id, sid, now = ARGV[2], ARGV[3], ARGV[7]\n"
	"local k = jk(id)\n"
	"local st = redis.call('HGET', k, 'status')\n"
	"if st ~= 'queued' and st ~= 'running' then ack(sid); return 'skip' end\n"
	"local n, max = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
	"if n > max then\n"
	"  redis.call('HSET', k, 'status', 'dead', 'finished', now, 'code', 9, 'reason',\n"
	"    'delivered ' .. (n - 1) .. ' times and never finished: the worker died each time (max_deliveries ' .. max .. ')')\n"
	"  redis.call('XADD', P .. ':dead', '*', 'job', id, 'deliveries', n - 1)\n"
	"  ack(sid)\n"
	"  redis.call('EXPIRE', k, ARGV[8])\n"
	"  walk_down(id, 'queued', 'cancelled', 'prerequisite ' .. id .. ' is dead', now, ARGV[8])\n"
	"  return 'dead'\n"
	"end\n"
	"redis.call('HSET', k, 'status', 'running', 'worker', ARGV[4], 'started', now,\n"
	"  'heartbeat', now, 'sid', sid, 'deliveries', n)\n"
	"redis.call('HINCRBY', k, 'attempts', 1)\n"
	"return 'run'\n";

/* HEARTBEAT id sid worker now progress: renews the lease of the running
 * job: "ok", "lost" (another worker has it) or "cancelled". */
static const char lua_heartbeat[] =
	"local id, sid, w = ARGV[2], ARGV[3], ARGV[4]\n"
	"if owner(sid) ~= w then return 'lost' end\n"
	"if redis.call('HGET', jk(id), 'status') == 'cancelled' then return 'cancelled' end\n"
	"redis.call('XCLAIM', S, G, w, 0, sid, 'JUSTID')\n"
	"redis.call('HSET', jk(id), 'heartbeat', ARGV[5], 'progress', ARGV[6])\n"
	"return 'ok'\n";

/* FINISH id sid worker outcome now elapsed output reason metrics code ttl
 * retry_at_ms max_attempts result: outcome done, failed, retry (transient)
 * or handback. Returns the status the job ends in, or "lost" when the
 * lease went to another worker (nothing is changed then). */
static const char lua_finish[] =
	"local id, sid, w, outcome, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]\n"
	"local k, ttl = jk(id), ARGV[12]\n"
	"if sid ~= '' and owner(sid) ~= w then return 'lost' end\n"
	"ack(sid)\n"
	"local st = redis.call('HGET', k, 'status')\n"
	"if st ~= 'running' then return st or 'gone' end\n"
	"local attempts = tonumber(redis.call('HGET', k, 'attempts') or '0')\n"
	"local reason = ARGV[9]\n"
	"if outcome == 'retry' and attempts >= tonumber(ARGV[14]) then\n"
	"  outcome = 'failed'\n"
	"  reason = 'gave up after ' .. attempts .. ' attempts: ' .. reason\n"
	"end\n"
	"if outcome == 'handback' then\n"
	"  redis.call('HSET', k, 'status', 'queued', 'worker', '', 'progress', 'handed back')\n"
	"  redis.call('HINCRBY', k, 'attempts', -1)\n"
	"  enqueue(id)\n"
	"  return 'queued'\n"
	"end\n"
	"if outcome == 'retry' then\n"
	"  redis.call('HSET', k, 'status', 'queued', 'worker', '', 'reason', reason, 'retry_at', ARGV[13])\n"
	"  redis.call('ZADD', P .. ':delayed', ARGV[13], id)\n"
	"  return 'queued'\n"
	"end\n"
	"redis.call('HSET', k, 'status', outcome, 'finished', now, 'elapsed', ARGV[7], 'output', ARGV[8],\n"
	"  'reason', reason, 'metrics', ARGV[10], 'code', ARGV[11], 'result', ARGV[15], 'progress', '')\n"
	"redis.call('EXPIRE', k, ttl)\n"
	"if outcome == 'done' then\n"
	"  for d in string.gmatch(redis.call('HGET', k, 'next') or '', '%S+') do\n"
	"    local left = redis.call('HINCRBY', jk(d), 'deps', -1)\n"
	"    if left <= 0 and redis.call('HGET', jk(d), 'status') == 'queued' then enqueue(d) end\n"
	"  end\n"
	"else\n"
	"  walk_down(id, 'queued', 'cancelled', 'prerequisite ' .. id .. ' failed', now, ttl)\n"
	"end\n"
	"return outcome\n";

/* PROMOTE now_ms: moves due transient retries onto the stream. */
static const char lua_promote[] =
	"local due = redis.call('ZRANGEBYSCORE', P .. ':delayed', '-inf', ARGV[2], 'LIMIT', 0, 64)\n"
	"for _, id in ipairs(due) do\n"
	"  redis.call('ZREM', P .. ':delayed', id)\n"
	"  if redis.call('HGET', jk(id), 'status') == 'queued' then enqueue(id) end\n"
	"end\n"
	"return #due\n";

/* CANCEL id now ttl: the status it had ("" when none). */
static const char lua_cancel[] =
	"local id, now, ttl = ARGV[2], ARGV[3], ARGV[4]\n"
	"local k = jk(id)\n"
	"local st = redis.call('HGET', k, 'status') or ''\n"
	"if st == 'queued' or st == 'running' then\n"
	"  redis.call('HSET', k, 'status', 'cancelled', 'reason', 'cancelled', 'finished', now)\n"
	"  redis.call('ZREM', P .. ':delayed', id)\n"
	"  redis.call('EXPIRE', k, ttl)\n"
	"  walk_down(id, 'queued', 'cancelled', 'prerequisite ' .. id .. ' was cancelled', now, ttl)\n"
	"end\n"
	"return st\n";

/* REQUEUE id: a failed, dead or cancelled job (and the jobs it cancelled)
 * back to queued; the status it had ("" when none). */
static const char lua_requeue[] =
	"local id = ARGV[2]\n"
	"local k = jk(id)\n"
	"local st = redis.call('HGET', k, 'status') or ''\n"
	"if st == 'failed' or st == 'dead' or st == 'cancelled' then\n"
	"  redis.call('HSET', k, 'status', 'queued', 'attempts', 0, 'reason', '', 'worker', '',\n"
	"    'finished', '', 'code', '', 'result', '')\n"
	"  redis.call('PERSIST', k)\n"
	"  walk_down(id, 'cancelled', 'queued', nil, '', 0)\n"
	"  if tonumber(redis.call('HGET', k, 'deps') or '0') <= 0 then enqueue(id) end\n"
	"end\n"
	"return st\n";

static const char *const scripts[] = {
	[QS_SUBMIT] = lua_submit, [QS_START] = lua_start, [QS_HEARTBEAT] = lua_heartbeat,
	[QS_FINISH] = lua_finish, [QS_PROMOTE] = lua_promote, [QS_CANCEL] = lua_cancel,
	[QS_REQUEUE] = lua_requeue,
};

int fleet_url_parse(const char *text, fleet_url *u, pl_err *err)
{
	const char *p = text, *end;
	char *num_end;
	size_t hlen;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (!strncmp(text, "rediss://", 9))
		return pl_errorf(err, PL_EUSAGE, "queue '%s': rediss:// (TLS) is not supported by "
				 "this build's hiredis; use redis:// on a trusted network or a TLS tunnel", text);
	if (strncmp(text, "redis://", 8))
		return pl_errorf(err, PL_EUSAGE, "queue '%s' is not a redis://HOST[:PORT][/DB] URL", text);
	p += 8;
	if (strchr(p, '@'))
		return pl_errorf(err, PL_EUSAGE, "queue URL: credentials in the URL (user:password@) "
				 "are not supported");
	hlen = strcspn(p, ":/");
	if (hlen == 0 || hlen >= sizeof(u->host))
		return pl_errorf(err, PL_EUSAGE, "queue '%s' names no host", text);
	memcpy(u->host, p, hlen);
	end = p + hlen;
	if (*end == ':') {
		long port = strtol(end + 1, &num_end, 10);
		if (num_end == end + 1 || port < 1 || port > 65535 || (*num_end && *num_end != '/'))
			return pl_errorf(err, PL_EUSAGE, "queue '%s': bad port", text);
		u->port = (int)port;
		end = num_end;
	}
	if (*end == '/' && end[1]) {
		long db = strtol(end + 1, &num_end, 10);
		if (num_end == end + 1 || *num_end || db < 0 || db > 1000)
			return pl_errorf(err, PL_EUSAGE, "queue '%s': bad database number", text);
		u->db = (int)db;
	} else if (*end && strcmp(end, "/")) {
		return pl_errorf(err, PL_EUSAGE, "queue '%s' is not a redis://HOST[:PORT][/DB] URL", text);
	}
	return 0;
}

void queue_now(char out[32])
{
	snprintf(out, 32, "%.3f", queue_time());
}

double queue_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct timeval tv_of(double s)
{
	return (struct timeval){ (time_t)s, (suseconds_t)((s - floor(s)) * 1e6) };
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* One connection attempt, with SELECT of the database. */
static int connect_once(queue *q, pl_err *err)
{
	redisReply *r;

	if (q->rc)
		redisFree(q->rc);
	q->rc = redisConnectWithTimeout(q->url.host, q->url.port, tv_of(CONNECT_TIMEOUT_S));
	if (!q->rc || q->rc->err)
		return pl_errorf(err, PL_ETEMP, "cannot connect to redis at %s:%d: %s", q->url.host,
				 q->url.port, q->rc ? q->rc->errstr : "out of memory");
	redisSetTimeout(q->rc, tv_of(q->timeout_s));
	if (q->url.db == 0)
		return 0;
	r = redisCommand(q->rc, "SELECT %d", q->url.db);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		int rc = pl_errorf(err, PL_EUSAGE, "redis at %s:%d: cannot select database %d: %s",
				   q->url.host, q->url.port, q->url.db, r ? r->str : q->rc->errstr);
		freeReplyObject(r);
		return rc;
	}
	freeReplyObject(r);
	return 0;
}

/* Reconnects with backoff (doubling, at most reconnect_max_s) until it
 * works or *stop; logs the loss once and the recovery. */
static int reconnect(queue *q, const char *why, pl_err *err)
{
	double wait = RECONNECT_FIRST_S;
	int rc;

	log_warn("lost the connection to redis at %s:%d (%s); reconnecting", q->url.host, q->url.port,
		 why);
	while ((rc = connect_once(q, err)) == -PL_ETEMP) {
		if (q->stop && *q->stop)
			return pl_errorf(err, PL_EINTR, "interrupted while reconnecting to redis");
		log_debug("%s; next attempt in %.1f s", err->msg, wait);
		sleep_s(wait);
		wait = fmin(wait * 2, q->reconnect_max_s);
	}
	if (rc == 0)
		log_info("reconnected to redis at %s:%d", q->url.host, q->url.port);
	return rc;
}

int queue_open(queue *q, const fleet_url *u, const fleet_limits *l, int retry,
	       const volatile sig_atomic_t *stop, pl_err *err)
{
	int rc;

	memset(q, 0, sizeof(*q));
	q->url = *u;
	snprintf(q->prefix, sizeof(q->prefix), "%s", l->prefix);
	q->reconnect_max_s = l->reconnect_max_s > 0 ? l->reconnect_max_s : 10;
	q->timeout_s = COMMAND_TIMEOUT_S;
	q->retry = retry;
	q->stop = stop;
	rc = connect_once(q, err);
	if (rc == -PL_ETEMP && retry)
		rc = reconnect(q, err->msg, err);
	return rc;
}

void queue_close(queue *q)
{
	if (q->rc)
		redisFree(q->rc);
	q->rc = NULL;
}

/* A reply that says Redis is up but not ready yet (loading its AOF after
 * a restart): worth the same backoff as a lost connection. */
static int not_ready(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "LOADING", 7);
}

int queue_cmd(queue *q, int argc, const char **argv, redisReply **out, pl_err *err)
{
	double wait = RECONNECT_FIRST_S;
	redisReply *r = NULL;
	int rc;

	*out = NULL;
	for (;;) {
		if (q->rc && !q->rc->err)
			r = redisCommandArgv(q->rc, argc, argv, NULL);
		if (r && !not_ready(r))
			break;
		if (!q->retry || (q->stop && *q->stop)) {
			rc = pl_errorf(err, PL_ETEMP, "redis at %s:%d: %s", q->url.host, q->url.port,
				       r ? r->str : q->rc ? q->rc->errstr : "not connected");
			freeReplyObject(r);
			return rc;
		}
		if (r) {
			freeReplyObject(r);
			r = NULL;
			sleep_s(wait);
			wait = fmin(wait * 2, q->reconnect_max_s);
		} else if ((rc = reconnect(q, q->rc ? q->rc->errstr : "not connected", err)) < 0) {
			return rc;
		}
	}
	if (r->type == REDIS_REPLY_ERROR) {
		rc = pl_errorf(err, PL_EIO, "redis %s: %s", argv[0], r->str);
		freeReplyObject(r);
		return rc;
	}
	*out = r;
	return 0;
}

int queue_cmdl(queue *q, redisReply **out, pl_err *err, ...)
{
	const char *words[MAX_WORDS];
	int n = 0;
	va_list ap;

	va_start(ap, err);
	for (const char *w; n < MAX_WORDS && (w = va_arg(ap, const char *)); )
		words[n++] = w;
	va_end(ap);
	return queue_cmd(q, n, words, out, err);
}

int queue_eval(queue *q, queue_script s, int n, const char **args, redisReply **out,
	       pl_err *err)
{
	static char *bodies[sizeof(scripts) / sizeof(scripts[0])];
	const char *words[MAX_WORDS];

	if (n + 4 > MAX_WORDS)
		return pl_errorf(err, PL_EFAIL, "too many script arguments");
	if (!bodies[s] && asprintf(&bodies[s], "%s%s", lua_lib, scripts[s]) < 0)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	words[0] = "EVAL";
	words[1] = bodies[s];
	words[2] = "0";
	words[3] = q->prefix;
	for (int i = 0; i < n; i++)
		words[4 + i] = args[i];
	return queue_cmd(q, n + 4, words, out, err);
}

void queue_key(const queue *q, char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s:%s", q->prefix, name);
}

int queue_ensure_group(queue *q, pl_err *err)
{
	char stream[192];
	redisReply *r;
	int rc;

	queue_key(q, stream, sizeof(stream), "stream");
	rc = queue_cmdl(q, &r, err, "XGROUP", "CREATE", stream, QUEUE_GROUP, "0", "MKSTREAM", QEND);
	if (rc == -PL_EIO && strstr(err->msg, "BUSYGROUP"))
		return 0;
	freeReplyObject(r);
	return rc;
}

const char *queue_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str : "";
}
