/* Options shared by the workspace commands (run, stage, status, clean, gc). */
#ifndef PL_OPTS_H
#define PL_OPTS_H

#include <signal.h>

#include "../io/cfg.h"
#include "../io/log.h"

typedef struct ws_opts {
	const char *ws;             /* --workspace or PIPELINE_WORKSPACE */
	const char *config;         /* --config or PIPELINE_CONFIG or ./pipeline.ini */
	char *sets[64];             /* --set assignments */
	int n_sets;
	const char *from, *until, *force, *shard;
	int dry_run, json, downloads;
	const char *log_format;     /* NULL = default */
	int verbosity;
	char **args;                /* positional arguments */
	int n_args;
} ws_opts;

/* What a command accepts beyond --workspace, logging and --help. */
enum { OPT_RANGE = 1, OPT_FORCE = 2, OPT_DRY = 4, OPT_JSON = 8, OPT_SHARD = 16,
       OPT_FORCE_FLAG = 32, OPT_DOWNLOADS = 64, OPT_CONFIG = 128 /* --config, --set */ };

/* Parses argv for the command cmd into o. Returns an exit code, and sets
 * *done when the command ends here with it: 0 after --help was printed,
 * 2 after a usage error was printed. Otherwise returns 0 with *done = 0:
 * the command goes on. */
int opts_parse(const char *cmd, int argc, char **argv, int accepted, ws_opts *o, int *done);

/* Sets up logging (json_default: JSON when stderr is not a terminal) and,
 * when c is not NULL, loads the configuration into *c. Returns 0, or
 * prints the error and returns its exit code. */
int opts_setup(const char *cmd, ws_opts *o, int json_default, cfg **c);

/* Installs SIGINT/SIGTERM handlers that set the returned flag. */
volatile sig_atomic_t *opts_catch_stop_signals(void);

#endif
