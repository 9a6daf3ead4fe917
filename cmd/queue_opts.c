/* Options and set-up shared by worker, submit and jobs. */
#include "queue_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../io/fs.h"
#include "../io/log.h"
#include "../stages/schema.h"
#include "cmd.h"

int queue_opts_take(const char *cmd, int code, const char *arg, queue_opts *o)
{
	switch (code) {
	case 'Q': o->url = arg; return 1;
	case 'c': o->config = arg; return 1;
	case 's':
		if (o->n_sets == (int)(sizeof(o->sets) / sizeof(o->sets[0])))
			return cmd_usage_error(cmd, "too many --set options");
		o->sets[o->n_sets++] = (char *)arg;
		return 1;
	case 'J': o->json = 1; return 1;
	case 'L':
		if (strcmp(arg, "json") && strcmp(arg, "human"))
			return cmd_usage_error(cmd, "--log-format must be human or json, not '%s'", arg);
		o->log_format = arg;
		return 1;
	case 'q': o->verbosity = -1; return 1;
	case 'v': o->verbosity = 1; return 1;
	default: return 0;
	}
}

int queue_opts_setup(const char *cmd, queue_opts *o, int json_default, cfg **c, fleet_url *u,
		     fleet_limits *l)
{
	const char *fmt = o->log_format ? o->log_format : getenv("PIPELINE_LOG_FORMAT");
	log_format lf = json_default && !isatty(2) ? LOG_JSON : LOG_HUMAN;
	pl_err err = { 0 };

	if (fmt && *fmt)
		lf = strcmp(fmt, "json") ? LOG_HUMAN : LOG_JSON;
	log_setup(lf, o->verbosity);
	if (!o->config && !(getenv("PIPELINE_CONFIG") && *getenv("PIPELINE_CONFIG")) &&
	    fs_exists("pipeline.ini"))
		o->config = "pipeline.ini";
	if (schema_load(o->config, o->sets, o->n_sets, c, &err) < 0)
		return cmd_fail(&err);
	fleet_limits_from_cfg(*c, l);
	if (fleet_url_pick(o->url, *c, u, &err) < 0) {
		cfg_free(*c);
		*c = NULL;
		return cmd_usage_error(cmd, "%s", err.msg);
	}
	return 0;
}

int queue_opts_connect(const char *cmd, queue_opts *o, fleet_conn **f, fleet_limits *l)
{
	pl_err err = { 0 };
	fleet_url u;
	cfg *c = NULL;
	int rc = queue_opts_setup(cmd, o, 0, &c, &u, l);

	cfg_free(c);
	if (rc)
		return rc;
	if (fleet_connect(&u, l, f, &err) < 0)
		return cmd_fail(&err);
	return 0;
}
