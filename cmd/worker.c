/* pipeline worker: take stage and predict jobs from the Redis queue. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "opts.h"
#include "queue_opts.h"

enum { O_NAME = 256, O_MAX_JOBS, O_IDLE_EXIT };

/* Reads a non-negative number for option name; -1 after a usage error. */
static double number(const char *name, const char *text)
{
	char *end;
	double v = strtod(text, &end);

	if (end == text || *end || v < 0) {
		cmd_usage_error("worker", "%s wants a number of 0 or more, not '%s'", name, text);
		return -1;
	}
	return v;
}

static int parse(int argc, char **argv, queue_opts *q, fleet_worker_opts *w)
{
	static const struct option opts[] = {
		{ "queue", required_argument, NULL, 'Q' }, { "name", required_argument, NULL, O_NAME },
		{ "max-jobs", required_argument, NULL, O_MAX_JOBS },
		{ "idle-exit", required_argument, NULL, O_IDLE_EXIT },
		{ "config", required_argument, NULL, 'c' }, { "set", required_argument, NULL, 's' },
		{ "log-format", required_argument, NULL, 'L' }, { "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 }
	};
	double v;
	int code, rc;

	optind = 1;
	opterr = 0;
	while ((code = getopt_long(argc, argv, ":Q:c:s:qvh", opts, NULL)) != -1) {
		if (code == 'h')
			return cmd_print_help("worker") == 0 ? -1 : EXIT_USAGE;
		if (code == '?' || code == ':')
			return cmd_getopt_error("worker", code, argc, argv, opts);
		if ((rc = queue_opts_take("worker", code, optarg, q)) == EXIT_USAGE)
			return rc;
		if (rc)
			continue;
		if (code == O_NAME)
			w->name = optarg;
		else if ((v = number(code == O_MAX_JOBS ? "--max-jobs" : "--idle-exit", optarg)) < 0)
			return EXIT_USAGE;
		else if (code == O_MAX_JOBS)
			w->max_jobs = (long)v;
		else
			w->idle_exit_s = v;
	}
	if (optind < argc)
		return cmd_usage_error("worker", "unexpected argument '%s'", argv[optind]);
	return 0;
}

int cmd_worker(int argc, char **argv)
{
	fleet_worker_opts w = { 0 };
	queue_opts q = { 0 };
	pl_err err = { 0 };
	cfg *c = NULL;
	int rc = parse(argc, argv, &q, &w);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if ((rc = queue_opts_setup("worker", &q, 1, &c, &w.url, &w.limits)) != 0)
		return rc;
	cfg_free(c);
	/* a job runs with the configuration its submitter gave, not the worker's */
	unsetenv("PIPELINE_SET");
	unsetenv("PIPELINE_CONFIG");
	w.stop = opts_catch_stop_signals();
	return fleet_worker_run(&w, &err) < 0 ? cmd_fail(&err) : EXIT_OK;
}
