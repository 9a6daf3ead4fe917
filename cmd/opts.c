/* Option parsing and set-up shared by run, stage, status, clean and gc. */
#include "opts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../io/fs.h"
#include "../stages/schema.h"
#include "cmd.h"

enum { O_FROM = 256, O_UNTIL, O_FORCE, O_SHARD, O_LOG, O_JSON, O_DOWNLOADS };

static const struct option all_opts[] = {
	{ "workspace", required_argument, NULL, 'w' },
	{ "config", required_argument, NULL, 'c' },
	{ "set", required_argument, NULL, 's' },
	{ "from", required_argument, NULL, O_FROM },
	{ "until", required_argument, NULL, O_UNTIL },
	{ "force", optional_argument, NULL, O_FORCE },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "shard", required_argument, NULL, O_SHARD },
	{ "log-format", required_argument, NULL, O_LOG },
	{ "json", no_argument, NULL, O_JSON },
	{ "downloads", no_argument, NULL, O_DOWNLOADS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ 0, 0, 0, 0 }
};

/* Returns 1 when option code is one the command accepts. */
static int accepts(int code, int accepted)
{
	switch (code) {
	case O_FROM: case O_UNTIL: return accepted & OPT_RANGE;
	case O_FORCE: return accepted & (OPT_FORCE | OPT_FORCE_FLAG);
	case 'n': return accepted & OPT_DRY;
	case 'c': case 's': return accepted & OPT_CONFIG;
	case O_SHARD: return accepted & OPT_SHARD;
	case O_JSON: return accepted & OPT_JSON;
	case O_DOWNLOADS: return accepted & OPT_DOWNLOADS;
	default: return 1;
	}
}

static int set_option(const char *cmd, int code, ws_opts *o)
{
	switch (code) {
	case 'w': o->ws = optarg; break;
	case 'c': o->config = optarg; break;
	case 's':
		if (o->n_sets == (int)(sizeof(o->sets) / sizeof(o->sets[0])))
			return cmd_usage_error(cmd, "too many --set options");
		o->sets[o->n_sets++] = optarg;
		break;
	case O_FROM: o->from = optarg; break;
	case O_UNTIL: o->until = optarg; break;
	case O_FORCE:
		o->force = optarg ? optarg : "all";
		break;
	case 'n': o->dry_run = 1; break;
	case O_SHARD: o->shard = optarg; break;
	case O_LOG: o->log_format = optarg; break;
	case O_JSON: o->json = 1; break;
	case O_DOWNLOADS: o->downloads = 1; break;
	case 'q': o->verbosity = -1; break;
	case 'v': o->verbosity = 1; break;
	default: return cmd_usage_error(cmd, "unknown option");
	}
	return 0;
}

/* The options of all_opts that a command accepts, into opts (room for
 * all of them), for "did you mean". */
static void accepted_opts(int accepted, struct option *opts)
{
	int n = 0;

	for (int i = 0; all_opts[i].name; i++)
		if (accepts(all_opts[i].val, accepted))
			opts[n++] = all_opts[i];
	memset(&opts[n], 0, sizeof(opts[n]));
}

/* The usage error for option val, which the command does not take; named
 * "--name" when it was given long. */
static int not_here(const char *cmd, int val, int given_long)
{
	for (int i = 0; given_long && all_opts[i].name; i++)
		if (all_opts[i].val == val)
			return cmd_usage_error(cmd, "option '--%s' does not apply here", all_opts[i].name);
	return cmd_usage_error(cmd, "option '-%c' does not apply here", val);
}

/* Parses the options; returns 0, or the exit code with *done set. */
static int parse_options(const char *cmd, int argc, char **argv, int accepted, ws_opts *o,
			 int *done)
{
	struct option mine[sizeof(all_opts) / sizeof(all_opts[0])];
	int code, rc, index = -1;

	*done = 1;
	optind = 1;
	opterr = 0;
	while ((code = getopt_long(argc, argv, ":w:c:s:nqvh", all_opts, &index)) != -1) {
		if (code == 'h')
			return cmd_print_help(cmd);
		if (code == ':' && !accepts(optopt, accepted))   /* no value, and not taken anyway */
			return not_here(cmd, optopt, !strncmp(argv[optind - 1], "--", 2));
		if (code == '?' || code == ':') {
			accepted_opts(accepted, mine);
			return cmd_getopt_error(cmd, code, argc, argv, mine);
		}
		if (!accepts(code, accepted))
			return not_here(cmd, code, index >= 0);
		/* run's --force takes a stage as the next word; stage's --force takes none */
		if (code == O_FORCE && !optarg && (accepted & OPT_FORCE)) {
			if (optind >= argc || argv[optind][0] == '-')
				return cmd_usage_error(cmd, "--force needs a stage name or 'all'");
			optarg = argv[optind++];
		}
		if ((rc = set_option(cmd, code, o)) != 0)
			return rc;
		index = -1;
	}
	*done = 0;
	return 0;
}

int opts_parse(const char *cmd, int argc, char **argv, int accepted, ws_opts *o, int *done)
{
	int rc;

	memset(o, 0, sizeof(*o));
	if ((rc = parse_options(cmd, argc, argv, accepted, o, done)) != 0 || *done)
		return rc;
	*done = 1;
	o->args = argv + optind;
	o->n_args = argc - optind;
	if (!o->ws && getenv("PIPELINE_WORKSPACE") && *getenv("PIPELINE_WORKSPACE"))
		o->ws = getenv("PIPELINE_WORKSPACE");
	if (!o->ws)
		return cmd_usage_error(cmd, "no workspace: give --workspace DIR or set PIPELINE_WORKSPACE");
	if (fs_exists(o->ws) && !fs_is_dir(o->ws))
		return cmd_usage_error(cmd, "workspace '%s' is not a directory", o->ws);
	*done = 0;
	return 0;
}

int opts_setup(const char *cmd, ws_opts *o, int json_default, cfg **c)
{
	const char *fmt = o->log_format ? o->log_format : getenv("PIPELINE_LOG_FORMAT");
	log_format lf = json_default && !isatty(2) ? LOG_JSON : LOG_HUMAN;
	pl_err err = { 0 };

	if (fmt && *fmt) {
		if (strcmp(fmt, "json") && strcmp(fmt, "human"))
			return cmd_usage_error(cmd, "--log-format must be human or json, not '%s'", fmt);
		lf = strcmp(fmt, "json") ? LOG_HUMAN : LOG_JSON;
	}
	log_setup(lf, o->verbosity);
	if (!c)
		return 0;
	if (!o->config && !(getenv("PIPELINE_CONFIG") && *getenv("PIPELINE_CONFIG"))) {
		if (fs_exists("pipeline.ini"))
			o->config = "pipeline.ini";
		else
			log_warn("no configuration file: there is no ./pipeline.ini and neither "
				 "--config nor PIPELINE_CONFIG is given; using the defaults");
	}
	if (schema_load(o->config, o->sets, o->n_sets, c, &err) < 0)
		return cmd_fail(&err);
	return 0;
}

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	stop_flag = sig;
}

volatile sig_atomic_t *opts_catch_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return &stop_flag;
}
