/* pipeline jobs: the queue's progress, its records, and steering it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../io/sys.h"
#include "cmd.h"
#include "queue_opts.h"

enum { O_STATE = 256, O_FAILED, O_DEAD, O_SUB, O_ALL, O_YES };

typedef struct jobs_opts {
	queue_opts q;
	const char *state, *sub;
	int failed, dead, all, yes;
	char **args;
	int n_args;
} jobs_opts;

static int parse(int argc, char **argv, jobs_opts *o)
{
	static const struct option opts[] = {
		{ "queue", required_argument, NULL, 'Q' }, { "json", no_argument, NULL, 'J' },
		{ "config", required_argument, NULL, 'c' }, { "set", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, O_STATE }, { "failed", no_argument, NULL, O_FAILED },
		{ "dead", no_argument, NULL, O_DEAD }, { "submission", required_argument, NULL, O_SUB },
		{ "all", no_argument, NULL, O_ALL }, { "yes", no_argument, NULL, O_YES },
		{ "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 }
	};
	int code, rc;

	optind = 1;
	opterr = 0;
	while ((code = getopt_long(argc, argv, ":Q:c:s:h", opts, NULL)) != -1) {
		if (code == 'h')
			return cmd_print_help("jobs") == 0 ? -1 : EXIT_USAGE;
		if (code == '?' || code == ':')
			return cmd_getopt_error("jobs", code, argc, argv, opts);
		if ((rc = queue_opts_take("jobs", code, optarg, &o->q)) == EXIT_USAGE)
			return rc;
		if (rc)
			continue;
		switch (code) {
		case O_STATE: o->state = optarg; break;
		case O_FAILED: o->failed = 1; break;
		case O_DEAD: o->dead = 1; break;
		case O_SUB: o->sub = optarg; break;
		case O_ALL: o->all = 1; break;
		default: o->yes = 1; break;
		}
	}
	o->args = argv + optind;
	o->n_args = argc - optind;
	if (!o->n_args)
		return cmd_usage_error("jobs", "give status, list, show, requeue, cancel or flush");
	if (o->state && !strstr(" queued running done failed dead cancelled ", o->state))
		return cmd_usage_error("jobs", "--state must be queued, running, done, failed, dead or "
				       "cancelled, not '%s'", o->state);
	return 0;
}

static void print_json(const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (text)
		puts(text);
	free(text);
}

static void print_layers(const json_t *sub)
{
	static const char *const others[] = { "queued", "running", "failed", "dead", "cancelled", NULL };
	const json_t *l;
	size_t i;

	json_array_foreach(json_object_get(sub, "layers"), i, l) {
		printf("  %d %-13s %lld / %lld done", (int)json_integer_value(json_object_get(l, "layer")),
		       json_string_value(json_object_get(l, "name")),
		       json_integer_value(json_object_get(l, "done")),
		       json_integer_value(json_object_get(l, "total")));
		for (int s = 0; others[s]; s++)
			if (json_integer_value(json_object_get(l, others[s])))
				printf(", %lld %s", json_integer_value(json_object_get(l, others[s])), others[s]);
		printf("\n");
	}
}

static void print_status(const json_t *st)
{
	const json_t *s, *w;
	size_t i;

	json_array_foreach(json_object_get(st, "submissions"), i, s) {
		time_t t = (time_t)json_number_value(json_object_get(s, "created"));
		char when[32];
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
		printf("submission %s  %s  (submitted %s)\n", json_string_value(json_object_get(s, "id")),
		       json_string_value(json_object_get(s, "what")), when);
		print_layers(s);
	}
	if (!json_array_size(json_object_get(st, "submissions")))
		printf("no submissions\n");
	printf("workers: %zu alive\n", json_array_size(json_object_get(st, "workers")));
	json_array_foreach(json_object_get(st, "workers"), i, w) {
		const char *job = json_string_value(json_object_get(w, "job"));
		printf("  %-24s %-8s %s%s  heartbeat %.1f s ago\n", json_string_value(json_object_get(w, "name")),
		       json_string_value(json_object_get(w, "state")), job && *job ? "job " : "",
		       job ? job : "", json_number_value(json_object_get(w, "heartbeat_age_s")));
	}
}

static void print_list(const json_t *list)
{
	const json_t *j;
	size_t i;

	json_array_foreach(list, i, j) {
		const char *reason = json_string_value(json_object_get(j, "reason"));
		printf("%s  %s  %d %-12s %-9s %-28s %s\n", json_string_value(json_object_get(j, "id")),
		       json_string_value(json_object_get(j, "submission")),
		       (int)json_integer_value(json_object_get(j, "layer")),
		       json_string_value(json_object_get(j, "layer_name")),
		       json_string_value(json_object_get(j, "status")),
		       json_string_value(json_object_get(j, "label")), reason ? reason : "");
	}
}

/* The record, one field a line, in a fixed order; times as UTC. */
static void print_record(const json_t *rec)
{
	static const char *const order[] = {
		"id", "status", "kind", "label", "submission", "layer", "layer_name", "worker",
		"attempts", "deliveries", "created", "started", "heartbeat", "finished", "elapsed",
		"progress", "metrics", "output", "reason", "code", "deps", "next", "spec", "sid",
		"retry_at", "result", NULL
	};

	for (int i = 0; order[i]; i++) {
		const char *key = order[i];
		json_t *v = json_object_get(rec, key);
		char when[SYS_TIME_MAX] = "";
		if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
			continue;
		if (json_is_real(v) && strcmp(key, "elapsed") && strcmp(key, "retry_at"))
			sys_iso_time((int64_t)json_real_value(v), when, sizeof(when));
		char *text = *when || json_is_string(v) ? NULL :
			     json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
		const char *s = *when ? when : text ? text : json_string_value(v);
		if (!strcmp(key, "result"))
			printf("%s:\n%s", key, s);
		else
			printf("%-11s %s\n", key, s);
		free(text);
	}
}

