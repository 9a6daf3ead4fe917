/* Looking at and steering the queue: status per submission and layer, the
 * live workers, job records, requeue, cancel and flush. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_priv.h"

static const char *const int_fields[] = { "layer", "attempts", "deps", "code", "deliveries", NULL };
static const char *const real_fields[] = { "created", "started", "finished", "heartbeat", "elapsed",
					   "retry_at", NULL };
static const char *const json_fields[] = { "spec", "metrics", NULL };
static const char *const states[] = { "queued", "running", "done", "failed", "dead", "cancelled",
				      NULL };

static int in_list(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (!strcmp(*list, name))
			return 1;
	return 0;
}

json_t *fleet_record(const redisReply *r)
{
	json_t *rec = json_object();

	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		const char *k = queue_str(r->element[i]), *v = queue_str(r->element[i + 1]);
		json_t *val = NULL;
		if (in_list(int_fields, k))
			val = *v ? json_integer(atoll(v)) : json_null();
		else if (in_list(real_fields, k))
			val = *v ? json_real(atof(v)) : json_null();
		else if (in_list(json_fields, k))
			val = *v ? json_loads(v, 0, NULL) : NULL;
		if (!val)
			val = json_string(v);
		json_object_set_new(rec, k, val);
	}
	return rec;
}

int fleet_sub_jobs(fleet_conn *f, const char *sub, json_t **out, pl_err *err)
{
	char key[256];
	redisReply *r;
	int rc;

	snprintf(key, sizeof(key), "%s:subjobs:%s", f->q.prefix, sub);
	if ((rc = queue_cmdl(&f->q, &r, err, "ZRANGE", key, "0", "-1", QEND)) < 0)
		return rc;
	*out = json_array();
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		json_array_append_new(*out, json_string(queue_str(r->element[i])));
	freeReplyObject(r);
	return 0;
}

/* Every member of set PREFIX:name as an array of strings. */
static int members(fleet_conn *f, const char *name, json_t **out, pl_err *err)
{
	char key[256];
	redisReply *r;
	int rc;

	queue_key(&f->q, key, sizeof(key), name);
	if ((rc = queue_cmdl(&f->q, &r, err, "SMEMBERS", key, QEND)) < 0)
		return rc;
	*out = json_array();
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		json_array_append_new(*out, json_string(queue_str(r->element[i])));
	freeReplyObject(r);
	return 0;
}

/* The records of the job ids (pipelined HGETALLs); missing (expired)
 * jobs are left out. */
static int records(fleet_conn *f, const json_t *ids, json_t **out, pl_err *err)
{
	redisContext *c = f->q.rc;
	size_t i;
	json_t *id;

	json_array_foreach(ids, i, id) {
		char key[256];
		snprintf(key, sizeof(key), "%s:job:%s", f->q.prefix, json_string_value(id));
		if (redisAppendCommand(c, "HGETALL %s", key) != REDIS_OK)
			return pl_errorf(err, PL_ETEMP, "redis: %s", c->errstr);
	}
	*out = json_array();
	for (i = 0; i < json_array_size(ids); i++) {
		redisReply *r = NULL;
		if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
			json_decref(*out);
			*out = NULL;
			return pl_errorf(err, PL_ETEMP, "redis: %s", c->errstr);
		}
		if (r->type == REDIS_REPLY_ARRAY && r->elements > 0)
			json_array_append_new(*out, fleet_record(r));
		freeReplyObject(r);
	}
	return 0;
}

static int by_layer(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *sx = json_string_value(json_object_get(x, "submission"));
	const char *sy = json_string_value(json_object_get(y, "submission"));
	int d = strcmp(sx ? sx : "", sy ? sy : "");

	if (d)
		return d;
	d = (int)(json_integer_value(json_object_get(x, "layer")) -
		  json_integer_value(json_object_get(y, "layer")));
	return d ? d : strcmp(json_string_value(json_object_get(x, "label")),
			      json_string_value(json_object_get(y, "label")));
}

