/* The subcommands of `pipeline` and the helpers they share. Each cmd_NAME
 * gets argv with argv[0] = "NAME" and returns the process exit code. A
 * command need not check stdout: main flushes and checks it once, at exit. */
#ifndef PL_CMD_H
#define PL_CMD_H

#include "../io/err.h"

struct option;

/* Exit codes, as README.md's "Commands" section and `pipeline help run`
 * list them. */
enum {
	EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_GATE = 3,
	EXIT_TEMP = 75, EXIT_INTR = 130
};

int cmd_run(int argc, char **argv);
int cmd_stage(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_help(int argc, char **argv);

/* The help text of export (cmd/export.c). */
extern const char export_usage[];
/* The help texts of worker, submit and jobs (cmd/fleet_help.c). */
extern const char worker_usage[], submit_usage[], jobs_usage[];

/* Prints "pipeline: error: MSG" for err to stderr (a JSON line with
 * --log-format json) and returns the exit code that err's code maps to. */
int cmd_fail(const pl_err *err);

/* Prints "pipeline CMD: MSG" and "try 'pipeline help CMD'"; returns 2. */
int cmd_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The usage error for what getopt_long just returned as code ('?' an
 * unknown option, ':' one without its value), naming the option as typed:
 * "--name", or "-x" (also inside a group of short options). An unknown
 * long option gets a "did you mean" from longopts (the options the command
 * accepts, ending with a zeroed entry; may be NULL). Returns 2. */
int cmd_getopt_error(const char *cmd, int code, int argc, char **argv,
		     const struct option *longopts);

/* Prints the help text of the command named cmd to stdout; returns 0, or
 * 2 when there is no such command. */
int cmd_print_help(const char *cmd);

#endif
