/* The [queue] settings and the connection submit and jobs use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_priv.h"

void fleet_limits_from_cfg(const cfg *c, fleet_limits *l)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->prefix, sizeof(l->prefix), "%s", cfg_str(c, "queue", "prefix"));
	l->lease_s = (double)cfg_int(c, "queue", "lease_seconds");
	l->max_deliveries = (int)cfg_int(c, "queue", "max_deliveries");
	l->result_ttl_s = cfg_int(c, "queue", "result_ttl");
	l->retry_s = cfg_float(c, "queue", "retry_backoff_seconds");
	l->retry_max_s = (double)cfg_int(c, "queue", "retry_backoff_max_seconds");
	l->grace_s = (double)cfg_int(c, "queue", "grace_seconds");
	l->reconnect_max_s = (double)cfg_int(c, "queue", "reconnect_max_seconds");
}

int fleet_url_pick(const char *text, const cfg *c, fleet_url *u, pl_err *err)
{
	const char *env = getenv("PIPELINE_QUEUE");

	if (!text || !*text)
		text = env && *env ? env : cfg_str(c, "queue", "url");
	if (!*text)
		return pl_errorf(err, PL_EUSAGE, "no queue: give --queue redis://HOST[:PORT][/DB], "
				 "set PIPELINE_QUEUE or [queue] url");
	return fleet_url_parse(text, u, err);
}

int fleet_connect(const fleet_url *u, const fleet_limits *l, fleet_conn **out, pl_err *err)
{
	fleet_conn *f = calloc(1, sizeof(*f));
	int rc;

	*out = NULL;
	if (!f)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	f->limits = *l;
	if ((rc = queue_open(&f->q, u, l, 0, NULL, err)) < 0) {
		fleet_disconnect(f);
		return rc;
	}
	*out = f;
	return 0;
}

void fleet_disconnect(fleet_conn *f)
{
	if (!f)
		return;
	queue_close(&f->q);
	free(f);
}

char *fleet_hget(fleet_conn *f, const char *id, const char *field, pl_err *err)
{
	char key[256];
	redisReply *r;
	char *s;

	snprintf(key, sizeof(key), "%s:job:%s", f->q.prefix, id);
	if (queue_cmdl(&f->q, &r, err, "HGET", key, field, QEND) < 0)
		return NULL;
	s = strdup(queue_str(r));
	freeReplyObject(r);
	return s;
}