/* Sorts the array of records in place. */
static void sort_records(json_t *list)
{
	size_t n = json_array_size(list);
	json_t **v = malloc((n + 1) * sizeof(*v));

	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(list, i));
	qsort(v, n, sizeof(*v), by_layer);
	json_array_clear(list);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, v[i]);
	free(v);
}

int fleet_list(fleet_conn *f, const char *state, const char *sub, json_t **out, pl_err *err)
{
	json_t *ids = NULL, *all = NULL, *rec;
	size_t i;
	int rc = sub ? fleet_sub_jobs(f, sub, &ids, err) : members(f, "jobs", &ids, err);

	if (rc == 0)
		rc = records(f, ids, &all, err);
	json_decref(ids);
	if (rc < 0)
		return rc;
	*out = json_array();
	json_array_foreach(all, i, rec) {
		const char *st = json_string_value(json_object_get(rec, "status"));
		if (state && strcmp(st ? st : "", state))
			continue;
		json_object_del(rec, "spec");
		json_object_del(rec, "result");
		json_object_del(rec, "next");
		json_array_append(*out, rec);
	}
	json_decref(all);
	sort_records(*out);
	return 0;
}

int fleet_show(fleet_conn *f, const char *id, json_t **out, pl_err *err)
{
	char key[256];
	redisReply *r;
	int rc;

	snprintf(key, sizeof(key), "%s:job:%s", f->q.prefix, id);
	if ((rc = queue_cmdl(&f->q, &r, err, "HGETALL", key, QEND)) < 0)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
		freeReplyObject(r);
		return pl_errorf(err, PL_EUSAGE, "no job '%s' (it may have expired: [queue] result_ttl)", id);
	}
	*out = fleet_record(r);
	freeReplyObject(r);
	return 0;
}

/* Adds rec's status to the counts of its layer in layers (array). */
static void count_job(json_t *layers, const json_t *rec)
{
	int layer = (int)json_integer_value(json_object_get(rec, "layer"));
	const char *name = json_string_value(json_object_get(rec, "layer_name"));
	const char *st = json_string_value(json_object_get(rec, "status"));
	json_t *l = NULL, *v;
	size_t i;

	json_array_foreach(layers, i, v)
		if (json_integer_value(json_object_get(v, "layer")) == layer)
			l = v;
	if (!l) {
		l = json_pack("{s:i,s:s,s:i}", "layer", layer, "name", name ? name : "", "total", 0);
		for (int s = 0; states[s]; s++)
			json_object_set_new(l, states[s], json_integer(0));
		json_array_append_new(layers, l);
	}
	json_object_set_new(l, "total", json_integer(json_integer_value(json_object_get(l, "total")) + 1));
	if (st && json_object_get(l, st))
		json_object_set_new(l, st, json_integer(json_integer_value(json_object_get(l, st)) + 1));
}

static int submission(fleet_conn *f, const char *sub, json_t **out, pl_err *err)
{
	char key[256];
	redisReply *r = NULL;
	json_t *ids = NULL, *recs = NULL, *layers = json_array(), *rec, *meta;
	size_t i;
	int rc;

	snprintf(key, sizeof(key), "%s:sub:%s", f->q.prefix, sub);
	if ((rc = queue_cmdl(&f->q, &r, err, "HGETALL", key, QEND)) == 0 &&
	    (rc = fleet_sub_jobs(f, sub, &ids, err)) == 0)
		rc = records(f, ids, &recs, err);
	meta = fleet_record(r);
	freeReplyObject(r);
	for (i = 0; (rec = json_array_get(recs, i)); i++)
		count_job(layers, rec);
	json_object_set_new(meta, "id", json_string(sub));
	json_object_set_new(meta, "layers", layers);
	json_decref(ids);
	json_decref(recs);
	if (rc < 0)
		json_decref(meta);
	else
		*out = meta;
	return rc;
}

/* The workers whose heartbeat is younger than a lease. An older entry is a
 * worker that died without a goodbye: it is removed (a live worker that
 * was only slow announces itself again at its next heartbeat). */
