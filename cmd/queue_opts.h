/* What worker, submit and jobs share: the queue's configuration and the
 * connection. */
#ifndef PL_QUEUE_OPTS_H
#define PL_QUEUE_OPTS_H

#include "../stages/fleet/fleet.h"

typedef struct queue_opts {
	const char *url;            /* --queue */
	const char *config;         /* --config */
	char *sets[64];             /* --set */
	int n_sets;
	int json;                   /* --json */
	const char *log_format;     /* --log-format */
	int verbosity;
} queue_opts;

/* Handles the options every queue command takes (code from getopt_long:
 * 'Q' --queue, 'c', 's', 'J' --json, 'L' --log-format, 'q', 'v'); returns
 * 1 when it was one of them, 0 when not, or 2 after a usage error. */
int queue_opts_take(const char *cmd, int code, const char *arg, queue_opts *o);

/* Sets up logging (json_default: JSON when stderr is not a terminal),
 * loads the configuration (--config, PIPELINE_CONFIG or ./pipeline.ini
 * when present) into *c, and picks the URL and limits. Returns 0 or the
 * exit code after printing the error. */
int queue_opts_setup(const char *cmd, queue_opts *o, int json_default, cfg **c, fleet_url *u,
		     fleet_limits *l);

/* queue_opts_setup, then connects; *c is freed. */
int queue_opts_connect(const char *cmd, queue_opts *o, fleet_conn **f, fleet_limits *l);

#endif
