/* pipeline serve: keep a package loaded and answer HTTP until SIGTERM. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../io/log.h"
#include "../io/sys.h"
#include "../stages/schema.h"
#include "../stages/serve/http.h"
#include "cmd.h"
#include "opts.h"

typedef struct serve_args {
	const char *package, *config, *log_format;
	char **sets;            /* --set and the options as [serve] assignments */
	int n_sets;
	int verbosity;
} serve_args;

/* The [serve] key each option sets. */
static const struct { int code; const char *key; } option_keys[] = {
	{ 'H', "host" }, { 'P', "port" }, { 't', "threads" }, { 'b', "max_batch" },
	{ 'd', "max_delay_ms" }, { 'm', "max_body_mb" }, { 'Q', "max_queue" }, { 'T', "timeout_s" },
};

/* Adds "serve.KEY=value" for option code; 0, or -1 when out of memory. */
static int add_option(serve_args *a, int code, const char *value)
{
	for (size_t i = 0; i < sizeof(option_keys) / sizeof(option_keys[0]); i++)
		if (option_keys[i].code == code) {
			size_t n = strlen(option_keys[i].key) + strlen(value) + 8;
			char *set = malloc(n);
			if (!set)
				return -1;
			snprintf(set, n, "serve.%s=%s", option_keys[i].key, value);
			a->sets[a->n_sets++] = set;
			return 0;
		}
	return -1;
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, serve_args *a)
{
	static const struct option opts[] = {
		{ "package", required_argument, NULL, 'p' }, { "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'P' }, { "threads", required_argument, NULL, 't' },
		{ "max-batch", required_argument, NULL, 'b' },
		{ "max-delay-ms", required_argument, NULL, 'd' },
		{ "max-body", required_argument, NULL, 'm' }, { "max-queue", required_argument, NULL, 'Q' },
		{ "timeout", required_argument, NULL, 'T' }, { "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' }, { "log-format", required_argument, NULL, 'L' },
		{ "quiet", no_argument, NULL, 'q' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 }
	};
	int code;

	optind = 1;
	opterr = 0;
	while ((code = getopt_long(argc, argv, ":p:c:s:qvh", opts, NULL)) != -1) {
		if (code == 'h')
			return cmd_print_help("serve");
		if (code == '?' || code == ':')
			return cmd_getopt_error("serve", code, argc, argv, opts);
		if (code == 'p')
			a->package = optarg;
		else if (code == 'c')
			a->config = optarg;
		else if (code == 's')
			a->sets[a->n_sets++] = strdup(optarg);
		else if (code == 'L')
			a->log_format = optarg;
		else if (code == 'q' || code == 'v')
			a->verbosity = code == 'q' ? -1 : 1;
		else if (add_option(a, code, optarg) < 0)
			return cmd_fail(&(pl_err){ PL_ENOMEM, "out of memory" });
	}
	if (optind < argc)
		return cmd_usage_error("serve", "unexpected argument '%s'", argv[optind]);
	if (!a->package && !(a->package = getenv("PIPELINE_PACKAGE")))
		return cmd_usage_error("serve", "give --package FILE (or set PIPELINE_PACKAGE)");
	if (a->log_format && strcmp(a->log_format, "human") && strcmp(a->log_format, "json"))
		return cmd_usage_error("serve", "--log-format must be human or json, not '%s'",
				       a->log_format);
	return -1;
}

static void options_from(const cfg *c, serve_opts *o)
{
	o->host = cfg_str(c, "serve", "host");
	o->port = (int)cfg_int(c, "serve", "port");
	o->max_batch = (int)cfg_int(c, "serve", "max_batch");
	o->max_delay_ms = (int)cfg_int(c, "serve", "max_delay_ms");
	o->max_body = (size_t)(cfg_float(c, "serve", "max_body_mb") * 1048576);
	o->max_queue = (int)cfg_int(c, "serve", "max_queue");
	o->timeout_s = (int)cfg_int(c, "serve", "timeout_s");
	o->max_connections = (int)cfg_int(c, "serve", "max_connections");
	o->max_pixels = cfg_int(c, "serve", "max_pixels");
}

static int serve_package(serve_args *a)
{
	pl_err err = { 0 };
	serve_pkg *pkg = NULL;
	serve_opts o;
	cfg *c = NULL;
	int rc;

	log_setup(a->log_format ? (strcmp(a->log_format, "json") ? LOG_HUMAN : LOG_JSON) :
		  isatty(STDERR_FILENO) ? LOG_HUMAN : LOG_JSON, a->verbosity);
	if ((rc = schema_load(a->config, a->sets, a->n_sets, &c, &err)) == 0) {
		options_from(c, &o);
		int threads = (int)cfg_int(c, "serve", "threads");
		rc = serve_open_threads(a->package, threads ? threads : sys_cpu_count(), &pkg, &err);
	}
	if (rc == 0) {
		volatile sig_atomic_t *stop = opts_catch_stop_signals();
		signal(SIGPIPE, SIG_IGN);
		rc = serve_http_run(pkg, &o, stop, NULL, NULL, &err);
	}
	serve_close(pkg);
	cfg_free(c);
	return rc < 0 ? cmd_fail(&err) : EXIT_OK;
}

int cmd_serve(int argc, char **argv)
{
	serve_args a = { .sets = calloc((size_t)argc + 1, sizeof(char *)) };
	int rc;

	if (!a.sets)
		return cmd_fail(&(pl_err){ PL_ENOMEM, "out of memory" });
	if ((rc = parse_args(argc, argv, &a)) < 0)
		rc = serve_package(&a);
	for (int i = 0; i < a.n_sets; i++)
		free(a.sets[i]);
	free(a.sets);
	return rc;
}