static int live_workers(fleet_conn *f, json_t **out, pl_err *err)
{
	char key[256];
	redisReply *r, *del;
	int rc;

	queue_key(&f->q, key, sizeof(key), "workers");
	if ((rc = queue_cmdl(&f->q, &r, err, "HGETALL", key, QEND)) < 0)
		return rc;
	*out = json_array();
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		const char *name = queue_str(r->element[i]);
		json_t *v = json_loads(queue_str(r->element[i + 1]), 0, NULL);
		double age = queue_time() - json_number_value(json_object_get(v, "heartbeat"));
		if (v && age <= f->limits.lease_s) {
			json_object_set_new(v, "name", json_string(name));
			json_object_set_new(v, "heartbeat_age_s", json_real(age));
			json_array_append(*out, v);
		} else if (queue_cmdl(&f->q, &del, err, "HDEL", key, name, QEND) == 0) {
			freeReplyObject(del);
		}
		json_decref(v);
	}
	freeReplyObject(r);
	return 0;
}

static int by_created(const void *a, const void *b)
{
	double x = json_number_value(json_object_get(*(json_t *const *)a, "created"));
	double y = json_number_value(json_object_get(*(json_t *const *)b, "created"));

	return x < y ? -1 : x > y;
}

int fleet_status(fleet_conn *f, json_t **out, pl_err *err)
{
	json_t *subs = NULL, *list = json_array(), *workers = NULL, *s;
	json_t **v = NULL;
	size_t i, n = 0;
	int rc = members(f, "subs", &subs, err);

	if (rc == 0 && !(v = calloc(json_array_size(subs) + 1, sizeof(*v))))
		rc = pl_errorf(err, PL_ENOMEM, "out of memory");
	json_array_foreach(subs, i, s)
		if (rc == 0 && (rc = submission(f, json_string_value(s), &v[n], err)) == 0)
			n++;
	qsort(v, n, sizeof(*v), by_created);
	for (i = 0; i < n; i++)
		json_array_append_new(list, v[i]);
	free(v);
	json_decref(subs);
	if (rc == 0)
		rc = live_workers(f, &workers, err);
	if (rc < 0) {
		json_decref(list);
		return rc;
	}
	*out = json_pack("{s:o,s:o}", "submissions", list, "workers", workers);
	return 0;
}

int fleet_requeue(fleet_conn *f, const char *id, const char *state, int *n, pl_err *err)
{
	json_t *list = NULL, *rec;
	size_t i;
	int rc;

	*n = 0;
	if (id) {
		redisReply *r;
		const char *args[1] = { id };
		if ((rc = queue_eval(&f->q, QS_REQUEUE, 1, args, &r, err)) < 0)
			return rc;
		const char *was = queue_str(r);
		if (!*was)
			rc = pl_errorf(err, PL_EUSAGE, "no job '%s'", id);
		else if (strcmp(was, "failed") && strcmp(was, "dead") && strcmp(was, "cancelled"))
			rc = pl_errorf(err, PL_EUSAGE, "job %s is %s: only failed, dead or cancelled "
				       "jobs are requeued", id, was);
		else
			*n = 1;
		freeReplyObject(r);
		return rc;
	}
	if ((rc = fleet_list(f, state, NULL, &list, err)) < 0)
		return rc;
	json_array_foreach(list, i, rec) {
		int one = 0;
		if ((rc = fleet_requeue(f, json_string_value(json_object_get(rec, "id")), NULL, &one, err)) < 0)
			break;
		*n += one;
	}
	json_decref(list);
	return rc;
}

int fleet_cancel(fleet_conn *f, const char *id, const char *sub, int *n, pl_err *err)
{
	char now[32], ttl[32];
	json_t *ids = NULL, *v;
	size_t i;
	int rc = 0;

	*n = 0;
	queue_now(now);
	snprintf(ttl, sizeof(ttl), "%ld", f->limits.result_ttl_s);
	if (sub) {
		if ((rc = fleet_sub_jobs(f, sub, &ids, err)) == 0 && json_array_size(ids) == 0)
			rc = pl_errorf(err, PL_EUSAGE, "no submission '%s'", sub);
	} else {
		ids = json_pack("[s]", id);
	}
	json_array_foreach(ids, i, v) {
		const char *args[3] = { json_string_value(v), now, ttl };
		redisReply *r;
		if (rc < 0 || (rc = queue_eval(&f->q, QS_CANCEL, 3, args, &r, err)) < 0)
			break;
		if (!strcmp(queue_str(r), "queued") || !strcmp(queue_str(r), "running"))
			(*n)++;
		else if (!sub)
			rc = *queue_str(r) ? pl_errorf(err, PL_EUSAGE, "job %s is %s already", id, queue_str(r)) :
			     pl_errorf(err, PL_EUSAGE, "no job '%s'", id);
		freeReplyObject(r);
	}
	json_decref(ids);
	return rc;
}

