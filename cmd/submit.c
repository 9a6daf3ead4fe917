/* pipeline submit: put a run's stage graph, or predict jobs, on the queue. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/log.h"
#include "cmd.h"
#include "opts.h"
#include "queue_opts.h"

enum { O_SHARDS = 256, O_WAIT, O_OUT, O_BATCH };

typedef struct submit_opts {
	queue_opts q;
	const char *kind;           /* "run" or "predict" */
	const char *ws, *package, *out;
	int shards, batch, wait;
	char **args;
	int n_args;
} submit_opts;

static const struct option opts[] = {
	{ "queue", required_argument, NULL, 'Q' }, { "json", no_argument, NULL, 'J' },
	{ "workspace", required_argument, NULL, 'w' }, { "config", required_argument, NULL, 'c' },
	{ "set", required_argument, NULL, 's' }, { "shards", required_argument, NULL, O_SHARDS },
	{ "wait", no_argument, NULL, O_WAIT }, { "package", required_argument, NULL, 'p' },
	{ "out", required_argument, NULL, O_OUT }, { "batch", required_argument, NULL, O_BATCH },
	{ "log-format", required_argument, NULL, 'L' }, { "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
	{ 0, 0, 0, 0 }
};

static int count(const char *name, const char *text, int max, int *out)
{
	char *end;
	long v = strtol(text, &end, 10);

	if (end == text || *end || v < 1 || v > max)
		return cmd_usage_error("submit", "%s wants a whole number from 1 to %d, not '%s'", name,
				       max, text);
	*out = (int)v;
	return 0;
}

/* One option of the subcommand o->kind (NULL before it); word is the
 * option as typed. */
static int take(int code, const char *word, submit_opts *o)
{
	int rc = queue_opts_take("submit", code, optarg, &o->q);
	int run_only = code == 'w' || code == O_SHARDS;

	if (rc)
		return rc == EXIT_USAGE ? rc : 0;
	if (code == O_WAIT) {
		o->wait = 1;
		return 0;
	}
	if (!o->kind || (strcmp(o->kind, "run") == 0) != run_only)
		return cmd_usage_error("submit", "option '%s' does not apply to %s", word,
				       o->kind ? o->kind : "submit before 'run' or 'predict'");
	switch (code) {
	case 'w': o->ws = optarg; return 0;
	case O_SHARDS: return count("--shards", optarg, 10000, &o->shards);
	case 'p': o->package = optarg; return 0;
	case O_OUT: o->out = optarg; return 0;
	case O_BATCH: return count("--batch", optarg, 4096, &o->batch);
	default: return cmd_usage_error("submit", "unknown option '%s'", word);
	}
}

/* Options before the subcommand, the subcommand, then its own. */
static int parse(int argc, char **argv, submit_opts *o)
{
	int code, rc, pass;

	optind = 1;
	opterr = 0;
	for (pass = 0; pass < 2; pass++) {
		while ((code = getopt_long(argc, argv, pass ? ":Q:w:c:s:p:qvh" : "+:Q:w:c:s:p:qvh", opts,
					   NULL)) != -1) {
			if (code == 'h')
				return cmd_print_help("submit") == 0 ? -1 : EXIT_USAGE;
			if (code == '?' || code == ':')
				return cmd_getopt_error("submit", code, argc, argv, opts);
			if ((rc = take(code, argv[optind - 1], o)) != 0)
				return rc;
		}
		if (pass == 0) {
			if (optind >= argc || (strcmp(argv[optind], "run") && strcmp(argv[optind], "predict")))
				return cmd_usage_error("submit", "give 'run' or 'predict'%s%s",
						       optind < argc ? ", not " : "", optind < argc ? argv[optind] : "");
			o->kind = argv[optind];
			argc -= optind;
			argv += optind;
			optind = 0;   /* a fresh scan (GNU getopt), this time permuting */
		}
	}
	o->args = argv + optind;
	o->n_args = argc - optind;
	return 0;
}

/* The submission's jobs, one line each (or the JSON). */
static void print_submission(const json_t *res, int json)
{
	const json_t *jobs = json_object_get(res, "jobs"), *j;
	size_t i, fresh = 0;

	if (json) {
		char *text = json_dumps(res, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (text)
			puts(text);
		free(text);
		return;
	}
	json_array_foreach(jobs, i, j)
		fresh += json_is_true(json_object_get(j, "new"));
	printf("submission %s: %zu jobs, %zu new, %zu already known\n",
	       json_string_value(json_object_get(res, "submission")), json_array_size(jobs), fresh,
	       json_array_size(jobs) - fresh);
	for (i = 0; (j = json_array_get(jobs, i)); i++)
		printf("  %s  %d %-12s %-9s %s\n", json_string_value(json_object_get(j, "id")),
		       (int)json_integer_value(json_object_get(j, "layer")),
		       json_string_value(json_object_get(j, "name")),
		       json_string_value(json_object_get(j, "status")),
		       json_string_value(json_object_get(j, "label")));
}

static int submit(fleet_conn *f, submit_opts *o, json_t **res, pl_err *err)
{
	if (!strcmp(o->kind, "run")) {
		fleet_run_req req = { o->ws, o->q.config, o->q.sets, o->q.n_sets, o->shards };
		return fleet_submit_run(f, &req, res, err);
	}
	fleet_predict_req req = { o->package, o->out, o->args, o->n_args, o->batch };
	return fleet_submit_predict(f, &req, res, err);
}

/* Checks what the subcommand needs. */
static int check(submit_opts *o)
{
	if (!strcmp(o->kind, "run")) {
		if (!o->ws && getenv("PIPELINE_WORKSPACE") && *getenv("PIPELINE_WORKSPACE"))
			o->ws = getenv("PIPELINE_WORKSPACE");
		if (!o->ws)
			return cmd_usage_error("submit", "submit run: give --workspace DIR");
		if (o->n_args)
			return cmd_usage_error("submit", "unexpected argument '%s'", o->args[0]);
		return 0;
	}
	if (!o->package && !(o->package = getenv("PIPELINE_PACKAGE")))
		return cmd_usage_error("submit", "submit predict: give --package FILE");
	if (!o->n_args)
		return cmd_usage_error("submit", "submit predict: give the images (paths, "
				       "directories or http(s) URLs)");
	return 0;
}

int cmd_submit(int argc, char **argv)
{
	submit_opts o = { 0 };
	fleet_limits l;
	fleet_conn *f = NULL;
	pl_err err = { 0 };
	json_t *res = NULL;
	int rc = parse(argc, argv, &o), code = 0;

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if ((rc = check(&o)) != 0 || (rc = queue_opts_connect("submit", &o.q, &f, &l)) != 0)
		return rc;
	if (submit(f, &o, &res, &err) < 0) {
		fleet_disconnect(f);
		return cmd_fail(&err);
	}
	print_submission(res, o.q.json);
	fflush(stdout);
	if (o.wait && fleet_wait(f, json_string_value(json_object_get(res, "submission")),
				 opts_catch_stop_signals(), &code, &err) < 0)
		code = err.code;
	json_decref(res);
	fleet_disconnect(f);
	if (code)
		return cmd_fail(&err);
	if (ferror(stdout))
		return cmd_fail(&(pl_err){ PL_EIO, "cannot write the job ids" });
	return EXIT_OK;
}