/* Asks on the terminal; anything but y or yes is no. */
static int confirm(const char *what)
{
	char line[16] = "";

	if (!isatty(0))
		return 0;
	fprintf(stderr, "%s? [y/N] ", what);
	return fgets(line, sizeof(line), stdin) && (!strcmp(line, "y\n") || !strcmp(line, "yes\n"));
}

/* The subcommands that change things; prints what they did. */
static int steer(fleet_conn *f, jobs_opts *o, const char *verb, const char *id, pl_err *err)
{
	long removed = 0;
	int n = 0, rc;

	if (!strcmp(verb, "requeue"))
		rc = fleet_requeue(f, id, o->failed ? "failed" : "dead", &n, err);
	else if (!strcmp(verb, "cancel"))
		rc = fleet_cancel(f, id, o->sub, &n, err);
	else if (!o->yes && !confirm(o->all ? "remove every key of the queue" :
				      "remove the records of finished jobs"))
		return pl_errorf(err, PL_EUSAGE, "flush: not confirmed (give --yes to flush without asking)");
	else
		rc = fleet_flush(f, o->all, &removed, err);
	if (rc < 0)
		return rc;
	if (o->q.json)
		printf("{\"%s\":%ld}\n", !strcmp(verb, "flush") ? "removed_keys" : verb,
		       !strcmp(verb, "flush") ? removed : n);
	else if (!strcmp(verb, "flush"))
		printf("removed %ld keys\n", removed);
	else
		printf("%s %d job%s\n", !strcmp(verb, "requeue") ? "requeued" : "cancelled", n, n == 1 ? "" : "s");
	return 0;
}

/* The arguments verb needs: a job id, or the flag that stands for one. */
static int needs_id(jobs_opts *o, const char *verb)
{
	int flag = !strcmp(verb, "requeue") ? (o->failed || o->dead) : !strcmp(verb, "cancel") ? !!o->sub : 0;

	if (!strcmp(verb, "flush"))
		return o->n_args == 1 ? 0 : cmd_usage_error("jobs", "flush takes no job id");
	if ((o->n_args == 2 && !flag) || (o->n_args == 1 && flag))
		return 0;
	return cmd_usage_error("jobs", "%s: give one job id%s", verb, !strcmp(verb, "requeue") ?
			       " or --failed or --dead" : !strcmp(verb, "cancel") ? " or --submission S" : "");
}

int cmd_jobs(int argc, char **argv)
{
	jobs_opts o = { 0 };
	fleet_limits l;
	fleet_conn *f = NULL;
	pl_err err = { 0 };
	json_t *v = NULL;
	const char *verb;
	int rc = parse(argc, argv, &o);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	verb = o.args[0];
	if (strcmp(verb, "status") && strcmp(verb, "list") && strcmp(verb, "show") &&
	    strcmp(verb, "requeue") && strcmp(verb, "cancel") && strcmp(verb, "flush"))
		return cmd_usage_error("jobs", "unknown subcommand '%s' (status, list, show, requeue, "
				       "cancel, flush)", verb);
	if ((strcmp(verb, "status") && strcmp(verb, "list") && (rc = needs_id(&o, verb)) != 0) ||
	    (rc = queue_opts_connect("jobs", &o.q, &f, &l)) != 0)
		return rc;
	if (!strcmp(verb, "status"))
		rc = fleet_status(f, &v, &err);
	else if (!strcmp(verb, "list"))
		rc = fleet_list(f, o.state, o.sub, &v, &err);
	else if (!strcmp(verb, "show"))
		rc = fleet_show(f, o.args[1], &v, &err);
	else
		rc = steer(f, &o, verb, o.n_args > 1 ? o.args[1] : NULL, &err);
	if (rc == 0 && v && o.q.json)
		print_json(v);
	else if (rc == 0 && v && !strcmp(verb, "status"))
		print_status(v);
	else if (rc == 0 && v && !strcmp(verb, "list"))
		print_list(v);
	else if (rc == 0 && v)
		print_record(v);
	json_decref(v);
	fleet_disconnect(f);
	if (rc < 0)
		return cmd_fail(&err);
	return fflush(stdout) == 0 ? EXIT_OK : cmd_fail(&(pl_err){ PL_EIO, "cannot write the output" });
}