/* Deletes key; adds to *n when it went. */
static int del_key(fleet_conn *f, const char *key, long *n, pl_err *err)
{
	redisReply *r;
	int rc = queue_cmdl(&f->q, &r, err, "DEL", key, QEND);

	if (rc == 0) {
		*n += r->integer;
		freeReplyObject(r);
	}
	return rc;
}

static int flush_all(fleet_conn *f, long *n, pl_err *err)
{
	char match[192], cursor[32] = "0";
	int rc = 0;

	snprintf(match, sizeof(match), "%s:*", f->q.prefix);
	do {
		redisReply *r;
		if ((rc = queue_cmdl(&f->q, &r, err, "SCAN", cursor, "MATCH", match, "COUNT", "1000", QEND)) < 0)
			break;
		snprintf(cursor, sizeof(cursor), "%s", queue_str(r->element[0]));
		for (size_t i = 0; rc == 0 && i < r->element[1]->elements; i++)
			rc = del_key(f, queue_str(r->element[1]->element[i]), n, err);
		freeReplyObject(r);
	} while (rc == 0 && strcmp(cursor, "0"));
	return rc;
}

/* Removes finished jobs: their records, their place in the sets. */
static int flush_finished(fleet_conn *f, long *n, pl_err *err)
{
	json_t *subs = NULL, *s;
	size_t i;
	int rc = members(f, "subs", &subs, err);

	json_array_foreach(subs, i, s) {
		const char *sub = json_string_value(s);
		json_t *ids = NULL, *id;
		size_t j;
		long left = 0;
		if (rc < 0 || (rc = fleet_sub_jobs(f, sub, &ids, err)) < 0)
			break;
		json_array_foreach(ids, j, id) {
			char *st = fleet_hget(f, json_string_value(id), "status", err);
			char key[256];
			redisReply *r;
			if (!st) {
				rc = -err->code;
				break;
			}
			if (!strcmp(st, "queued") || !strcmp(st, "running")) {
				left++;
			} else {
				snprintf(key, sizeof(key), "%s:job:%s", f->q.prefix, json_string_value(id));
				rc = del_key(f, key, n, err);
				queue_key(&f->q, key, sizeof(key), "jobs");
				if (rc == 0 && (rc = queue_cmdl(&f->q, &r, err, "SREM", key,
								json_string_value(id), QEND)) == 0)
					freeReplyObject(r);
			}
			free(st);
		}
		json_decref(ids);
		if (rc == 0 && left == 0) {
			char key[256];
			redisReply *r;
			snprintf(key, sizeof(key), "%s:sub:%s", f->q.prefix, sub);
			rc = del_key(f, key, n, err);
			snprintf(key, sizeof(key), "%s:subjobs:%s", f->q.prefix, sub);
			if (rc == 0)
				rc = del_key(f, key, n, err);
			queue_key(&f->q, key, sizeof(key), "subs");
			if (rc == 0 && (rc = queue_cmdl(&f->q, &r, err, "SREM", key, sub, QEND)) == 0)
				freeReplyObject(r);
		}
	}
	json_decref(subs);
	if (rc == 0) {
		char key[256];
		queue_key(&f->q, key, sizeof(key), "dead");
		rc = del_key(f, key, n, err);
	}
	return rc;
}

int fleet_flush(fleet_conn *f, int all, long *n, pl_err *err)
{
	*n = 0;
	return all ? flush_all(f, n, err) : flush_finished(f, n, err);
}
